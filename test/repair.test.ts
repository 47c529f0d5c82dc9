// Self-healing with real processes: read repair, missed writes, scrubbing, blank-server rebuild with
// progress, garbage collection racing a commit, and a repair queue that survives a crash of the
// metadata server. Every wait is bounded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { MetaClient } from '../src/client/meta-client.js';
import { startTestCluster, type TestCluster, type TestClusterOptions } from './helpers/cluster.js';
import { blockPath, flipBytes, randomData, readWhole, sha, storedBlocks, writeWhole } from './helpers/files.js';
import { adminStatus, fileBlocks, putRaw, quarantinedCopies, verifyStatus, waitFor } from './helpers/healing.js';
import { startMetaServer } from './helpers/procs.js';
import type { RecoveryStatus } from '../src/repair/status-types.js';

const KIB = 1024;
const MIB = 1024 * KIB;
/** Fast failure detection and no background scrubbing unless a test wants it. */
const BASE: TestClusterOptions = { dataMeta: true, metaArgs: ['--down-after-ms', '1500'], dataArgs: ['--scrub-rate-mb-per-s', '0'] };

async function withCluster(cfg: Parameters<typeof startTestCluster>[0], opts: TestClusterOptions, body: (c: TestCluster) => Promise<void>): Promise<void> {
  const cluster = await startTestCluster(cfg, opts);
  try {
    await body(cluster);
  } finally {
    await cluster.stop();
  }
}

/** Waits until the metadata server has heard from every data server. */
async function allUp(c: TestCluster): Promise<void> {
  await waitFor('all data servers up', async () => (await adminStatus(c.metaUrl, c.secret)).servers.every((s) => s.state === 'up'), 5_000);
}

test('read repair: a corrupt copy met by a read is fixed server side within seconds', async () => {
  await withCluster({ replicas: 3, writeQuorum: 3, readQuorum: 1, blockSizeBytes: 64 * KIB }, BASE, async (c) => {
    await allUp(c);
    const client = await c.client();
    const data = randomData(256 * KIB);
    await writeWhole(client, '/f', data);
    const [h] = await fileBlocks(client, '/f');
    // Qr=1 reads the block from the server its name rotates to first; corrupt exactly that copy.
    const k = (parseInt(h!.slice(0, 8), 16) % 3) + 1;
    flipBytes(blockPath(c.dataDir(k), h!));
    assert.equal(sha(await readWhole(client, '/f')), sha(data), 'the read returns the right bytes');
    const readDoneMs = Date.now();
    await waitFor('repaired copy', async () => (await verifyStatus(c.dataServers[k - 1]!.url, c.secret, h!)) === 200, 5_000, 50);
    console.log(`read repair latency: ${Date.now() - readDoneMs} ms`);
    assert.equal(quarantinedCopies(c.dataDir(k), h!).length, 1, 'the corrupt copy is kept in quarantine');
  });
});

test('missed writes (Qw < N) are repaired once the server is back', async () => {
  await withCluster({ replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 64 * KIB }, BASE, async (c) => {
    await allUp(c);
    await c.kill(3);
    const client = await c.client();
    const data = randomData(MIB);
    await writeWhole(client, '/missed', data);
    const blocks = await fileBlocks(client, '/missed');
    assert.ok(blocks.every((h) => !storedBlocks(c.dataDir(3)).includes(h)), 'server 3 missed the write');
    await c.restart(3);
    await waitFor('3 copies of every block', () => {
      const on3 = new Set(storedBlocks(c.dataDir(3)));
      return blocks.every((h) => on3.has(h));
    }, 15_000);
    for (const h of blocks) assert.equal(await verifyStatus(c.dataServers[2]!.url, c.secret, h), 200);
  });
});

test('the scrubber finds a corrupt block nobody reads and it gets repaired', async () => {
  const opts = { ...BASE, dataArgs: ['--scrub-rate-mb-per-s', '64', '--scrub-interval-ms', '300'] };
  await withCluster({ replicas: 3, writeQuorum: 3, readQuorum: 2, blockSizeBytes: 64 * KIB }, opts, async (c) => {
    await allUp(c);
    const client = await c.client();
    await writeWhole(client, '/cold', randomData(512 * KIB));
    const blocks = await fileBlocks(client, '/cold');
    const h = blocks[3]!;
    flipBytes(blockPath(c.dataDir(2), h));
    // Not read by anyone: only the scrubber can notice. Checked on disk, not via verify, which would detect it itself.
    await waitFor('quarantined by the scrubber', () => quarantinedCopies(c.dataDir(2), h).length === 1, 10_000);
    await waitFor('repaired copy', async () => (await verifyStatus(c.dataServers[1]!.url, c.secret, h)) === 200, 5_000);
    const st = await adminStatus(c.metaUrl, c.secret);
    assert.ok(st.servers.find((s) => s.index === 2)?.scrub, 'heartbeats carry scrub progress');
  });
});

