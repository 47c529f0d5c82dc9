// A write that lasts longer than the GC grace period: its early blocks are uploaded and reserved,
// but named by no file until the commit at close. Garbage collection must not take them meanwhile.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster } from './helpers/cluster.js';
import { randomData, readWhole, sha, storedBlocks } from './helpers/files.js';

const KIB = 1024;
const BLOCK = 64 * KIB;
const GRACE_MS = 1_500;

async function slowWrite(refreshMs: string): Promise<{ closed: Error | null; data: Buffer; read: () => Promise<Buffer>; early: string[]; stop: () => Promise<void> }> {
  process.env.QUORUMFS_RESERVATION_REFRESH_MS = refreshMs;
  const c = await startTestCluster(
    { replicas: 3, writeQuorum: 3, readQuorum: 2, blockSizeBytes: BLOCK },
    { dataMeta: true, metaArgs: ['--down-after-ms', '1500', '--gc-grace-ms', String(GRACE_MS)], dataArgs: ['--scrub-rate-mb-per-s', '0'] },
  );
  try {
    const client = await c.client();
    const data = randomData(3 * BLOCK);
    await client.meta.create({ path: '/long', mode: 0o644, owner: { uid: 0, gid: 0 }, exclusive: true });
    const f = await client.open('/long', { write: true });
    await f.write(0, data.subarray(0, 2 * BLOCK)); // two whole blocks: uploaded in the background
    const deadline = Date.now() + 10_000;
    while (storedBlocks(c.dataDir(1)).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const before = new Set(storedBlocks(c.dataDir(1)));
    // Several grace periods pass before the rest arrives and the file is committed.
    await new Promise((r) => setTimeout(r, 4 * GRACE_MS + 2_000));
    await f.write(2 * BLOCK, data.subarray(2 * BLOCK));
    let closed: Error | null = null;
    await f.close().catch((err: Error) => { closed = err; });
    const early = [...before];
    return { closed, data, read: () => readWhole(client, '/long'), early, stop: () => c.stop() };
  } catch (err) {
    await c.stop();
    throw err;
  } finally {
    delete process.env.QUORUMFS_RESERVATION_REFRESH_MS;
  }
}

test('blocks of a write slower than the GC grace period survive until its commit', async () => {
  const w = await slowWrite('300');
  try {
    assert.equal(w.closed, null, `close failed: ${String(w.closed)}`);
    assert.equal(sha(await w.read()), sha(w.data));
  } finally {
    await w.stop();
  }
});

test('control: without renewed reservations GC takes the early blocks and the commit is refused', async () => {
  const w = await slowWrite('3600000');
  try {
    assert.ok(w.early.length >= 2, 'the early blocks had been uploaded before the pause');
    // GC took them (several grace periods passed): the commit is refused rather than pointing the
    // file at deleted blocks.
    assert.ok(w.closed, 'close failed');
    assert.match(String(w.closed), /garbage-collected|EAGAIN/);
  } finally {
    await w.stop();
  }
});
