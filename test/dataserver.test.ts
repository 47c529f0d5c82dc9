// Runs the real `quorumfs data-server` process and talks to it over HTTP like the client library will.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createConnection } from 'node:net';
import { request, Client } from 'undici';
import { PeerClient, PeerError, mayStillHappen } from '../src/repair/peer-client.js';
import { blockPath } from './helpers/files.js';
import { freePort, startDataServer, makeSecret, tempDir, type Proc } from './helpers/procs.js';
import { block, flipByte } from './block-store-conformance.js';
import { CRC_HEADER, LEGACY_CRC_HEADER } from '../src/common/protocol.js';
import { legacyTransferChecksum, transferChecksum } from '../src/common/hash.js';

const BLOCK_SIZE_BYTES = 64 * 1024;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const root = tempDir('qfs-dataserver-');
const [secretFile, secret] = makeSecret(join(root, 'conf'));
const dir = join(root, 'data');
const procs: Proc[] = [];
let ds: Proc;

before(async () => {
  ds = await startDataServer({ dir, secretFile, blockSizeBytes: BLOCK_SIZE_BYTES, index: 1 });
  procs.push(ds);
});

after(async () => {
  for (const p of procs) await p.kill();
  rmSync(root, { recursive: true, force: true });
});

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  bytes: Buffer;
  json: () => any;
}

async function call(p: Proc, method: string, path: string, opts: { body?: Buffer | string | Readable; auth?: string | null; headers?: Record<string, string> } = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...opts.headers };
  const auth = opts.auth === undefined ? `Bearer ${secret}` : opts.auth;
  if (auth !== null) headers.authorization = auth;
  const res = await request(p.url + path, { method: method as 'GET', headers, body: opts.body });
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, bytes, json: () => JSON.parse(bytes.toString('utf8')) };
}

/** Sends the path exactly as written (request() would normalise '..' away before it left the client). */
async function rawCall(p: Proc, method: string, path: string): Promise<Reply> {
  const client = new Client(p.url);
  try {
    const res = await client.request({ method: method as 'GET', path, headers: { authorization: `Bearer ${secret}` } });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, bytes, json: () => JSON.parse(bytes.toString('utf8')) };
  } finally {
    await client.close();
  }
}


async function inventory(p: Proc): Promise<Map<string, number>> {
  const r = await call(p, 'GET', '/v1/inventory');
  assert.equal(r.status, 200);
  return new Map(r.json().blocks as Array<[string, number]>);
}

async function assertNotStored(hash: string): Promise<void> {
  assert.equal((await inventory(ds)).has(hash), false, 'inventory must not list the block');
  assert.equal(existsSync(blockPath(dir, hash)), false, 'no block file may exist');
  // Emptied files of deleted blocks wait in tmp/ for reuse (spare-files.ts); nothing else may.
  const left = readdirSync(join(dir, 'tmp')).filter((n) => statSync(join(dir, 'tmp', n)).size > 0);
  assert.deepEqual(left, [], 'no temp file with data may be left');
}

test('PUT, GET, verify, sync, inventory and health round trip', async () => {
  const b = block(BLOCK_SIZE_BYTES);
  const put = await call(ds, 'PUT', `/v1/blocks/${b.hash}`, { body: b.bytes });
  assert.equal(put.status, 201);
  assert.deepEqual(put.json(), { size: BLOCK_SIZE_BYTES });

  const get = await call(ds, 'GET', `/v1/blocks/${b.hash}`);
  assert.equal(get.status, 200);
  assert.equal(get.headers['content-type'], 'application/octet-stream');
  assert.equal(get.headers['content-length'], String(BLOCK_SIZE_BYTES));
  assert.ok(get.bytes.equals(b.bytes));

  const verify = await call(ds, 'POST', `/v1/blocks/${b.hash}/verify`);
  assert.equal(verify.status, 200);
  assert.deepEqual(verify.json(), { size: BLOCK_SIZE_BYTES });

  const absent = block(10).hash;
  const sync = await call(ds, 'POST', '/v1/sync', { body: JSON.stringify({ blocks: [b.hash, absent] }), headers: { 'content-type': 'application/json' } });
  assert.equal(sync.status, 200);
  assert.deepEqual(sync.json(), { durable: [b.hash], missing: [absent] });

  assert.equal((await inventory(ds)).get(b.hash), BLOCK_SIZE_BYTES);

  const health = await call(ds, 'GET', '/v1/health');
  assert.equal(health.status, 200);
  const h = health.json();
  assert.match(h.id, UUID_RE);
  assert.equal(h.dir, dir);
  assert.ok(h.blocks >= 1 && h.bytes >= BLOCK_SIZE_BYTES);
  assert.ok(h.diskTotalBytes > 0 && h.diskFreeBytes > 0 && h.diskFreeBytes <= h.diskTotalBytes);
  assert.ok(h.startedAtMs <= Date.now());
});

