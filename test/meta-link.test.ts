// Metadata links (src/common/meta-frames.ts) against a real metadata server process: the whole
// MetaApi conformance suite through MetaClient's links, then refused openings, malformed frames,
// and a server that dies mid-call.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MetaClient } from '../src/client/meta-client.js';
import type { ClusterConfig } from '../src/common/config.js';
import { LINK_FAILURE_ID, decodeAnswerHeader } from '../src/common/link-frames.js';
import { META_LINK_PATH, META_LINK_PROTOCOL, encodeMetaRequest } from '../src/common/meta-frames.js';
import type { BlockFault } from '../src/meta/api.js';
import { makeSecret, startMetaServer, tempDir, type Proc } from './helpers/procs.js';
import { metaConformance } from './meta-conformance.js';
import { OWNER } from './meta-conformance-helpers.js';
import { TestMetaClient } from './meta-http-client.js';
import { rawLinkExchange, upgradeRequest } from './helpers/raw-link.js';

const CONFIG: ClusterConfig = { replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 65536 };

interface Running {
  dir: string;
  secret: string;
  proc: Proc;
  http: TestMetaClient;
  linked: MetaClient;
}

async function start(): Promise<Running> {
  const dir = tempDir('qfs-metalink-');
  const [secretFile, secret] = makeSecret(dir);
  const proc = await startMetaServer({ dbPath: join(dir, 'meta', 'meta.db'), secretFile });
  const http = new TestMetaClient(proc.url, secret);
  await http.call('/v1/admin/format', { config: CONFIG });
  return { dir, secret, proc, http, linked: new MetaClient({ url: proc.url, secret, metaLinks: true }) };
}

async function stop(r: Running): Promise<void> {
  await r.linked.close();
  await r.http.close();
  await r.proc.kill();
  rmSync(r.dir, { recursive: true, force: true });
}

metaConformance('metadata link', async () => {
  const r = await start();
  return {
    api: r.linked.api,
    inspect: {
      listBlocks: () => r.http.call('/v1/admin/blocks', undefined, 'GET') as never,
      listFaults: (a: { limit: number }) => r.http.call(`/v1/admin/faults?limit=${a.limit}`, undefined, 'GET') as Promise<BlockFault[]>,
      checkIntegrity: () => r.http.integrity(),
    },
    cleanup: () => stop(r),
  };
});

