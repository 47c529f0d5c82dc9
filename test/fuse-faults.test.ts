// Data servers SIGKILLed while files are open on a mount: reads below Qr and writes below Qw fail
// with EIO after the bound, the mount itself stays alive, and everything works again once the
// servers are back.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { startMount, unmountAll, type TestMount } from './helpers/fuse.js';

let cluster: TestCluster;
let m: TestMount;
const WRITE_WAIT_MS = 1_000;

before(async () => {
  cluster = await startTestCluster({ replicas: 3, writeQuorum: 3, readQuorum: 2, blockSizeBytes: 64 * 1024 });
  process.env.QUORUMFS_WRITE_WAIT_MS = String(WRITE_WAIT_MS);
  m = await startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile });
});

after(async () => {
  await unmountAll();
  await cluster?.stop();
});

async function code(p: Promise<unknown>): Promise<string> {
  return p.then(() => 'ok', (e: NodeJS.ErrnoException) => e.code ?? String(e));
}

test('servers killed with files open: EIO below the quorums, the mount survives and recovers', async () => {
  const f = join(m.mountpoint, 'f.bin');
  const data = randomBytes(200_000);
  await fs.writeFile(f, data);
  const writer = await fs.open(join(m.mountpoint, 'g.bin'), 'w');

  await cluster.kill(1);
  // 2 of 3 up: reads (Qr=2) go on; a write (Qw=3) fails with EIO at close, after the wait bound.
  assert.ok((await fs.readFile(f)).equals(data), 'read with one server down');
  await writer.write(randomBytes(100_000));
  const t0 = Date.now();
  assert.equal(await code(writer.close()), 'EIO', 'close of a write below Qw');
  assert.ok(Date.now() - t0 < WRITE_WAIT_MS + 15_000, `close took ${Date.now() - t0} ms`);
  assert.equal((await fs.stat(join(m.mountpoint, 'g.bin'))).size, 0, 'nothing of the failed write became visible');
  assert.equal(await code(fs.writeFile(join(m.mountpoint, 'h.bin'), 'x')), 'EIO', 'a new write below Qw');

  await cluster.kill(2);
  // 1 of 3 up: below Qr, reads fail with EIO; metadata operations still work.
  assert.equal(await code(fs.readFile(f)), 'EIO', 'read below Qr');
  assert.equal((await fs.stat(f)).size, data.length);
  assert.ok((await fs.readdir(m.mountpoint)).includes('f.bin'));

  await cluster.restart(1);
  await cluster.restart(2);
  assert.ok((await fs.readFile(f)).equals(data), 'read after the servers returned');
  const again = randomBytes(150_000);
  await fs.writeFile(join(m.mountpoint, 'g.bin'), again);
  assert.ok((await fs.readFile(join(m.mountpoint, 'g.bin'))).equals(again), 'write after the servers returned');
});
