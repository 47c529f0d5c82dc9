// The real metadata server process: the conformance suite over HTTP, authentication, request
// validation, and durability across SIGKILL.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ClusterConfig } from '../src/common/config.js';
import type { BlockFault } from '../src/meta/api.js';
import { makeSecret, startMetaServer, tempDir, type Proc } from './helpers/procs.js';
import { metaConformance } from './meta-conformance.js';
import { OWNER, hashOf, rejectsWith } from './meta-conformance-helpers.js';
import { TestMetaClient } from './meta-http-client.js';
import { runCrashRounds } from './meta-server-crash.js';

const CONFIG: ClusterConfig = { replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 65536 };

export interface Running {
  dir: string;
  dbPath: string;
  secretFile: string;
  secret: string;
  proc: Proc;
  client: TestMetaClient;
}

export async function startFormatted(existing?: Running): Promise<Running> {
  const dir = existing?.dir ?? tempDir('qfs-metasrv-');
  const [secretFile, secret] = existing ? [existing.secretFile, existing.secret] : makeSecret(dir);
  const dbPath = join(dir, 'meta', 'meta.db');
  const proc = await startMetaServer({ dbPath, secretFile });
  const client = new TestMetaClient(proc.url, secret);
  await client.call('/v1/admin/format', { config: CONFIG });
  return { dir, dbPath, secretFile, secret, proc, client };
}

async function stopAll(r: Running): Promise<void> {
  await r.client.close();
  await r.proc.stop();
  rmSync(r.dir, { recursive: true, force: true });
}

metaConformance('http server', async () => {
  const r = await startFormatted();
  const c = r.client;
  return {
    api: c.api,
    inspect: {
      listBlocks: () => c.call('/v1/admin/blocks', undefined, 'GET') as never,
      listFaults: (a: { limit: number }) => c.call(`/v1/admin/faults?limit=${a.limit}`, undefined, 'GET') as Promise<BlockFault[]>,
      checkIntegrity: () => c.integrity(),
    },
    cleanup: () => stopAll(r),
  };
});

