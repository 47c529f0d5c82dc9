// Two mounts of one cluster (two processes, as on two machines): close-to-open consistency. A file
// closed on one mount is seen whole by an open on the other, in both directions, at once (no
// waiting out a cache), and namespace changes show up on the other side immediately.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { bash, startMount, unmountAll, type TestMount } from './helpers/fuse.js';

let cluster: TestCluster;
let a: TestMount;
let b: TestMount;

before(async () => {
  cluster = await startTestCluster({ replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 64 * 1024 });
  [a, b] = await Promise.all([
    startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile }),
    startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile }),
  ]);
});

after(async () => {
  await unmountAll();
  await cluster?.stop();
});

test('a file closed on one mount is seen whole by an open on the other, both directions', async () => {
  const name = 'shared.bin';
  // Sizes go up and down so that a stale cached size on the reader would cut or pad the content.
  const sizes = [10, 200_000, 3, 1_000_000, 65_536, 0, 131_073, 17];
  for (let i = 0; i < sizes.length; i++) {
    const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
    const data = randomBytes(sizes[i]!);
    await fs.writeFile(join(writer.mountpoint, name), data);
    // Writing nothing is the README's one exception ("Guarantees and limits"): the truncation is
    // committed at the last descriptor's RELEASE, just after close(2) returned. Allowed a moment.
    if (data.length === 0) await waitForSize(join(reader.mountpoint, name), 0, 2_000);
    const got = await fs.readFile(join(reader.mountpoint, name));
    assert.equal(got.length, data.length, `round ${i}: size seen on the other mount`);
    assert.ok(got.equals(data), `round ${i}: content seen on the other mount`);
    assert.equal((await fs.stat(join(reader.mountpoint, name))).size, data.length);
  }
});

