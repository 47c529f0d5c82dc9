// Block links (src/common/block-frames.ts) against a real `quorumfs data-server` process: round
// trips over TCP and the Unix socket, errors answered without losing the link, refused upgrades,
// malformed frames, and a server that stops answering or dies mid-request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { request } from 'undici';
import { BlockLinks } from '../src/client/block-link.js';
import { LinkError, LinkRefusal } from '../src/client/link.js';
import { DataClient, DataServerError } from '../src/client/data-client.js';
import { BLOCK_LINK_PATH, BLOCK_LINK_PROTOCOL, OP_PUT, PUT_HAS_CRC32, PUT_HAS_CRC32C, REQUEST_HEADER_BYTES, encodeRequestHeader } from '../src/common/block-frames.js';
import { LINK_FAILURE_ID, decodeAnswerHeader } from '../src/common/link-frames.js';
import { legacyTransferChecksum, transferChecksum } from '../src/common/hash.js';
import { blockPath } from './helpers/files.js';
import { startDataServer, makeSecret, tempDir, type Proc } from './helpers/procs.js';
import { block, flipByte } from './block-store-conformance.js';
import { rawLinkExchange, upgradeRequest } from './helpers/raw-link.js';

const BLOCK_SIZE_BYTES = 64 * 1024;
const root = tempDir('qfs-block-link-');
const [secretFile, secret] = makeSecret(join(root, 'conf'));
const dir = join(root, 'data');
const socketPath = join(root, 'ds.sock');
const procs: Proc[] = [];
let ds: Proc;

before(async () => {
  ds = await startDataServer({ dir, secretFile, blockSizeBytes: BLOCK_SIZE_BYTES, index: 1, dataArgs: ['--socket', socketPath, '--scrub-rate-mb-per-s', '0'] });
  procs.push(ds);
});

after(async () => {
  for (const p of procs) await p.kill();
  rmSync(root, { recursive: true, force: true });
});

function links(over: { socketPath?: string; auth?: string; requestTimeoutMs?: number; idleMs?: number; url?: string } = {}): BlockLinks {
  return new BlockLinks({
    url: over.url ?? ds.url, socketPath: over.socketPath, auth: over.auth ?? `Bearer ${secret}`, connectTimeoutMs: 2_000,
    requestTimeoutMs: over.requestTimeoutMs ?? 10_000, links: 2, idleMs: over.idleMs,
  });
}

async function httpGet(hash: string): Promise<{ status: number; bytes: Buffer }> {
  const res = await request(`${ds.url}/v1/blocks/${hash}`, { headers: { authorization: `Bearer ${secret}` } });
  return { status: res.statusCode, bytes: Buffer.from(await res.body.arrayBuffer()) };
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  assert.fail('expected the call to fail');
}

for (const transport of ['tcp', 'unix'] as const) {
  test(`uploads and fetches round trip over ${transport}, many at once on two links`, async () => {
    const l = links(transport === 'unix' ? { socketPath } : {});
    try {
      const blocks = Array.from({ length: 40 }, (_, i) => block(i % 2 ? BLOCK_SIZE_BYTES : 1 + i * 37));
      await Promise.all(blocks.map((b, i) => l.put(b.hash, b.bytes, i % 3 === 0, transferChecksum(b.bytes))));
      const got = await Promise.all(blocks.map((b) => l.get(b.hash, false)));
      got.forEach((bytes, i) => assert.ok(bytes.equals(blocks[i]!.bytes), `block ${i} must come back as written`));
      // What went up over the link is what the HTTP API serves.
      const viaHttp = await httpGet(blocks[1]!.hash);
      assert.equal(viaHttp.status, 200);
      assert.ok(viaHttp.bytes.equals(blocks[1]!.bytes));
    } finally {
      await l.close();
    }
  });
}

test('errors come back as answers and the link goes on', async () => {
  const l = links();
  try {
    const missing = block(100);
    const e1 = await rejection(l.get(missing.hash, false));
    assert.ok(e1 instanceof LinkRefusal && e1.code === 'ENOENT', `missing block: ${e1.message}`);

    const damaged = block(4096);
    const e2 = await rejection(l.put(damaged.hash, damaged.bytes, true, (transferChecksum(damaged.bytes) ^ 1) >>> 0));
    assert.ok(e2 instanceof LinkRefusal && e2.code === 'EINVAL' && /damaged on the way/.test(e2.message), `bad CRC: ${e2.message}`);
    assert.equal(existsSync(blockPath(dir, damaged.hash)), false, 'a block that failed its checksum must not be stored');

    const big = block(BLOCK_SIZE_BYTES + 1);
    const e3 = await rejection(l.put(big.hash, big.bytes, false, transferChecksum(big.bytes)));
    assert.ok(e3 instanceof LinkRefusal && e3.code === 'EFBIG', `oversized block: ${e3.message}`);

    // The oversized body was read past, so the frames after it still parse.
    const ok = block(5000);
    await l.put(ok.hash, ok.bytes, true, transferChecksum(ok.bytes));
    assert.ok((await l.get(ok.hash, false)).equals(ok.bytes));

    // A copy damaged on disk: with check the server finds it and quarantines it.
    flipByte(blockPath(dir, ok.hash), 10);
    const raw = await l.get(ok.hash, false);
    assert.equal(raw.equals(ok.bytes), false, 'without check the server sends its bytes as they are (the client hashes them)');
    const e4 = await rejection(l.get(ok.hash, true));
    assert.ok(e4 instanceof LinkRefusal && e4.code === 'EBADMSG', `corrupt copy: ${e4.message}`);
    assert.equal(existsSync(blockPath(dir, ok.hash)), false, 'the corrupt copy must be moved away');
  } finally {
    await l.close();
  }
});