test('PUT ?sync=1, a 0-byte block and DELETE', async () => {
  const b = block(1000);
  const put = await call(ds, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes });
  assert.equal(put.status, 201);
  const empty = block(0);
  assert.equal((await call(ds, 'PUT', `/v1/blocks/${empty.hash}`, { body: empty.bytes })).status, 201);
  const getEmpty = await call(ds, 'GET', `/v1/blocks/${empty.hash}`);
  assert.equal(getEmpty.status, 200);
  assert.equal(getEmpty.bytes.length, 0);

  assert.deepEqual((await call(ds, 'DELETE', `/v1/blocks/${b.hash}`)).json(), { deleted: true });
  assert.deepEqual((await call(ds, 'DELETE', `/v1/blocks/${b.hash}`)).json(), { deleted: false });
  const get = await call(ds, 'GET', `/v1/blocks/${b.hash}`);
  assert.equal(get.status, 404);
  assert.equal(get.json().error.code, 'ENOENT');
  const verify = await call(ds, 'POST', `/v1/blocks/${b.hash}/verify`);
  assert.equal(verify.status, 404);
});

test('a DELETE that reaches the server after its deadline is refused, also one held up by a stopped server', async () => {
  const b = block(2000);
  assert.equal((await call(ds, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes })).status, 201);
  const late = await call(ds, 'DELETE', `/v1/blocks/${b.hash}?before=${Date.now() - 1}`);
  assert.equal(late.json().error.code, 'ETIMEDOUT');
  assert.equal((await call(ds, 'DELETE', `/v1/blocks/${b.hash}?before=soon`)).status, 400);
  // The garbage collector's case: its DELETE sits in a stopped server past the deadline, while the
  // same bytes are stored again. When the server runs again, the old DELETE must not remove them.
  process.kill(ds.child.pid!, 'SIGSTOP');
  let held: Promise<Reply>;
  try {
    held = call(ds, 'DELETE', `/v1/blocks/${b.hash}?before=${Date.now() + 300}`);
    await new Promise((r) => setTimeout(r, 600));
  } finally {
    process.kill(ds.child.pid!, 'SIGCONT');
  }
  assert.equal((await held).json().error.code, 'ETIMEDOUT');
  assert.equal((await call(ds, 'GET', `/v1/blocks/${b.hash}`)).status, 200, 'the block is still there');
  assert.deepEqual((await call(ds, 'DELETE', `/v1/blocks/${b.hash}?before=${Date.now() + 10_000}`)).json(), { deleted: true });
});

test('a DELETE that could not be delivered cannot arrive later; one without an answer may', async () => {
  const peers = new PeerClient('ab'.repeat(16));
  try {
    const nobody = `http://127.0.0.1:${await freePort()}`;
    const err = await peers.delete(nobody, 'ab'.repeat(32), Date.now() + 2_000).then(() => null, (e: unknown) => e);
    assert.ok(err instanceof PeerError && err.failure === 'unreachable', String(err));
    assert.equal(mayStillHappen(err), false, `refused connection (${(err as PeerError).netCode})`);
    assert.equal(mayStillHappen(new PeerError('unreachable', 'timed out', 'UND_ERR_HEADERS_TIMEOUT')), true);
    assert.equal(mayStillHappen(new PeerError('refused', 'answered 409')), false);
  } finally {
    await peers.close();
  }
});