test('a source found without its copy during a repair is queued and refilled as well', async () => {
  await withCluster({ replicas: 3, writeQuorum: 3, readQuorum: 2, blockSizeBytes: 64 * KIB }, BASE, async (c) => {
    await allUp(c);
    const client = await c.client();
    await writeWhole(client, '/src', randomData(128 * KIB));
    const [h] = await fileBlocks(client, '/src');
    // Repair of server 3 asks servers 1 and 2 in an order rotated by the block name; the first one
    // asked loses its file behind its back (nothing notices: no reads, no scrubbing here).
    const first = [1, 2][parseInt(h!.slice(0, 8), 16) % 2]!;
    unlinkSync(blockPath(c.dataDir(first), h!));
    flipBytes(blockPath(c.dataDir(3), h!));
    await client.meta.reportFaults({ faults: [{ hash: h!, server: 3, reason: 'corrupt' }] });
    await waitFor('server 3 repaired from the other source', async () => (await verifyStatus(c.dataServers[2]!.url, c.secret, h!)) === 200, 10_000);
    await waitFor(`server ${first}, found missing on the way, refilled`, async () => (await verifyStatus(c.dataServers[first - 1]!.url, c.secret, h!)) === 200, 10_000);
  });
});

test('a blank server is rebuilt automatically, with progress in the status', async () => {
  // Rate-limited so that the rebuild of ~40 MiB lasts a few seconds and can be watched.
  const opts = { ...BASE, metaArgs: [...BASE.metaArgs!, '--repair-rate-mb-per-s', '12'] };
  await withCluster({ replicas: 3, writeQuorum: 3, readQuorum: 2, blockSizeBytes: 256 * KIB }, opts, async (c) => {
    await allUp(c);
    const client = await c.client({ writeWaitMs: 10_000 });
    const data = randomData(40 * MIB);
    await writeWhole(client, '/big', data);
    const want = storedBlocks(c.dataDir(1)).sort();
    assert.deepEqual(storedBlocks(c.dataDir(3)).sort(), want);
    await c.kill(2);
    rmSync(c.dataDir(2), { recursive: true, force: true });
    await c.restart(2);
    let midway: RecoveryStatus | undefined;
    const done = await waitFor('rebuild finished', async () => {
      const r = (await adminStatus(c.metaUrl, c.secret)).recoveries.find((x) => x.server === 2 && x.kind === 'rebuild');
      if (r && r.finishedAtMs === null && r.doneBlocks > 0 && r.doneBlocks < r.totalBlocks) midway ??= r;
      return r?.finishedAtMs ? r : undefined;
    }, 30_000, 150);
    assert.ok(midway, 'progress was visible while the rebuild ran');
    assert.equal(done.totalBlocks, want.length);
    console.log(`rebuild: ${done.totalBlocks} blocks, ${(done.totalBytes / MIB).toFixed(1)} MiB at ${(done.rateBytesPerS / MIB).toFixed(1)} MiB/s (rate-limited to 12 MB/s); midway ${midway!.doneBlocks}/${midway!.totalBlocks}`);
    assert.deepEqual(storedBlocks(c.dataDir(2)).sort(), want, 'inventory equal to the others');
    assert.equal(sha(await readWhole(client, '/big')), sha(data));
  });
});