test('a wrong secret or a wrong upgrade is refused before any frame is read', async () => {
  const wrong = links({ auth: 'Bearer 00' });
  try {
    const b = block(100);
    const e = await rejection(wrong.put(b.hash, b.bytes, true, transferChecksum(b.bytes)));
    assert.ok(e instanceof LinkError && /401/.test(e.message), `wrong secret: ${e.message}`);
    assert.equal(existsSync(blockPath(dir, b.hash)), false, 'nothing may be stored for a stranger');
  } finally {
    await wrong.close();
  }
  const answer = await rawExchange(upgradeRequest('/v1/nope', BLOCK_LINK_PROTOCOL, secret));
  assert.match(answer.toString('latin1'), /^HTTP\/1\.1 404 /);
  const other = await rawExchange(upgradeRequest(BLOCK_LINK_PATH, 'websocket', secret));
  assert.match(other.toString('latin1'), /^HTTP\/1\.1 400 /);
});

test('a malformed frame ends that link with a reason; the server serves others', async () => {
  const b = block(300);
  const header = encodeRequestHeader({ length: 0, id: 7, op: 9, flags: 0, checksum: 0, hash: b.hash });
  const answer = await rawExchange(opening(), header);
  const afterUpgrade = answer.subarray(answer.indexOf('\r\n\r\n') + 4);
  const h = decodeAnswerHeader(afterUpgrade);
  assert.equal(h.id, LINK_FAILURE_ID);
  assert.equal(h.status, 1);
  assert.match(afterUpgrade.subarray(12).toString('utf8'), /unknown operation 9/);
  const l = links();
  try {
    await l.put(b.hash, b.bytes, false, transferChecksum(b.bytes));
  } finally {
    await l.close();
  }
});

test('a frame that arrives a byte at a time is read whole', async () => {
  const b = block(2000);
  const frame = Buffer.concat([encodeRequestHeader({ length: b.bytes.length, id: 1, op: OP_PUT, flags: PUT_HAS_CRC32, checksum: transferChecksum(b.bytes), hash: b.hash }), b.bytes]);
  assert.equal(frame.length, REQUEST_HEADER_BYTES + 2000);
  const answer = await rawExchange(opening(), frame, 1, oneAnswer);
  const h = decodeAnswerHeader(answer.subarray(answer.indexOf('\r\n\r\n') + 4));
  assert.deepEqual([h.id, h.status, h.length], [1, 0, 0]);
  assert.ok((await httpGet(b.hash)).bytes.equals(b.bytes));
});

