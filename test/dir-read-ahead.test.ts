// Read-ahead across a directory's files (src/client/dir-read-ahead.ts) against a real cluster: a
// reader going through a directory in order gets the next files' blocks fetched ahead, they serve
// its opens for FRESH_MS at most, and every byte it reads is the file's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectClient } from '../src/client/connect.js';
import type { CachingMeta } from '../src/client/meta-cache.js';
import { READ_AHEAD_FILES } from '../src/client/dir-read-ahead.js';
import { startTestCluster } from './helpers/cluster.js';
import { randomData, readWhole, writeWhole } from './helpers/files.js';
import { waitFor } from './helpers/healing.js';
import { setTimeout as sleep } from 'node:timers/promises';

test('reading a directory in order: the next files are read ahead, serve the opens, and no byte is wrong', async () => {
  const cluster = await startTestCluster({ replicas: 3, writeQuorum: 3, readQuorum: 1, blockSizeBytes: 64 * 1024 });
  const client = await connectClient({ metaUrl: cluster.metaUrl, secret: cluster.secret, cacheMetadata: true, writeWaitMs: 1_000, requestTimeoutMs: 5_000 });
  try {
    await waitFor('the metadata cache', () => (client.meta as CachingMeta).active, 5_000, 20);
    const ahead = client.readAhead!;
    await client.meta.mkdir({ path: '/d', mode: 0o755, owner: { uid: 0, gid: 0 } });
    // Small files and one of three blocks (only its first block is read ahead).
    const files = Array.from({ length: 14 }, (_, i) => ({ path: `/d/f${String(i).padStart(2, '0')}`, data: randomData(i === 4 ? 150_000 : 3000 + i) }));
    for (const f of files) await writeWhole(client, f.path, f.data);
    await client.meta.readdir({ path: '/d' });

    assert.deepEqual(await readWhole(client, files[0]!.path), files[0]!.data);
    assert.equal(ahead.fetched, 0, 'one open is not a sequence');
    assert.deepEqual(await readWhole(client, files[1]!.path), files[1]!.data);
    assert.equal(ahead.fetched, READ_AHEAD_FILES, 'the second open in order reads ahead');
    await ahead.idle();

    // With every data server gone, the files read ahead still open and read right (for FRESH_MS),
    // the multi-block file up to its first block only, and the first file not read ahead fails.
    for (const k of [1, 2, 3]) await cluster.kill(k);
    for (const f of files.slice(2, 2 + READ_AHEAD_FILES)) {
      if (f.data.length > 64 * 1024) {
        const h = await client.open(f.path, { write: false });
        assert.deepEqual(await h.read(0, 64 * 1024), f.data.subarray(0, 64 * 1024));
        await assert.rejects(h.read(64 * 1024, 1), { code: 'EIO' });
        await h.close();
        continue;
      }
      assert.deepEqual(await readWhole(client, f.path), f.data);
    }
    assert.equal(ahead.served, READ_AHEAD_FILES);
    await assert.rejects(readWhole(client, files[2 + READ_AHEAD_FILES]!.path), { code: 'EIO' });
  } finally {
    await client.close();
    await cluster.stop();
  }
});

test('a block read ahead no longer serves an open once it is older than its freshness limit', async () => {
  const freshMs = 300;
  const cluster = await startTestCluster({ replicas: 3, writeQuorum: 3, readQuorum: 1 });
  const client = await connectClient({ metaUrl: cluster.metaUrl, secret: cluster.secret, cacheMetadata: true, writeWaitMs: 1_000, requestTimeoutMs: 5_000, readAheadFreshMs: freshMs });
  try {
    await waitFor('the metadata cache', () => (client.meta as CachingMeta).active, 5_000, 20);
    const ahead = client.readAhead!;
    await client.meta.mkdir({ path: '/d', mode: 0o755, owner: { uid: 0, gid: 0 } });
    const files = Array.from({ length: 4 }, (_, i) => ({ path: `/d/f${i}`, data: randomData(2000 + i) }));
    for (const f of files) await writeWhole(client, f.path, f.data);
    await client.meta.readdir({ path: '/d' });
    assert.deepEqual(await readWhole(client, files[0]!.path), files[0]!.data);
    assert.deepEqual(await readWhole(client, files[1]!.path), files[1]!.data);
    assert.equal(ahead.fetched, 2, 'the two files after the second open are read ahead');
    await ahead.idle();
    await sleep(freshMs + 200);
    // The copies the read-ahead confirmed are gone: an open must ask the servers again, and fail.
    for (const k of [1, 2, 3]) await cluster.kill(k);
    await assert.rejects(readWhole(client, files[2]!.path), { code: 'EIO' });
    assert.equal(ahead.served, 0);
  } finally {
    await client.close();
    await cluster.stop();
  }
});