test('no secret or a wrong secret: 401 EACCES and nothing stored', async () => {
  const b = block(BLOCK_SIZE_BYTES);
  for (const auth of [null, 'Bearer ' + '0'.repeat(64), `Basic ${secret}`, `Bearer ${secret}x`]) {
    const r = await call(ds, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes, auth });
    assert.equal(r.status, 401);
    assert.equal(r.json().error.code, 'EACCES');
  }
  for (const [method, path] of [['GET', '/v1/inventory'], ['GET', '/v1/health'], ['GET', `/v1/blocks/${b.hash}`], ['POST', '/v1/sync'], ['GET', '/nope']]) {
    assert.equal((await call(ds, method!, path!, { auth: null })).status, 401, `${method} ${path}`);
  }
  await assertNotStored(b.hash);
});

test('a stranger sending a huge body is cut off: nothing stored, server still up', async () => {
  const big = block(BLOCK_SIZE_BYTES * 4);
  try {
    const r = await call(ds, 'PUT', `/v1/blocks/${big.hash}`, { body: big.bytes, auth: null });
    assert.equal(r.status, 401);
  } catch (err) {
    // The server drops the connection once a stranger's body passes one block: a reset is a valid answer.
    assert.match(String((err as { code?: string }).code), /EPIPE|ECONNRESET|UND_ERR_SOCKET/);
  }
  await assertNotStored(big.hash);
  assert.equal((await call(ds, 'GET', '/v1/health')).status, 200);
});

test('concurrent PUTs and GETs of many blocks', async () => {
  const blocks = Array.from({ length: 40 }, (_, i) => block(1000 + i * 100));
  const puts = await Promise.all(blocks.map((b, i) => call(ds, 'PUT', `/v1/blocks/${b.hash}${i % 2 ? '?sync=1' : ''}`, { body: b.bytes })));
  assert.ok(puts.every((r) => r.status === 201));
  const sync = await call(ds, 'POST', '/v1/sync', { body: JSON.stringify({ blocks: blocks.map((b) => b.hash) }) });
  assert.equal(sync.json().durable.length, blocks.length);
  const gets = await Promise.all(blocks.map((b) => call(ds, 'GET', `/v1/blocks/${b.hash}`)));
  gets.forEach((r, i) => assert.ok(r.bytes.equals(blocks[i]!.bytes)));
});

test('upload buffers are reused: a body cut short stores nothing, and a short block after a long one is exact', async () => {
  const long = block(BLOCK_SIZE_BYTES);
  const cut = block(5000);
  // Headers promise 5,000 bytes, 1,000 arrive, then the client goes away.
  const { hostname: host, port } = new URL(ds.url);
  await new Promise<void>((resolve, reject) => {
    const sock = createConnection({ host, port: Number(port) }, () => {
      sock.write(`PUT /v1/blocks/${cut.hash} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${secret}\r\ncontent-length: 5000\r\n\r\n`);
      sock.end(cut.bytes.subarray(0, 1000));
    });
    sock.on('error', reject);
    sock.on('close', () => resolve());
    sock.resume();
  });
  await assertNotStored(cut.hash);
  for (const b of [long, block(10), block(BLOCK_SIZE_BYTES - 1), block(1)]) {
    assert.equal((await call(ds, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes })).status, 201);
    const back = await call(ds, 'GET', `/v1/blocks/${b.hash}`);
    assert.ok(back.bytes.equals(b.bytes), `block of ${b.bytes.length} bytes comes back exactly`);
    assert.equal((await inventory(ds)).get(b.hash), b.bytes.length);
  }
});

test('with blocks too large to keep spare buffers for, uploads of any size still round trip', async () => {
  const big = await startDataServer({ dir: join(root, 'data-big'), secretFile, blockSizeBytes: 32 * 1024 * 1024, index: 3 });
  procs.push(big);
  for (const b of [block(3), block(3 * 1024 * 1024 + 5), block(70_000)]) {
    assert.equal((await call(big, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes })).status, 201);
    assert.ok((await call(big, 'GET', `/v1/blocks/${b.hash}`)).bytes.equals(b.bytes));
  }
  await big.kill();
});

