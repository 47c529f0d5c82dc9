// Unlinks through a mount are answered at once and reach the metadata server in batches
// (src/client/unlink-queue.ts), under the server's unlink delegation. What must hold: the server
// has them before any later call of the mount is answered (rm -rf, then a name made again), before
// any other client's call is answered (the delegation is recalled), and one that cannot be made is
// reported by fsync of a directory, not lost silently.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { MetaClient } from '../src/client/meta-client.js';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { bash, startMount, unmountAll, type TestMount } from './helpers/fuse.js';
import { startMetaServer } from './helpers/procs.js';

let cluster: TestCluster;
let m: TestMount;
/** Asks the metadata server itself: no cache, no queue of the mount in between. */
let direct: MetaClient;

before(async () => {
  cluster = await startTestCluster({ replicas: 3, writeQuorum: 3, readQuorum: 1, blockSizeBytes: 64 * 1024 });
  m = await startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile });
  direct = new MetaClient({ url: cluster.metaUrl, secret: cluster.secret });
});

after(async () => {
  await direct?.close();
  await unmountAll();
  await cluster?.stop();
});

async function gone(path: string): Promise<boolean> {
  try {
    await direct.api.lookup({ path });
    return false;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return true;
    throw err;
  }
}

function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function restartMeta(): Promise<void> {
  await cluster.meta.kill();
  cluster.meta = await startMetaServer({ dbPath: join(cluster.dir, 'meta', 'meta.db'), secretFile: cluster.secretFile, port: cluster.meta.port });
}

test('rm -rf of a tree: the server holds none of it once rm returns, and its books balance', async () => {
  const tree = join(m.mountpoint, 'tree');
  for (let d = 0; d < 4; d++) {
    fs.mkdirSync(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 60; f++) fs.writeFileSync(join(tree, `d${d}`, `f${f}`), `file ${d}/${f}\n`);
  }
  fs.linkSync(join(tree, 'd0', 'f0'), join(m.mountpoint, 'kept-link'));
  const r = await bash('rm -rf tree', m.mountpoint);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(await gone('/tree'), 'the server still lists the tree');
  assert.deepEqual((await direct.api.readdir({ path: '/' })).map((e) => e.name), ['kept-link']);
  assert.equal((await direct.api.lookup({ path: '/kept-link' })).nlink, 1);
  assert.equal(fs.readFileSync(join(m.mountpoint, 'kept-link'), 'utf8'), 'file 0/0\n');
  assert.deepEqual((await direct.integrity()).problems, []);
  fs.unlinkSync(join(m.mountpoint, 'kept-link'));
});

test('a name unlinked and made again at once is the new file, here and on the server', async () => {
  const dir = join(m.mountpoint, 'again');
  fs.mkdirSync(dir);
  for (let i = 0; i < 40; i++) {
    const p = join(dir, `n${i % 4}`);
    fs.writeFileSync(p, `first ${i}`);
    fs.unlinkSync(p);
    assert.equal(fs.existsSync(p), false);
    fs.writeFileSync(p, `second ${i}`);
    assert.equal(fs.readFileSync(p, 'utf8'), `second ${i}`);
    assert.equal((await direct.api.lookup({ path: `/again/n${i % 4}` })).size, `second ${i}`.length);
  }
  // Unlink then rename onto the name, then readdir: each sees the unlinks done.
  fs.writeFileSync(join(dir, 'src'), 'moved');
  fs.unlinkSync(join(dir, 'n0'));
  fs.renameSync(join(dir, 'src'), join(dir, 'n0'));
  fs.unlinkSync(join(dir, 'n1'));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['n0', 'n2', 'n3']);
  assert.deepEqual((await direct.api.readdir({ path: '/again' })).map((e) => e.name).sort(), ['n0', 'n2', 'n3']);
  assert.equal(fs.readFileSync(join(dir, 'n0'), 'utf8'), 'moved');
});

test("a directory's times move with the unlinks in it, and match the server's once they are in", async () => {
  const dir = join(m.mountpoint, 'times');
  fs.mkdirSync(dir);
  for (let i = 0; i < 20; i++) fs.writeFileSync(join(dir, `f${i}`), 'x');
  const before = fs.statSync(dir).mtimeMs;
  await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 20; i++) {
    fs.unlinkSync(join(dir, `f${i}`));
    assert.ok(fs.statSync(dir).mtimeMs > before, `the directory's mtime did not move with unlink ${i}`);
  }
  assert.deepEqual(fs.readdirSync(dir), []);
  fsyncDir(dir);
  const here = fs.statSync(dir);
  const there = await direct.api.lookup({ path: '/times' });
  assert.equal(here.mtimeMs, there.mtimeMs);
  assert.equal(here.ctimeMs, there.ctimeMs);
});

test('another client sees an unlink the moment it is answered: the mount is recalled first', async () => {
  const dir = join(m.mountpoint, 'seen');
  fs.mkdirSync(dir);
  for (let i = 0; i < 30; i++) fs.writeFileSync(join(dir, `f${i}`), `${i}`);
  for (let i = 0; i < 30; i++) {
    fs.unlinkSync(join(dir, `f${i}`));
    // No lease, no cache: this asks the server, which first has the mount deliver what it answered.
    assert.ok(await gone(`/seen/f${i}`), `f${i} is still on the server after its unlink returned`);
  }
  assert.deepEqual((await direct.api.readdir({ path: '/seen' })).map((e) => e.name), []);
});

test('an unlink answered just before the metadata server died is not made, and fsync of the directory says so once', async () => {
  const dir = join(m.mountpoint, 'lost');
  fs.mkdirSync(dir);
  fs.writeFileSync(join(dir, 'f'), 'still here');
  fs.readdirSync(dir);
  // The last test's reads recalled the delegation; it comes back within two polls.
  await new Promise((r) => setTimeout(r, 500));
  // Stopped, the server still holds its connections: the mount's lease and delegation run on, so
  // the unlink is answered and its batch waits on the wire. Killed, it drops them: the batch fails
  // and the delegation is gone with the feed, so the unlink is given up, not made late.
  cluster.meta.child.kill('SIGSTOP');
  try {
    fs.unlinkSync(join(dir, 'f'));
  } finally {
    await restartMeta();
  }
  assert.throws(() => fsyncDir(dir), (err: NodeJS.ErrnoException) => err.code === 'EIO');
  fsyncDir(dir);
  assert.equal(await gone('/lost/f'), false);
  assert.equal(fs.readFileSync(join(dir, 'f'), 'utf8'), 'still here');
  assert.match(m.output(), /an unlink already answered could not be made/);
});