test('garbage collection deletes unreferenced and leaked blocks, never a block a commit re-uses', async () => {
  const opts = { ...BASE, metaArgs: [...BASE.metaArgs!, '--gc-grace-ms', '1500'] };
  await withCluster({ replicas: 3, writeQuorum: 3, readQuorum: 2, blockSizeBytes: 64 * KIB }, opts, async (c) => {
    await allUp(c);
    const client = await c.client();
    const x = randomData(512 * KIB);
    const y = randomData(512 * KIB);
    const z = randomData(512 * KIB);
    await writeWhole(client, '/a', x);
    await writeWhole(client, '/c', x); // identical content: shares every block with /a
    await writeWhole(client, '/b', y);
    const yBlocks = await fileBlocks(client, '/b');
    await client.meta.unlink({ path: '/a' });
    await client.meta.unlink({ path: '/b' });
    // A leaked upload: stored everywhere, never reserved or committed.
    const leak = randomData(10 * KIB);
    for (const p of c.dataServers) await putRaw(p.url, c.secret, sha(leak), leak);
    // Z is written, dropped and written again across the grace period, racing GC's marks and deletes.
    const raceEndMs = Date.now() + 4_000;
    for (let i = 0; Date.now() < raceEndMs; i++) {
      await writeWhole(client, '/z', z);
      await client.meta.unlink({ path: '/z' });
      await new Promise((r) => setTimeout(r, 150 + (i % 4) * 120));
    }
    await writeWhole(client, '/e', z);
    const gone = (h: string) => [1, 2, 3].every((k) => !storedBlocks(c.dataDir(k)).includes(h));
    await waitFor('unreferenced and leaked blocks deleted everywhere', () => yBlocks.every(gone) && gone(sha(leak)), 10_000);
    await new Promise((r) => setTimeout(r, 2_000)); // another grace + pass: /e's blocks must survive it
    assert.equal(sha(await readWhole(client, '/c')), sha(x), 'the file sharing blocks with the deleted one still reads');
    assert.equal(sha(await readWhole(client, '/e')), sha(z), 'the block re-used during GC still reads');
    for (const h of [...(await fileBlocks(client, '/c')), ...(await fileBlocks(client, '/e'))]) {
      for (const k of [1, 2, 3]) assert.ok(storedBlocks(c.dataDir(k)).includes(h), `block ${h.slice(0, 8)} still on server ${k}`);
    }
    const gc = (await adminStatus(c.metaUrl, c.secret)).gc;
    assert.ok(gc.deletedBlocks >= yBlocks.length && gc.orphansDeleted >= 1, JSON.stringify(gc));
    // Y's blocks were collected for good. Written again, each upload made alongside its reservation
    // is redone once the reservation reports the finished deletion.
    const before = client.mediator.stats.reuploads;
    await writeWhole(client, '/y2', y);
    assert.ok(client.mediator.stats.reuploads - before >= yBlocks.length, `re-uploaded: ${client.mediator.stats.reuploads - before}`);
    assert.equal(sha(await readWhole(client, '/y2')), sha(y));
    for (const h of yBlocks) for (const k of [1, 2, 3]) assert.ok(storedBlocks(c.dataDir(k)).includes(h), `block ${h.slice(0, 8)} back on server ${k}`);
    // A small file's one block is uploaded without a reservation: its commit meets the finished
    // deletion of the same bytes (EAGAIN), and the writer writes it again under a reservation.
    const s = randomData(10 * KIB);
    await writeWhole(client, '/s', s);
    const [sBlock] = await fileBlocks(client, '/s');
    await client.meta.unlink({ path: '/s' });
    await waitFor('the small file\'s block deleted everywhere', () => gone(sBlock!), 10_000);
    const [reuploads, rewrites] = [client.mediator.stats.reuploads, client.mediator.stats.rewrites];
    await writeWhole(client, '/s2', s);
    assert.equal(client.mediator.stats.rewrites - rewrites, 1, 'written again once, under a reservation');
    assert.equal(client.mediator.stats.reuploads - reuploads, 1, 'which found the deletion finished');
    assert.equal(sha(await readWhole(client, '/s2')), sha(s));
    for (const k of [1, 2, 3]) assert.ok(storedBlocks(c.dataDir(k)).includes(sBlock!), `the small file's block back on server ${k}`);
    // The same bytes written right after their last file went (an unreferenced row, inside the
    // grace): the commit cannot tell this from a row another writer's reservation left after a
    // deletion, so it refuses too, and the block is written again under a reservation.
    const t = randomData(10 * KIB);
    await writeWhole(client, '/t', t);
    await client.meta.unlink({ path: '/t' });
    const beforeT = client.mediator.stats.rewrites;
    await writeWhole(client, '/t2', t);
    assert.equal(client.mediator.stats.rewrites - beforeT, 1);
    assert.equal(sha(await readWhole(client, '/t2')), sha(t));
  });
});

test('the repair queue survives a crash of the metadata server', async () => {
  await withCluster({ replicas: 3, writeQuorum: 3, readQuorum: 2, blockSizeBytes: 64 * KIB }, BASE, async (c) => {
    await allUp(c);
    const client = await c.client();
    await writeWhole(client, '/q', randomData(256 * KIB));
    const blocks = (await fileBlocks(client, '/q')).slice(0, 2);
    await c.kill(2);
    // Corrupt copies a reconciliation cannot see (they are in the inventory): only the queue knows.
    for (const h of blocks) flipBytes(blockPath(c.dataDir(2), h));
    await client.meta.reportFaults({ faults: blocks.map((hash) => ({ hash, server: 2, reason: 'corrupt' as const })) });
    await c.meta.kill();
    // Assigned to the cluster, so that stop() kills the restarted one.
    c.meta = await startMetaServer({ dbPath: join(c.dir, 'meta', 'meta.db'), secretFile: c.secretFile, port: c.meta.port, metaArgs: BASE.metaArgs });
    const admin = new MetaClient({ url: c.metaUrl, secret: c.secret });
    try {
      assert.equal((await admin.listFaults()).length, 2, 'faults still queued after kill -9');
      await c.restart(2);
      await waitFor('queue drained', async () => (await admin.listFaults()).length === 0, 10_000);
      for (const h of blocks) {
        assert.equal(await verifyStatus(c.dataServers[1]!.url, c.secret, h), 200);
        assert.equal(quarantinedCopies(c.dataDir(2), h).length, 1);
      }
    } finally {
      await admin.close();
    }
  });
});