test('read buffers are reused only once a response is sent: a slow reader gets its own bytes', async () => {
  // 16 MiB blocks: more than the socket buffers hold, so most of a response waits in the server
  // while its reader is paused, and one spare read buffer is kept.
  const big = await startDataServer({ dir: join(root, 'data-slow'), secretFile, blockSizeBytes: 16 * 1024 * 1024, index: 4 });
  procs.push(big);
  const [slow, other] = [block(16 * 1024 * 1024), block(16 * 1024 * 1024 - 7)];
  for (const b of [slow, other]) assert.equal((await call(big, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes })).status, 201);
  const { hostname: host, port } = new URL(big.url);
  const sock = createConnection({ host, port: Number(port) });
  sock.pause();
  sock.write(`GET /v1/blocks/${slow.hash}?check=0 HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${secret}\r\nconnection: close\r\n\r\n`);
  await new Promise((r) => setTimeout(r, 500));
  // Meanwhile other reads take buffers from the pool and fill them.
  for (let i = 0; i < 3; i++) assert.ok((await call(big, 'GET', `/v1/blocks/${other.hash}?check=0`)).bytes.equals(other.bytes));
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    sock.on('end', resolve);
    sock.on('error', reject);
    sock.resume();
  });
  const raw = Buffer.concat(chunks);
  const body = raw.subarray(raw.indexOf('\r\n\r\n') + 4);
  assert.equal(body.length, slow.bytes.length);
  assert.ok(body.equals(slow.bytes), 'the paused response carries its own block, not one read after it');
  await big.kill();
});

test('malformed block names are refused with 400 EINVAL', async () => {
  const b = block(100);
  for (const name of [b.hash.toUpperCase(), b.hash.slice(1), b.hash + '0', 'x'.repeat(64)]) {
    const r = await call(ds, 'PUT', `/v1/blocks/${name}`, { body: b.bytes });
    assert.equal(r.status, 400, name);
    assert.equal(r.json().error.code, 'EINVAL');
    assert.equal((await call(ds, 'GET', `/v1/blocks/${name}`)).status, 400);
  }
  await assertNotStored(b.hash);
});

test('bytes that do not match the name: 400 EINVAL, nothing stored', async () => {
  const b = block(100);
  const other = block(100);
  const r = await call(ds, 'PUT', `/v1/blocks/${other.hash}`, { body: b.bytes });
  assert.equal(r.status, 400);
  assert.equal(r.json().error.code, 'EINVAL');
  await assertNotStored(other.hash);
  await assertNotStored(b.hash);
});

test('a PUT with the writer\'s CRC-32: stored when the bytes match it, 400 EINVAL and nothing stored when not', async () => {
  const b = block(5000);
  const crc = String(transferChecksum(b.bytes));
  for (const bad of ['12x', '-1', '4294967296', '']) {
    const r = await call(ds, 'PUT', `/v1/blocks/${b.hash}`, { body: b.bytes, headers: { [CRC_HEADER]: bad } });
    assert.equal(r.status, 400, `header ${JSON.stringify(bad)}`);
    assert.equal(r.json().error.code, 'EINVAL');
  }
  const damaged = Buffer.from(b.bytes);
  damaged[4321]! ^= 0x10;
  const r = await call(ds, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: damaged, headers: { [CRC_HEADER]: crc } });
  assert.equal(r.status, 400);
  assert.match(r.json().error.message, /damaged on the way/);
  await assertNotStored(b.hash);
  assert.equal((await call(ds, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes, headers: { [CRC_HEADER]: crc } })).status, 201);
  assert.deepEqual((await call(ds, 'GET', `/v1/blocks/${b.hash}`)).bytes, b.bytes);
});

test('a PUT with the CRC-32C of a writer before stop 27 is checked against that', async () => {
  const b = block(5000);
  const crc = String(legacyTransferChecksum(b.bytes));
  const damaged = Buffer.from(b.bytes);
  damaged[17]! ^= 0x02;
  const r = await call(ds, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: damaged, headers: { [LEGACY_CRC_HEADER]: crc } });
  assert.equal(r.status, 400);
  assert.match(r.json().error.message, /damaged on the way \(CRC-32C/);
  await assertNotStored(b.hash);
  assert.equal((await call(ds, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes, headers: { [LEGACY_CRC_HEADER]: crc } })).status, 201);
  assert.deepEqual((await call(ds, 'GET', `/v1/blocks/${b.hash}`)).bytes, b.bytes);
});