describe('meta server over HTTP', () => {
  let r: Running;
  before(async () => { r = await startFormatted(); });
  after(async () => { if (r) await stopAll(r); });

  const post = (method: string, body: string, secret?: string | null) => r.client.raw('POST', `/v1/meta/${method}`, body, secret);

  it('refuses requests without the secret or with a wrong one, changing nothing', async () => {
    const body = JSON.stringify({ path: '/auth', mode: 0o755, owner: OWNER });
    for (const secret of [null, 'f'.repeat(64), `${r.secret}x`]) {
      const a = await post('mkdir', body, secret);
      assert.equal(a.status, 401);
      assert.equal(a.body.error?.code, 'EACCES');
    }
    assert.equal((await r.client.raw('GET', '/v1/health', undefined, null)).status, 401);
    assert.equal((await r.client.raw('POST', '/v1/admin/format', JSON.stringify({ config: CONFIG }), null)).status, 401);
    await rejectsWith(r.client.api.lookup({ path: '/auth' }), 'ENOENT');
    assert.deepEqual((await r.client.raw('GET', '/v1/health')).body, { ok: true });
  });

  it('refuses malformed bodies with 400 EINVAL, changing nothing', async () => {
    const bad: Array<[string, string, RegExp]> = [
      ['mkdir', '{"path": "/bad", ', /not valid JSON/],
      ['mkdir', JSON.stringify({ path: '/bad', mode: '755', owner: OWNER }), /mode must be a number/],
      ['mkdir', JSON.stringify({ path: 5, mode: 0o755, owner: OWNER }), /path must be a string/],
      ['mkdir', JSON.stringify({ path: '/bad', mode: 0o755 }), /owner/],
      ['mkdir', JSON.stringify({ path: '/bad', mode: 0o755, owner: { uid: -1, gid: 0 } }), /owner.uid/],
      ['mkdir', JSON.stringify({ path: '/bad', mode: 0o755, owner: OWNER, extra: 1 }), /extra/],
      ['mkdir', '[1,2]', /invalid arguments for mkdir/],
      ['create', JSON.stringify({ path: '/bad', mode: 0o644, owner: OWNER, exclusive: 'yes' }), /exclusive must be true or false/],
      ['commit', JSON.stringify({ ino: 1.5, size: 0, blocks: [], blockSizes: {} }), /ino must be a whole number/],
      ['commit', JSON.stringify({ ino: 2, size: 10, blocks: ['ABC'], blockSizes: {} }), /blocks.0 must be a block name/],
      ['reportFaults', JSON.stringify({ faults: [{ hash: hashOf('x'), server: 1, reason: 'bogus' }] }), /faults.0.reason/],
      ['unlinkMany', JSON.stringify({ entries: [] }), /entries must not be empty/],
      ['unlinkMany', JSON.stringify({ entries: Array.from({ length: 1025 }, (_, i) => ({ path: `/bad${i}` })) }), /at most 1024/],
      ['unlinkMany', JSON.stringify({ entries: [{ path: '/bad', ino: 0 }] }), /entries.0.ino must be >= 1/],
      ['unlinkMany', JSON.stringify({ entries: [{ path: '/bad', inode: 2 }] }), /inode/],
    ];
    for (const [method, body, why] of bad) {
      const a = await post(method, body);
      assert.equal(a.status, 400, `${method} ${body}`);
      assert.equal(a.body.error?.code, 'EINVAL');
      assert.match(a.body.error?.message ?? '', why);
    }
    await rejectsWith(r.client.api.lookup({ path: '/bad' }), 'ENOENT');
    assert.deepEqual(await r.client.call('/v1/admin/faults?limit=10', undefined, 'GET'), []);
  });

  it('refuses unknown methods and endpoints', async () => {
    const a = await post('dropEverything', '{}');
    assert.equal(a.status, 400);
    assert.equal(a.body.error?.code, 'EINVAL');
    assert.match(a.body.error?.message ?? '', /unknown method/);
    assert.equal((await post('format', JSON.stringify({ config: CONFIG }))).status, 400, 'admin calls are not meta methods');
    assert.equal((await r.client.raw('GET', '/v1/meta/lookup')).status, 405);
    assert.equal((await r.client.raw('GET', '/v1/nothing')).status, 404);
    assert.equal((await r.client.raw('POST', '/v1/admin/integrity', '{}')).status, 405);
  });

  it('admin endpoints: format refusal, membership, blocks, faults, integrity', async () => {
    const other = await r.client.raw('POST', '/v1/admin/format', JSON.stringify({ config: { ...CONFIG, replicas: 5, writeQuorum: 5, readQuorum: 3 } }));
    assert.equal(other.status, 409);
    assert.match(other.body.error?.message ?? '', /cluster already formatted with N=3, Qw=2, Qr=2/);
    const invalid = await r.client.raw('POST', '/v1/admin/format', JSON.stringify({ config: { ...CONFIG, readQuorum: 9 } }));
    assert.equal(invalid.status, 400);
    assert.deepEqual(await r.client.call('/v1/admin/format', { config: CONFIG }), { config: CONFIG, servers: [] });
    const servers = [{ index: 1, url: 'http://127.0.0.1:1', id: null }, { index: 2, url: 'http://127.0.0.1:2', id: 'x' }];
    await r.client.call('/v1/admin/servers', { servers });
    assert.deepEqual((await r.client.api.getCluster({})).servers, servers);
    assert.equal((await r.client.raw('POST', '/v1/admin/servers', JSON.stringify({ servers: [{ index: 0, url: 'u', id: null }] }))).status, 400);
    const f = await r.client.api.create({ path: '/adm', mode: 0o644, owner: OWNER, exclusive: true });
    const h = hashOf('admin');
    await r.client.api.commit({ ino: f.ino, size: 3, blocks: [h], blockSizes: { [h]: 3 } });
    assert.deepEqual(await r.client.call('/v1/admin/blocks', undefined, 'GET'), [{ hash: h, refs: 1, size: 3 }]);
    await r.client.api.reportFaults({ faults: [{ hash: h, server: 2, reason: 'corrupt' }] });
    assert.deepEqual(await r.client.call('/v1/admin/faults?limit=5', undefined, 'GET'), [{ hash: h, server: 2, reason: 'corrupt' }]);
    assert.equal((await r.client.raw('GET', '/v1/admin/faults?limit=x')).status, 400);
    assert.deepEqual(await r.client.integrity(), { ok: true, problems: [] });
  });

  it('keeps connections alive and answers void methods with an empty body', async () => {
    const a = await post('mkdir', JSON.stringify({ path: '/ka', mode: 0o755, owner: OWNER }));
    assert.equal(a.status, 200);
    const b = await post('rmdir', JSON.stringify({ path: '/ka' }));
    assert.deepEqual([b.status, b.body], [200, {}]);
  });
});

describe('meta server lifecycle', () => {
  it('SIGTERM closes the store and exits 0; data is there after restart', async () => {
    const r = await startFormatted();
    await r.client.api.mkdir({ path: '/kept', mode: 0o755, owner: OWNER });
    await r.client.close();
    await r.proc.stop();
    assert.equal(r.proc.child.exitCode, 0, r.proc.output());
    const again = await startFormatted(r);
    assert.equal((await again.client.api.lookup({ path: '/kept' })).type, 'dir');
    await stopAll(again);
  });

  it('survives SIGKILL in the middle of commits and renames', async () => {
    const r = await startFormatted();
    const last = await runCrashRounds(r, startFormatted, { rounds: 4 });
    await stopAll(last);
  });
});
