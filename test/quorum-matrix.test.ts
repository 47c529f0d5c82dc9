// The report's quorum tables as real faults: N=5, Qw=5, Qr=1..5, with k data servers SIGKILLed or
// with k servers' block files corrupted on disk. DESIGN.md's rules predict every cell: a write
// succeeds iff at least Qw servers are up; a read iff at least Qr servers hold a good copy.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { writeWhole, readWhole, randomData, blockPath, flipBytes } from './helpers/files.js';
import { MetaClient } from '../src/client/meta-client.js';
import { FsError } from '../src/common/errors.js';

const N = 5;
const QW = 5;
const BLOCK = 64 * 1024;
const WRITE_WAIT_MS = 800;
const clusters: TestCluster[] = [];
after(async () => { await Promise.all(clusters.map((c) => c.stop())); });

async function expectEio(p: Promise<unknown>, what: string, boundMs: number): Promise<string> {
  const t0 = Date.now();
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof FsError, `${what}: expected an EIO failure, got ${err === null ? 'success' : String(err)}`);
  assert.equal(err.code, 'EIO', `${what}: ${err.message}`);
  assert.ok(Date.now() - t0 < boundMs, `${what}: took ${Date.now() - t0} ms, bound ${boundMs}`);
  assert.ok(!err.message.includes('\n'), 'error is one line');
  return err.message;
}

for (let qr = 1; qr <= 5; qr++) {
  test(`crash matrix N=${N} Qw=${QW} Qr=${qr}: k of 5 servers killed`, async () => {
    const cl = await startTestCluster({ replicas: N, writeQuorum: QW, readQuorum: qr, blockSizeBytes: BLOCK });
    clusters.push(cl);
    const c = await cl.client({ writeWaitMs: WRITE_WAIT_MS });
    const data = randomData(3 * BLOCK + 123);
    await writeWhole(c, '/a.txt', data);
    for (let k = 0; k <= 5; k++) {
      if (k > 0) await cl.kill(k);
      const up = N - k;
      // Read: succeeds iff at least Qr servers hold a good copy.
      if (up >= qr) assert.deepEqual(await readWhole(c, '/a.txt'), data, `read with ${k} killed`);
      else await expectEio(readWhole(c, '/a.txt'), `read with ${k} killed`, 10_000);
      // Write: succeeds iff at least Qw servers are up; a failed write leaves the old content.
      const fresh = randomData(BLOCK + 7);
      if (up >= QW) {
        await writeWhole(c, `/w${k}`, fresh);
        assert.deepEqual(await readWhole(c, `/w${k}`), fresh);
      } else {
        const msg = await expectEio(writeWhole(c, '/a.txt', fresh), `write with ${k} killed`, WRITE_WAIT_MS + 10_000);
        assert.match(msg, /write quorum not met/);
        const layout = await c.meta.getLayout({ ino: (await c.meta.lookup({ path: '/a.txt' })).ino });
        assert.equal(layout.size, data.length, 'failed write left the committed size unchanged');
      }
    }
    // Servers come back: reads and writes work again.
    for (let k = 1; k <= 5; k++) await cl.restart(k);
    assert.deepEqual(await readWhole(c, '/a.txt'), data);
    await writeWhole(c, '/after', data);
    assert.deepEqual(await readWhole(c, '/after'), data);
    await cl.stop();
    clusters.splice(clusters.indexOf(cl), 1);
  });
}

test(`corruption matrix N=${N} Qw=${QW} Qr=1..5: k servers' block files flipped on disk`, async () => {
  const cl = await startTestCluster({ replicas: N, writeQuorum: QW, readQuorum: 1, blockSizeBytes: BLOCK });
  clusters.push(cl);
  const admin = new MetaClient({ url: cl.metaUrl, secret: cl.secret });
  try {
    for (let qr = 1; qr <= 5; qr++) {
      // Qr is applied by the client; a client may ask for any Qr with Qr + Qw > N.
      const c = await cl.client({ writeWaitMs: WRITE_WAIT_MS, readQuorum: qr });
      for (let k = 0; k <= 5; k++) {
        const path = `/c-${qr}-${k}`;
        const data = randomData(2 * BLOCK + 99);
        await writeWhole(c, path, data);
        const { ino } = await c.meta.lookup({ path });
        const blocks = (await c.meta.getLayout({ ino })).blocks.filter((b): b is string => b !== null);
        for (let s = 1; s <= k; s++) for (const h of blocks) flipBytes(blockPath(cl.dataDir(s), h));
        if (N - k >= qr) assert.deepEqual(await readWhole(c, path), data, `Qr=${qr}, ${k} corrupted: read must succeed with the right bytes`);
        else await expectEio(readWhole(c, path), `Qr=${qr}, ${k} corrupted`, 10_000);
        // Corrupt copies are reported to the metadata server, and only those.
        await new Promise((r) => setTimeout(r, 100));
        const faults = (await admin.listFaults(10_000)).filter((f) => blocks.includes(f.hash));
        for (const f of faults) {
          assert.ok(f.server >= 1 && f.server <= k, `fault reported for a healthy server ${f.server}`);
          assert.equal(f.reason, 'corrupt');
        }
        if (N - k < qr && k > 0) assert.ok(faults.length > 0, `Qr=${qr}, ${k} corrupted: failed read reported its corrupt copies`);
      }
    }
  } finally {
    await admin.close();
  }
});