test('a body larger than the block size: 413 EFBIG, nothing stored', async () => {
  const big = block(BLOCK_SIZE_BYTES + 1);
  const r = await call(ds, 'PUT', `/v1/blocks/${big.hash}`, { body: big.bytes });
  assert.equal(r.status, 413);
  assert.equal(r.json().error.code, 'EFBIG');
  await assertNotStored(big.hash);
  // The connection the client used is still good for the next request.
  assert.equal((await call(ds, 'GET', '/v1/health')).status, 200);
});

test('a client that goes away halfway through a PUT body leaves nothing stored, and the server goes on', async () => {
  const b = block(BLOCK_SIZE_BYTES);
  const { hostname, port } = new URL(ds.url);
  await new Promise<void>((resolve, reject) => {
    const sock = createConnection({ host: hostname, port: Number(port) }, () => {
      sock.write(`PUT /v1/blocks/${b.hash} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${secret}\r\nContent-Length: ${b.bytes.length}\r\n\r\n`);
      sock.write(b.bytes.subarray(0, b.bytes.length / 2), () => setTimeout(() => sock.destroy(), 100));
    });
    sock.on('close', () => resolve());
    sock.on('error', reject);
  });
  await new Promise((r) => setTimeout(r, 200));
  await assertNotStored(b.hash);
  const again = await call(ds, 'PUT', `/v1/blocks/${b.hash}`, { body: b.bytes });
  assert.equal(again.status, 201, 'the same block uploaded whole afterwards is stored');
});

test('a PUT without Content-Length (chunked): 411, nothing stored', async () => {
  const b = block(1000);
  const r = await call(ds, 'PUT', `/v1/blocks/${b.hash}`, { body: Readable.from([b.bytes.subarray(0, 500), b.bytes.subarray(500)]) });
  assert.equal(r.status, 411);
  await assertNotStored(b.hash);
});

test('a JSON body over its limit without Content-Length: 413 EFBIG as an answer, and the server goes on', async () => {
  // MAX_SYNC_BLOCKS names of 64 hex digits, quoted, and then some: past the sync endpoint's limit.
  const chunk = Buffer.from(`"${'a'.repeat(64)}",`.repeat(1024));
  const chunks = [Buffer.from('{"blocks":['), ...Array.from({ length: 17 }, () => chunk)];
  const r = await call(ds, 'POST', '/v1/sync', { body: Readable.from(chunks), headers: { 'content-type': 'application/json' } });
  assert.equal(r.status, 413);
  assert.equal(r.json().error.code, 'EFBIG');
  assert.equal((await call(ds, 'GET', '/v1/health')).status, 200);
});

test('path tricks are refused with 4xx and never reach a file', async () => {
  const b = block(100);
  await call(ds, 'PUT', `/v1/blocks/${b.hash}`, { body: b.bytes });
  const tricks = [
    '/v1/blocks/../x',
    '/v1/blocks/../../identity.json',
    '/v1/blocks/%2e%2e%2fidentity.json',
    '/v1/blocks/..%2fidentity.json',
    `/v1/blocks/${b.hash}/../../identity.json`,
    `/v1/blocks/${b.hash}/extra`,
    `/v1/blocks/${b.hash}/`,
    `/v1//blocks/${b.hash}`,
    `/v1/blocks/${b.hash.slice(0, 2)}%2f${b.hash}`,
    `/v1/blocks/${b.hash.slice(0, 2)}%2f${b.hash.slice(2, 4)}%2f${b.hash}`,
  ];
  for (const path of tricks) {
    const r = await rawCall(ds, 'GET', path);
    assert.ok(r.status >= 400 && r.status < 500, `${path} -> ${r.status}`);
    assert.equal(r.json().error.code, 'EINVAL', path);
  }
});

test('unknown routes: 404 EINVAL (never ENOENT); wrong methods: 405', async () => {
  for (const path of ['/', '/v1', '/v2/blocks', '/v1/nothing', '/v1/inventory/x']) {
    const r = await call(ds, 'GET', path);
    assert.equal(r.status, 404, path);
    assert.equal(r.json().error.code, 'EINVAL', path);
  }
  const b = block(10);
  const wrong = await call(ds, 'POST', `/v1/blocks/${b.hash}`);
  assert.equal(wrong.status, 405);
  assert.equal(wrong.headers.allow, 'GET, PUT, DELETE');
  assert.equal((await call(ds, 'GET', '/v1/sync')).status, 405);
  assert.equal((await call(ds, 'GET', `/v1/blocks/${b.hash}/verify`)).status, 405);
  assert.equal((await call(ds, 'DELETE', '/v1/inventory')).status, 405);
});

