// A blank data server rebuilt from its peers at scale: 200 MiB (200 blocks of 1 MiB) on N=3, one
// server wiped and restarted with an empty data directory. Progress (blocks and bytes done of total,
// rate, ETA) must be visible in GET /v1/admin/status (what `quorumfs status` shows) while the
// rebuild runs, the rebuild must finish within REBUILD_BOUND_MS, and afterwards the rebuilt server
// must hold exactly what the others hold, every copy verified.
// QFS_REBUILD_MIB changes the amount of data (CI keeps 200, the size the issue asks for).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { adminStatus, inventoryOf, verifyStatus, waitFor } from './helpers/healing.js';
import type { RecoveryStatus } from '../src/repair/status-types.js';

const MIB = 1024 * 1024;
const DATA_MIB = Number(process.env.QFS_REBUILD_MIB ?? 200);
const FILE_MIB = 10;
/**
 * At the default repair cap (64 MB/s) 200 MiB take ~3.5 s; measured 3-8 s on a shared 2-core VM.
 * The bound leaves room for a machine many times slower, not for a rebuild that stalls.
 */
const REBUILD_BOUND_MS = 90_000;

let cluster: TestCluster | undefined;

after(async () => {
  await cluster?.stop();
});

test(`a blank server is rebuilt with ${DATA_MIB} MiB, progress visible, inventory equal to its peers'`, { timeout: 5 * 60_000 }, async () => {
  // The metadata server's defaults for repair (concurrency 4, 64 MB/s): what an operator gets.
  cluster = await startTestCluster({ replicas: 3, writeQuorum: 3, readQuorum: 2, blockSizeBytes: MIB }, {
    dataMeta: true, metaArgs: ['--down-after-ms', '1500'], dataArgs: ['--scrub-rate-mb-per-s', '0'],
  });
  const c = cluster;
  await waitFor('all data servers up', async () => (await adminStatus(c.metaUrl, c.secret)).servers.every((s) => s.state === 'up'), 10_000);
  const client = await c.client({ writeWaitMs: 30_000 });
  for (let i = 0; i * FILE_MIB < DATA_MIB; i++) {
    const path = `/r${String(i).padStart(3, '0')}`;
    await client.meta.create({ path, mode: 0o644, owner: { uid: 0, gid: 0 }, exclusive: false });
    const f = await client.open(path, { write: true, truncate: true });
    for (let b = 0; b < Math.min(FILE_MIB, DATA_MIB - i * FILE_MIB); b++) await f.write(b * MIB, randomBytes(MIB));
    await f.close();
  }
  const want = await inventoryOf(c.dataServers[0]!.url, c.secret);
  assert.equal(want.size, DATA_MIB, 'one block per MiB written');

  await c.kill(2);
  rmSync(c.dataDir(2), { recursive: true, force: true });
  const restartMs = Date.now();
  await c.restart(2);

  // Sampled like an operator watching `quorumfs status`: every sample while running is checked.
  const midway: RecoveryStatus[] = [];
  const impossible: RecoveryStatus[] = [];
  const done = await waitFor('rebuild finished', async () => {
    const r = (await adminStatus(c.metaUrl, c.secret)).recoveries.find((x) => x.server === 2 && x.kind === 'rebuild' && x.startedAtMs >= restartMs);
    if (!r) return undefined;
    if (r.finishedAtMs === null) {
      if (r.doneBlocks > r.totalBlocks || r.doneBytes > r.totalBytes) impossible.push(r);
      if (r.doneBlocks > 0 && r.doneBlocks < r.totalBlocks) midway.push(r);
      return undefined;
    }
    return r;
  }, REBUILD_BOUND_MS, 200);
  const seconds = (done.finishedAtMs! - done.startedAtMs) / 1000;

  assert.deepEqual(impossible, [], 'progress never goes past its total');
  assert.ok(midway.length > 0, 'progress was visible while the rebuild ran (a sample with 0 < done < total)');
  const m = midway[Math.floor(midway.length / 2)]!;
  assert.ok(m.doneBytes > 0 && m.doneBytes < m.totalBytes, `bytes done of total while running: ${JSON.stringify(m)}`);
  assert.ok(midway.some((x) => x.rateBytesPerS > 0 && x.etaMs !== null && x.etaMs > 0), `a rate and an ETA while running: ${JSON.stringify(midway)}`);
  assert.equal(done.totalBlocks, DATA_MIB);
  assert.equal(done.doneBlocks, done.totalBlocks);
  assert.equal(done.totalBytes, DATA_MIB * MIB);
  assert.match(c.meta.output(), /"msg":"rebuild finished"/, 'the rebuild is in the metadata server log');

  const rebuilt = await inventoryOf(c.dataServers[1]!.url, c.secret);
  for (const k of [1, 3]) {
    const peer = await inventoryOf(c.dataServers[k - 1]!.url, c.secret);
    assert.deepEqual([...rebuilt].sort(), [...peer].sort(), `server 2's inventory equals server ${k}'s`);
  }
  // Present is not enough: every rebuilt copy must re-hash to its name on the rebuilt server's disk.
  const statuses = await Promise.all([...rebuilt.keys()].map((h) => verifyStatus(c.dataServers[1]!.url, c.secret, h)));
  assert.deepEqual(statuses.filter((s) => s !== 200), [], 'every rebuilt copy verifies');
  console.log(`rebuild: ${done.totalBlocks} blocks, ${(done.totalBytes / MIB).toFixed(0)} MiB in ${seconds.toFixed(1)} s `
    + `(${(done.rateBytesPerS / MIB).toFixed(1)} MiB/s, cap 64 MB/s; ${((Date.now() - restartMs) / 1000).toFixed(1)} s from restart to verified); `
    + `${midway.length} samples midway, e.g. ${m.doneBlocks}/${m.totalBlocks} blocks, ETA ${m.etaMs} ms`);
});
