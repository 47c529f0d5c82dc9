// The data server's self-healing side with real processes: POST /v1/blocks/<hash>/fetch between two
// servers, and heartbeats plus scrubber reports sent to a stand-in metadata server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { startDataServer, makeSecret, tempDir, freePort, type Proc } from './helpers/procs.js';
import { blockPath, flipBytes, randomData, sha } from './helpers/files.js';
import { putRaw, quarantinedCopies, verifyStatus, waitFor } from './helpers/healing.js';
import type { Heartbeat } from '../src/common/protocol.js';
import type { BlockFault } from '../src/meta/api.js';

const BLOCK = 64 * 1024;
const root = tempDir('qfs-ds-heal-');
const [secretFile, secret] = makeSecret(join(root, 'conf'));
const procs: Proc[] = [];
let fakeMeta: Server;
const heartbeats: Heartbeat[] = [];
const reported: BlockFault[] = [];

before(async () => {
  // Records what data servers send; answers like the metadata server does.
  fakeMeta = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      assert.equal(req.headers.authorization, `Bearer ${secret}`);
      if (req.url === '/v1/admin/heartbeat') heartbeats.push(JSON.parse(body) as Heartbeat);
      if (req.url === '/v1/meta/reportFaults') reported.push(...(JSON.parse(body) as { faults: BlockFault[] }).faults);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"result":{}}');
    });
  });
  await new Promise<void>((r) => fakeMeta.listen(0, '127.0.0.1', () => r()));
});

after(async () => {
  for (const p of procs) await p.kill();
  fakeMeta.close();
  rmSync(root, { recursive: true, force: true });
});

async function fetchOn(p: Proc, hash: string, from: unknown): Promise<{ status: number; body: any }> {
  const res = await request(`${p.url}/v1/blocks/${hash}/fetch`, {
    method: 'POST', body: JSON.stringify(from), headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
  });
  return { status: res.statusCode, body: await res.body.json() };
}

test('fetch: a server pulls a block from a peer, verified and durable; bad copies and requests are refused', async () => {
  const [a, b] = await Promise.all([1, 2].map((k) => startDataServer({ dir: join(root, `fetch-${k}`), secretFile, blockSizeBytes: BLOCK, index: k })));
  procs.push(a!, b!);
  const bytes = randomData(BLOCK);
  const h = sha(bytes);
  await putRaw(a!.url, secret, h, bytes);
  assert.deepEqual(await fetchOn(b!, h, { from: [a!.url] }), { status: 200, body: { size: BLOCK, from: a!.url } });
  assert.equal(await verifyStatus(b!.url, secret, h), 200);
  assert.deepEqual((await fetchOn(b!, h, { from: [a!.url] })).body, { size: BLOCK, from: 'local' }, 'a good local copy is kept');

  // The only peer's copy is corrupt, and the local one too: the local one is quarantined, nothing is stored.
  flipBytes(blockPath(join(root, 'fetch-1'), h));
  flipBytes(blockPath(join(root, 'fetch-2'), h));
  const r = await fetchOn(b!, h, { from: [a!.url] });
  assert.equal(r.status, 500);
  assert.equal(r.body.error.code, 'EIO');
  assert.equal(quarantinedCopies(join(root, 'fetch-2'), h).length, 1);
  assert.equal(await verifyStatus(b!.url, secret, h), 404);

  // Peers are tried in order until one has a good copy; the answer names those that had none and
  // why (a's corrupt copy was quarantined above, so it is missing now), for the repair queue.
  await putRaw(b!.url, secret, h, bytes);
  const c = await startDataServer({ dir: join(root, 'fetch-3'), secretFile, blockSizeBytes: BLOCK, index: 3 });
  procs.push(c);
  const nowhere = `http://127.0.0.1:${await freePort()}`;
  assert.deepEqual((await fetchOn(c, h, { from: [nowhere, a!.url, b!.url] })).body, {
    size: BLOCK, from: b!.url, failed: [{ peer: nowhere, failure: 'error' }, { peer: a!.url, failure: 'missing' }],
  });

  assert.equal((await fetchOn(c, h, { from: [] })).status, 400);
  assert.equal((await fetchOn(c, h, { from: ['file:///etc/passwd'] })).status, 400);
  assert.equal((await fetchOn(c, h, { nope: 1 })).status, 400);
});

test('heartbeats every second; the scrubber quarantines and reports corrupt and missing blocks', async () => {
  const port = await freePort();
  const address = fakeMeta.address();
  const metaUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  const dir = join(root, 'scrub');
  const p = await startDataServer({
    dir, secretFile, blockSizeBytes: BLOCK, index: 4, port,
    dataArgs: ['--meta', metaUrl, '--scrub-rate-mb-per-s', '50', '--scrub-interval-ms', '1500'],
  });
  procs.push(p);
  const blocks = await Promise.all(Array.from({ length: 6 }, async () => {
    const bytes = randomData(BLOCK);
    await putRaw(p.url, secret, sha(bytes), bytes);
    return sha(bytes);
  }));
  const hb = await waitFor('a heartbeat with the blocks', () => heartbeats.find((x) => x.index === 4 && x.blocks === 6), 5_000);
  assert.equal(hb.url, p.url);
  assert.match(hb.id, /^[0-9a-f-]{36}$/);
  assert.equal(hb.bytes, 6 * BLOCK);
  flipBytes(blockPath(dir, blocks[0]!));
  unlinkSync(blockPath(dir, blocks[1]!));
  await waitFor('both reported', () => reported.some((f) => f.hash === blocks[0] && f.reason === 'corrupt' && f.server === 4)
    && reported.some((f) => f.hash === blocks[1] && f.reason === 'missing' && f.server === 4), 10_000);
  assert.equal(quarantinedCopies(dir, blocks[0]!).length, 1, 'moved aside, not deleted');
  await waitFor('scrub progress and the smaller inventory in heartbeats', () => heartbeats.some((x) => x.index === 4 && x.blocks === 4 && (x.scrub?.corruptFound ?? 0) >= 1), 8_000);
  const seen = heartbeats.filter((x) => x.index === 4).length;
  await new Promise((r) => setTimeout(r, 2_100));
  assert.ok(heartbeats.filter((x) => x.index === 4).length - seen >= 2, 'about one heartbeat a second');
});