test('an upload from a writer before stop 27 (a CRC-32C, flag 2) is checked against that', async () => {
  for (const [damage, status] of [[false, 0], [true, 1]] as const) {
    const b = block(3000);
    const body = Buffer.from(b.bytes);
    if (damage) body[100]! ^= 0x01;
    const frame = Buffer.concat([encodeRequestHeader({ length: body.length, id: 3, op: OP_PUT, flags: PUT_HAS_CRC32C, checksum: legacyTransferChecksum(b.bytes), hash: b.hash }), body]);
    const answer = await rawExchange(opening(), frame, undefined, oneWholeAnswer);
    const afterUpgrade = answer.subarray(answer.indexOf('\r\n\r\n') + 4);
    const h = decodeAnswerHeader(afterUpgrade);
    assert.deepEqual([h.id, h.status], [3, status], damage ? 'damaged bytes are refused' : 'intact bytes are stored');
    if (damage) assert.match(afterUpgrade.subarray(12).toString('utf8'), /damaged on the way \(CRC-32C/);
    else assert.ok((await httpGet(b.hash)).bytes.equals(b.bytes));
  }
});

test('a link left idle is closed, and the next call opens another', async () => {
  const l = links({ idleMs: 100 });
  try {
    const a = block(10);
    await l.put(a.hash, a.bytes, false, transferChecksum(a.bytes));
    await new Promise((r) => setTimeout(r, 300));
    const b = block(20);
    await l.put(b.hash, b.bytes, false, transferChecksum(b.bytes));
    assert.ok((await l.get(b.hash, false)).equals(b.bytes));
  } finally {
    await l.close();
  }
});

test('a server that stops answering times the call out; one that dies fails it at once', async () => {
  const b = block(1000);
  const l = links({ requestTimeoutMs: 500 });
  const c = new DataClient({ index: 1, url: ds.url, secret, requestTimeoutMs: 10_000, connectTimeoutMs: 2_000, connections: 2 });
  try {
    await l.put(b.hash, b.bytes, false, transferChecksum(b.bytes));
    await c.putBlock(b.hash, b.bytes, false, transferChecksum(b.bytes));
    ds.child.kill('SIGSTOP');
    const t0 = Date.now();
    const e = await rejection(l.get(b.hash, false));
    assert.ok(e instanceof LinkError && /no answer within 500 ms/.test(e.message), `hung server: ${e.message}`);
    assert.ok(Date.now() - t0 < 5_000);

    const pending = rejection(c.getBlock(b.hash));
    await new Promise((r) => setTimeout(r, 200));
    const t1 = Date.now();
    await ds.kill();
    const e2 = await pending;
    assert.ok(e2 instanceof DataServerError && e2.failure === 'unreachable', `dead server: ${e2.message}`);
    assert.ok(Date.now() - t1 < 5_000, 'a dead server must fail the call long before its 10 s timeout');
  } finally {
    await l.close();
    await c.close();
    // Later tests in this file have none; a fresh server for anything added after.
    ds = await startDataServer({ dir, secretFile, blockSizeBytes: BLOCK_SIZE_BYTES, index: 1, dataArgs: ['--socket', socketPath, '--scrub-rate-mb-per-s', '0'] });
    procs.push(ds);
  }
});

test('a server without links (older, or QUORUMFS_SERVE_LINKS=0) is asked over HTTP instead', async () => {
  const oldDir = join(root, 'old-data');
  process.env.QUORUMFS_SERVE_LINKS = '0';
  let old: Proc;
  try {
    old = await startDataServer({ dir: oldDir, secretFile, blockSizeBytes: BLOCK_SIZE_BYTES, index: 2, dataArgs: ['--scrub-rate-mb-per-s', '0'] });
  } finally {
    delete process.env.QUORUMFS_SERVE_LINKS;
  }
  procs.push(old);
  const l = links({ url: old.url });
  const c = new DataClient({ index: 2, url: old.url, secret, requestTimeoutMs: 10_000, connectTimeoutMs: 2_000, connections: 2 });
  try {
    const b = block(3000);
    const e = await rejection(l.put(b.hash, b.bytes, true, transferChecksum(b.bytes)));
    assert.ok(e instanceof LinkError && e.unsupported && /404/.test(e.message), `opening refused: ${e.message}`);
    for (let i = 0; i < 2; i++) {
      const x = block(1000 + i);
      await c.putBlock(x.hash, x.bytes, true, transferChecksum(x.bytes));
      assert.ok((await c.getBlock(x.hash)).equals(x.bytes), 'the client falls back to HTTP and goes on there');
    }
    const missing = block(10);
    await assert.rejects(c.getBlock(missing.hash), (err: Error) => err instanceof DataServerError && err.failure === 'missing');
  } finally {
    await l.close();
    await c.close();
  }
});

test('an idle link does not keep a process alive', async () => {
  // A client that never closes its DataClient must still exit when its work is done.
  const moduleUrl = new URL('../src/client/data-client.js', import.meta.url).href;
  const script = `
    import { DataClient } from ${JSON.stringify(moduleUrl)};
    const c = new DataClient({ index: 1, url: ${JSON.stringify(ds.url)}, secret: ${JSON.stringify(secret)}, requestTimeoutMs: 5000, connectTimeoutMs: 2000, connections: 2 });
    const b = Buffer.from('left open');
    const { createHash } = await import('node:crypto');
    const { transferChecksum } = await import(${JSON.stringify(new URL('../src/common/hash.js', import.meta.url).href)});
    const h = createHash('sha256').update(b).digest('hex');
    await c.putBlock(h, b, true, transferChecksum(b));
    if (!(await c.getBlock(h)).equals(b)) process.exit(3);
  `;
  const t0 = Date.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, `child failed: ${r.stderr}`);
  assert.ok(Date.now() - t0 < 10_000, `the child took ${Date.now() - t0} ms to exit`);
});

function opening(): string {
  return upgradeRequest(BLOCK_LINK_PATH, BLOCK_LINK_PROTOCOL, secret);
}

/** Opens a link by hand to the data server (helpers/raw-link.ts). */
function rawExchange(head: string, frames?: Buffer, step?: number, enough?: (got: Buffer) => boolean): Promise<Buffer> {
  return rawLinkExchange({ port: ds.port, head, frames, step, enough });
}

/** An answer frame has arrived whole (header and body) after the 101. */
function oneWholeAnswer(got: Buffer): boolean {
  const end = got.indexOf('\r\n\r\n');
  if (end < 0 || got.length < end + 4 + 12) return false;
  return got.length >= end + 4 + 12 + decodeAnswerHeader(got.subarray(end + 4)).length;
}

/** An answer frame's header has arrived after the 101. */
function oneAnswer(got: Buffer): boolean {
  const end = got.indexOf('\r\n\r\n');
  return end >= 0 && got.length >= end + 4 + 12;
}