test('a malformed sync request is refused with 400', async () => {
  for (const body of ['not json', '{"blocks":"x"}', '{"blocks":["../etc"]}']) {
    const r = await call(ds, 'POST', '/v1/sync', { body });
    assert.equal(r.status, 400, body);
    assert.equal(r.json().error.code, 'EINVAL');
  }
});

test('a corrupt copy on disk: GET and verify answer 409 EBADMSG and the file is quarantined', async () => {
  const b = block(5000);
  assert.equal((await call(ds, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes })).status, 201);
  flipByte(blockPath(dir, b.hash), 77);
  const get = await call(ds, 'GET', `/v1/blocks/${b.hash}`);
  assert.equal(get.status, 409);
  assert.equal(get.json().error.code, 'EBADMSG');
  assert.equal(existsSync(blockPath(dir, b.hash)), false);
  assert.ok(readdirSync(join(dir, 'quarantine')).some((n) => n.startsWith(b.hash + '.')));
  assert.equal((await inventory(ds)).has(b.hash), false);
  assert.equal((await call(ds, 'GET', `/v1/blocks/${b.hash}`)).status, 404);

  // Repair puts the block back; corrupting it again is caught by the digest check.
  assert.equal((await call(ds, 'PUT', `/v1/blocks/${b.hash}`, { body: b.bytes })).status, 201);
  flipByte(blockPath(dir, b.hash), 4999);
  // ?check=0 (the client hashes what it gets): the bytes come as stored, and nothing moves until
  // the client, seeing the mismatch, asks for /verify.
  const unchecked = await call(ds, 'GET', `/v1/blocks/${b.hash}?check=0`);
  assert.equal(unchecked.status, 200);
  assert.equal(unchecked.bytes.length, 5000);
  assert.notDeepEqual(unchecked.bytes, b.bytes);
  assert.equal(existsSync(blockPath(dir, b.hash)), true);
  assert.equal((await call(ds, 'GET', `/v1/blocks/${b.hash}?check=2`)).status, 400);
  const verify = await call(ds, 'POST', `/v1/blocks/${b.hash}/verify`);
  assert.equal(verify.status, 409);
  assert.equal(verify.json().error.code, 'EBADMSG');
  assert.equal(readdirSync(join(dir, 'quarantine')).filter((n) => n.startsWith(b.hash + '.')).length, 2);
  assert.ok((await call(ds, 'GET', '/v1/health')).json().quarantined >= 2);
});

test('identity and synced blocks survive SIGKILL; a wiped directory comes back with a new identity', async () => {
  const dir2 = join(root, 'data2');
  const idOf = async (p: Proc) => (await call(p, 'GET', '/v1/health')).json().id as string;
  let p = await startDataServer({ dir: dir2, secretFile, blockSizeBytes: BLOCK_SIZE_BYTES, index: 2 });
  procs.push(p);
  const id1 = await idOf(p);
  const blocks = [block(100), block(2000), block(BLOCK_SIZE_BYTES)];
  for (const b of blocks) assert.equal((await call(p, 'PUT', `/v1/blocks/${b.hash}?sync=1`, { body: b.bytes })).status, 201);
  await p.kill();

  p = await startDataServer({ dir: dir2, secretFile, blockSizeBytes: BLOCK_SIZE_BYTES, index: 2 });
  procs.push(p);
  assert.equal(await idOf(p), id1);
  const inv = await inventory(p);
  for (const b of blocks) {
    assert.equal(inv.get(b.hash), b.bytes.length);
    assert.ok((await call(p, 'GET', `/v1/blocks/${b.hash}`)).bytes.equals(b.bytes));
  }
  await p.stop();
  assert.equal(p.child.exitCode, 0, 'SIGTERM must end the server with exit code 0');

  rmSync(dir2, { recursive: true, force: true });
  p = await startDataServer({ dir: dir2, secretFile, blockSizeBytes: BLOCK_SIZE_BYTES, index: 2 });
  procs.push(p);
  const id2 = await idOf(p);
  assert.match(id2, UUID_RE);
  assert.notEqual(id2, id1);
  assert.equal((await inventory(p)).size, 0);
  await p.kill();
});