async function waitForSize(path: string, size: number, withinMs: number): Promise<void> {
  const deadline = Date.now() + withinMs;
  while ((await fs.stat(path)).size !== size && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

test('a reader that opened before the writer closed keeps a consistent version', async () => {
  const p = 'versions.txt';
  const v1 = Buffer.alloc(300_000, 'a');
  const v2 = Buffer.alloc(150_000, 'b');
  await fs.writeFile(join(a.mountpoint, p), v1);
  const r = await fs.open(join(b.mountpoint, p), 'r');
  try {
    await fs.writeFile(join(a.mountpoint, p), v2);
    // Whatever the open reader sees, it is one version, never a mix.
    const got = await r.readFile();
    assert.ok(got.equals(v1) || got.equals(v2), `reader saw a mix: ${got.length} bytes`);
  } finally {
    await r.close();
  }
  assert.ok((await fs.readFile(join(b.mountpoint, p))).equals(v2), 'a new open sees the new version');
});

test('writes are not visible on the other mount before close, and whole after', async () => {
  const p = 'pending.txt';
  await fs.writeFile(join(a.mountpoint, p), 'old');
  const h = await fs.open(join(a.mountpoint, p), 'r+');
  try {
    await h.write('NEWER CONTENT', 0);
    assert.equal(await fs.readFile(join(b.mountpoint, p), 'utf8'), 'old');
  } finally {
    await h.close();
  }
  assert.equal(await fs.readFile(join(b.mountpoint, p), 'utf8'), 'NEWER CONTENT');
});

test('namespace changes on one mount show on the other at once', async () => {
  await fs.mkdir(join(a.mountpoint, 'd1'));
  await fs.writeFile(join(a.mountpoint, 'd1', 'x'), 'x');
  assert.deepEqual(await fs.readdir(join(b.mountpoint, 'd1')), ['x']);
  await fs.rename(join(b.mountpoint, 'd1', 'x'), join(b.mountpoint, 'd1', 'y'));
  assert.deepEqual(await fs.readdir(join(a.mountpoint, 'd1')), ['y']);
  await assert.rejects(fs.stat(join(a.mountpoint, 'd1', 'x')), { code: 'ENOENT' });
  assert.equal(await fs.readFile(join(a.mountpoint, 'd1', 'y'), 'utf8'), 'x');
  await fs.unlink(join(a.mountpoint, 'd1', 'y'));
  await assert.rejects(fs.stat(join(b.mountpoint, 'd1', 'y')), { code: 'ENOENT' });
  await fs.rmdir(join(b.mountpoint, 'd1'));
  await assert.rejects(fs.stat(join(a.mountpoint, 'd1')), { code: 'ENOENT' });
  // A name that did not exist a moment ago (no negative caching).
  await fs.writeFile(join(b.mountpoint, 'late'), 'here');
  assert.equal(await fs.readFile(join(a.mountpoint, 'late'), 'utf8'), 'here');
});

test('a directory replaced on one mount is the new one on the other at once, although directories are cached', async () => {
  // The kernel keeps directory entries for the metadata lease; the change feed makes it forget
  // them before a change elsewhere is acknowledged (src/fuse/kernel/session.ts forgetChanged).
  for (let round = 0; round < 5; round++) {
    const [w, r] = round % 2 === 0 ? [a, b] : [b, a];
    const x = (m: TestMount, ...p: string[]) => join(m.mountpoint, 'swap', ...p);
    await fs.mkdir(x(w, 'cur'), { recursive: true });
    await fs.writeFile(x(w, 'cur', `old${round}`), 'old');
    assert.deepEqual(await fs.readdir(x(r, 'cur')), [`old${round}`]);
    const before = (await fs.stat(x(r, 'cur'))).ino;
    await fs.rename(x(w, 'cur'), x(w, `was${round}`));
    await fs.mkdir(x(w, 'cur'));
    await fs.writeFile(x(w, 'cur', `new${round}`), 'new');
    const now = (await fs.stat(x(w, 'cur'))).ino;
    assert.notEqual(now, before);
    assert.equal((await fs.stat(x(r, 'cur'))).ino, now, `round ${round}: the other mount sees the new directory`);
    assert.deepEqual(await fs.readdir(x(r, 'cur')), [`new${round}`]);
    assert.equal(await fs.readFile(x(r, `was${round}`, `old${round}`), 'utf8'), 'old');
    // Now a file under the name: a cached directory entry would make stat fail with ENOENT.
    await fs.rm(x(w, 'cur'), { recursive: true });
    await fs.writeFile(x(w, 'cur'), `file${round}`);
    assert.ok((await fs.stat(x(r, 'cur'))).isFile(), `round ${round}: the other mount sees a file`);
    assert.equal(await fs.readFile(x(r, 'cur'), 'utf8'), `file${round}`);
    await fs.unlink(x(w, 'cur'));
    await assert.rejects(fs.stat(x(r, 'cur')), { code: 'ENOENT' });
  }
});

test('a file name replaced or removed on one mount, or linked there, shows on the other at once', async () => {
  // Guards any caching of file names or attributes in the kernel (session.ts timeouts()): with
  // names kept for the lease and no invalidation of files in forgetChanged, this fails.
  const x = (m: TestMount, n: string) => join(m.mountpoint, 'names', n);
  await fs.mkdir(x(a, ''), { recursive: true });
  for (let round = 0; round < 5; round++) {
    const [w, r] = round % 2 === 0 ? [a, b] : [b, a];
    await fs.writeFile(x(w, 'f'), `first ${round}`);
    await fs.writeFile(x(w, 'g'), `second ${round}`);
    const first = (await fs.stat(x(r, 'f'))).ino;
    assert.equal(await fs.readFile(x(r, 'f'), 'utf8'), `first ${round}`);
    // Replaced by another file (another inode) under the same name.
    await fs.rename(x(w, 'g'), x(w, 'f'));
    const st = await fs.stat(x(r, 'f'));
    assert.notEqual(st.ino, first, `round ${round}: the other mount sees the new file, not its cached entry`);
    assert.equal(await fs.readFile(x(r, 'f'), 'utf8'), `second ${round}`);
    await assert.rejects(fs.stat(x(r, 'g')), { code: 'ENOENT' });
    // A hard link made elsewhere, then the original name removed there.
    await fs.link(x(w, 'f'), x(w, 'h'));
    assert.equal((await fs.stat(x(r, 'h'))).nlink, 2);
    await fs.unlink(x(w, 'f'));
    await assert.rejects(fs.stat(x(r, 'f')), { code: 'ENOENT' });
    assert.equal((await fs.stat(x(r, 'h'))).nlink, 1);
    await fs.unlink(x(w, 'h'));
    await assert.rejects(fs.readFile(x(r, 'h')), { code: 'ENOENT' });
  }
});

test("attributes one mount's kernel caches follow changes made on the other at once", async () => {
  // Under the metadata lease the kernel keeps file attributes; each stat below would show the
  // previous state if the change feed did not make it forget them before the change returned.
  const pa = join(a.mountpoint, 'attrs.txt');
  const pb = join(b.mountpoint, 'attrs.txt');
  await fs.writeFile(pa, 'one');
  const seen = async (p = pb) => {
    const st = await fs.stat(p);
    return { size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, nlink: st.nlink };
  };
  assert.equal((await seen()).size, 3);
  await fs.writeFile(pa, 'sixteen bytes!!!');
  assert.equal((await seen()).size, 16, 'content committed on the other mount');
  await fs.chmod(pa, 0o600);
  assert.equal((await seen()).mode, 0o600, 'chmod');
  await fs.utimes(pa, 1_000, 2_000);
  assert.equal((await seen()).mtimeMs, 2_000_000, 'utimes');
  await fs.truncate(pa, 5);
  assert.equal((await seen()).size, 5, 'truncate');
  // Written in place (no truncation): the commit names the inode, not the path.
  const w = await fs.open(pa, 'r+');
  await w.write('more', 5);
  await w.close();
  assert.equal((await seen()).size, 9, 'appended in place');
  await fs.link(pa, join(a.mountpoint, 'attrs-link.txt'));
  assert.equal((await seen()).nlink, 2, 'a second name');
  await fs.unlink(join(a.mountpoint, 'attrs-link.txt'));
  assert.equal((await seen()).nlink, 1, 'the second name removed');
  // fstat of a descriptor opened before the change, then a read through a new open.
  const h = await fs.open(pb, 'r');
  try {
    await fs.writeFile(pa, Buffer.alloc(70_000, 'z'));
    assert.equal((await h.stat()).size, 70_000, 'fstat of a descriptor held open');
  } finally {
    await h.close();
  }
  assert.equal((await fs.readFile(pb)).length, 70_000);
  // A file replaced by a rename: the name shows the new file's attributes.
  await fs.writeFile(join(a.mountpoint, 'attrs-new.txt'), 'replacement');
  await fs.rename(join(a.mountpoint, 'attrs-new.txt'), pa);
  assert.equal((await seen()).size, 11, 'replaced by rename');
  assert.equal(await fs.readFile(pb, 'utf8'), 'replacement');
});

test('an append on one mount lands after what the other mount appended, with the name cached', async () => {
  // O_APPEND writes at the size the kernel holds, without asking: a cached name must not keep an
  // old size once the other mount's append returned.
  const pa = join(a.mountpoint, 'log.txt');
  const pb = join(b.mountpoint, 'log.txt');
  await fs.writeFile(pa, 'a1\n');
  await fs.stat(pb);
  // Each append opens through a name its mount's kernel has cached since its last append.
  for (let i = 0; i < 3; i++) {
    await fs.appendFile(pb, `b${i}\n`);
    await fs.appendFile(pa, `a${i + 2}\n`);
  }
  const want = 'a1\nb0\na2\nb1\na3\nb2\na4\n';
  assert.equal(await fs.readFile(pa, 'utf8'), want);
  assert.equal(await fs.readFile(pb, 'utf8'), want);
});

test('a shell overwriting a file on one mount never shows the other mount an empty or torn file', async () => {
  await fs.writeFile(join(a.mountpoint, 'echo.txt'), 'start\n');
  // `echo x > f` opens with O_TRUNC and closes a dup of the descriptor before writing.
  const writer = bash('for i in $(seq 1 80); do echo "content number $i" > echo.txt; done', a.mountpoint);
  const reader = bash('for i in $(seq 1 300); do cat echo.txt; echo "|"; done', b.mountpoint);
  const [w, r] = await Promise.all([writer, reader]);
  assert.equal(w.code, 0, w.stderr);
  assert.equal(r.code, 0, r.stderr);
  const seen = r.stdout.split('|\n').slice(0, -1);
  assert.equal(seen.length, 300);
  for (const s of seen) assert.match(s, /^(start|content number \d+)\n$/, `the other mount read ${JSON.stringify(s)}`);
});