describe('metadata link', () => {
  let r: Running;
  before(async () => { r = await start(); });
  after(async () => { if (r) await stop(r); });

  it('answers carry the change stamp the HTTP headers carry', async () => {
    const first = await r.linked.call('mkdir', { path: '/stamped', mode: 0o755, owner: OWNER });
    const second = await r.linked.call('create', { path: '/stamped/f', mode: 0o644, owner: OWNER, exclusive: true });
    assert.ok(first.seq >= 1 && second.seq === first.seq + 1, `seq ${first.seq} then ${second.seq}`);
    assert.equal(typeof first.epoch, 'string');
    assert.equal(second.exact, true, 'an uncontended change answers with the state at exactly its seq');
    const viaHttp = await r.http.call('/v1/meta/lookup', { path: '/stamped/f' });
    assert.deepEqual((await r.linked.call('lookup', { path: '/stamped/f' })).result, viaHttp);
  });

  it('refuses a wrong secret at the opening', async () => {
    const stranger = new MetaClient({ url: r.proc.url, secret: '0'.repeat(64), metaLinks: true });
    try {
      await assert.rejects(stranger.api.lookup({ path: '/' }), (e: Error & { code?: string }) => e.code === 'EIO' && /401/.test(e.message));
    } finally {
      await stranger.close();
    }
  });

  it('answers bad calls with errors and keeps the link', async () => {
    const calls: Array<[string, string]> = [['dropDatabase', '{}'], ['lookup', '{"path": 7}'], ['lookup', '{not json'], ['lookup', '{"path":"/"}']];
    const frames = Buffer.concat(calls.map(([m, a], i) => {
      const f = encodeMetaRequest(m, a);
      f.writeUInt32LE(i + 1, 4);
      return f;
    }));
    // Answers come as calls finish, not in order: matched by id.
    const got = parseAnswers(await rawExchange(r, frames, (b) => parseAnswers(b).length >= 4));
    const byId = new Map(got.map((a) => [a.id, a]));
    assert.equal(byId.size, 4);
    assert.match(byId.get(1)!.body, /EINVAL.*unknown method \\"dropDatabase/);
    assert.match(byId.get(2)!.body, /EINVAL.*path must be a string/);
    assert.match(byId.get(3)!.body, /not valid JSON/);
    for (const id of [1, 2, 3]) assert.equal(byId.get(id)!.status, 1);
    assert.equal(byId.get(4)!.status, 0, 'the link still serves a good call after three bad ones');
    assert.match(byId.get(4)!.body, /"result"/);
  });

  it('ends a link over a malformed frame, with the reason', async () => {
    const bad = encodeMetaRequest('lookup', '{}');
    bad.writeUInt16LE(0xffff, 8); // a name longer than the whole body
    const answers = parseAnswers(await rawExchange(r, bad));
    assert.equal(answers.length, 1);
    assert.equal(answers[0]!.id, LINK_FAILURE_ID);
    assert.match(answers[0]!.body, /malformed request/);
    assert.ok((await r.linked.api.lookup({ path: '/' })) !== null, 'other links go on');
  });

  it('falls back to HTTP against a server without links (older, or QUORUMFS_SERVE_LINKS=0)', async () => {
    const dir = tempDir('qfs-metalink-old-');
    const [secretFile, secret] = makeSecret(dir);
    process.env.QUORUMFS_SERVE_LINKS = '0';
    let proc: Proc;
    try {
      proc = await startMetaServer({ dbPath: join(dir, 'meta', 'meta.db'), secretFile });
    } finally {
      delete process.env.QUORUMFS_SERVE_LINKS;
    }
    const http = new TestMetaClient(proc.url, secret);
    const c = new MetaClient({ url: proc.url, secret, metaLinks: true });
    try {
      await http.call('/v1/admin/format', { config: CONFIG });
      await c.api.mkdir({ path: '/d', mode: 0o755, owner: OWNER });
      const stamped = await c.call('create', { path: '/d/f', mode: 0o644, owner: OWNER, exclusive: true });
      assert.ok(stamped.seq >= 2, 'HTTP answers carry their stamp too');
      assert.deepEqual((await c.api.readdir({ path: '/d' })).map((e: { name: string }) => e.name), ['f']);
      await assert.rejects(c.api.lookup({ path: '/nope/x' }), (e: Error & { code?: string }) => e.code === 'ENOENT');
    } finally {
      await c.close();
      await http.close();
      await proc.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails a call at once when the server dies under it', async () => {
    await r.linked.api.getCluster({});
    r.proc.child.kill('SIGSTOP');
    const pending = r.linked.api.lookup({ path: '/' });
    const outcome = pending.then(() => null, (e: Error & { code?: string }) => e);
    await new Promise((res) => setTimeout(res, 200));
    const t0 = Date.now();
    await r.proc.kill();
    const err = await outcome;
    assert.ok(err && err.code === 'EIO' && /unreachable/.test(err.message), `got ${err?.message}`);
    assert.ok(Date.now() - t0 < 5_000, 'a dead server must not leave the call waiting for its timeout');
  });
});

interface RawAnswer {
  id: number;
  status: number;
  body: string;
}

function parseAnswers(got: Buffer): RawAnswer[] {
  const end = got.indexOf('\r\n\r\n');
  if (end < 0) return [];
  const out: RawAnswer[] = [];
  for (let at = end + 4; at + 12 <= got.length;) {
    const h = decodeAnswerHeader(got.subarray(at, at + 12));
    if (at + 12 + h.length > got.length) break;
    out.push({ id: h.id, status: h.status, body: got.toString('utf8', at + 12, at + 12 + h.length) });
    at += 12 + h.length;
  }
  return out;
}

/** Opens a link by hand to the metadata server (helpers/raw-link.ts). */
function rawExchange(r: Running, frames: Buffer, enough?: (got: Buffer) => boolean): Promise<Buffer> {
  return rawLinkExchange({ port: r.proc.port, head: upgradeRequest(META_LINK_PATH, META_LINK_PROTOCOL, r.secret), frames, enough });
}
