// The mount as a user meets it: the report's Fig. 3 session through a real mount and a shell, the
// errno a program gets for the usual mistakes (the same as on a local disk), and the other POSIX
// operations (symlink, link, chmod, chown, utimens, rename over a target, statfs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { bash, startMount, unmountAll, type TestMount } from './helpers/fuse.js';
import { tempDir } from './helpers/procs.js';

let cluster: TestCluster;
let m: TestMount;

before(async () => {
  cluster = await startTestCluster({ replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 64 * 1024 });
  m = await startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile });
});

after(async () => {
  await unmountAll();
  await cluster?.stop();
});

test("the report's Fig. 3 session, verbatim, in a shell on the mount", async () => {
  const r = await bash('echo "1111">a.txt\ncat a.txt\nmkdir a\nls', m.mountpoint);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], '1111');
  assert.deepEqual(lines.slice(1).join(' ').split(/\s+/).filter(Boolean), ['a', 'a.txt']);
  // ls -C as on the report's terminal.
  assert.equal((await bash('ls -C', m.mountpoint)).stdout, 'a  a.txt\n');

  // The normal-state session: overwrite and read back.
  const o = await bash('echo "1234">a.txt\ncat a.txt\necho "5678">a.txt\ncat a.txt', m.mountpoint);
  assert.equal(o.stdout, '1234\n5678\n', o.stderr);
  const st = await fs.stat(join(m.mountpoint, 'a.txt'));
  assert.equal(st.size, 5);
  assert.ok(st.isFile());
  assert.ok((await fs.stat(join(m.mountpoint, 'a'))).isDirectory());
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

test('errno cases are the same as on a local disk', async () => {
  const local = tempDir('qfs-errno-');
  const roots = [join(m.mountpoint, 'errno'), local];
  const long = 'x'.repeat(256);
  const results: string[][] = [];
  for (const root of roots) {
    await fs.mkdir(root, { recursive: true });
    const p = (s: string) => join(root, s);
    await fs.writeFile(p('file'), 'data');
    await fs.mkdir(p('dir'));
    await fs.writeFile(p('dir/inner'), 'x');
    await fs.mkdir(p('empty'));
    const r: string[] = [];
    r.push(await codeOf(fs.stat(p('missing'))));                    // ENOENT
    r.push(await codeOf(fs.readFile(p('missing/x'))));              // ENOENT
    r.push(await codeOf(fs.writeFile(p('nodir/x'), 'x')));          // ENOENT
    r.push(await codeOf(fs.unlink(p('missing'))));                  // ENOENT
    r.push(await codeOf(fs.rename(p('missing'), p('x'))));          // ENOENT
    r.push(await codeOf(fs.mkdir(p('dir'))));                       // EEXIST
    r.push(await codeOf(fs.mkdir(p('file'))));                      // EEXIST
    r.push(await codeOf(fs.writeFile(p('file'), 'x', { flag: 'wx' }))); // EEXIST
    r.push(await codeOf(fs.link(p('file'), p('dir/inner'))));       // EEXIST
    r.push(await codeOf(fs.symlink('t', p('file'))));               // EEXIST
    r.push(await codeOf(fs.rmdir(p('dir'))));                       // ENOTEMPTY
    r.push(await codeOf(fs.rename(p('empty'), p('dir'))));          // ENOTEMPTY
    r.push(await codeOf(fs.writeFile(p('dir'), 'x')));              // EISDIR
    r.push(await codeOf(fs.readFile(p('dir'))));                    // EISDIR
    r.push(await codeOf(fs.unlink(p('dir'))));                      // EISDIR
    r.push(await codeOf(fs.rename(p('file'), p('empty'))));         // EISDIR
    r.push(await codeOf(fs.mkdir(p('file/sub'))));                  // ENOTDIR
    r.push(await codeOf(fs.readdir(p('file'))));                    // ENOTDIR
    r.push(await codeOf(fs.rmdir(p('file'))));                      // ENOTDIR
    r.push(await codeOf(fs.rename(p('empty'), p('file'))));         // ENOTDIR
    r.push(await codeOf(fs.stat(p('file/x'))));                     // ENOTDIR
    r.push(await codeOf(fs.writeFile(p(long), 'x')));               // ENAMETOOLONG
    r.push(await codeOf(fs.mkdir(p(long))));                        // ENAMETOOLONG
    r.push(await codeOf(fs.stat(p(long))));                         // ENAMETOOLONG
    r.push(await codeOf(fs.rename(p('dir'), p('dir/inner/x'))));    // ENOTDIR (inner is a file)
    r.push(await codeOf(fs.rename(p('empty'), p('empty/sub'))));    // EINVAL
    r.push(await codeOf(fs.readlink(p('file'))));                   // EINVAL
    results.push(r);
  }
  assert.deepEqual(results[0], results[1]);
  assert.deepEqual(results[0], [
    'ENOENT', 'ENOENT', 'ENOENT', 'ENOENT', 'ENOENT',
    'EEXIST', 'EEXIST', 'EEXIST', 'EEXIST', 'EEXIST',
    'ENOTEMPTY', 'ENOTEMPTY',
    'EISDIR', 'EISDIR', 'EISDIR', 'EISDIR',
    'ENOTDIR', 'ENOTDIR', 'ENOTDIR', 'ENOTDIR', 'ENOTDIR',
    'ENAMETOOLONG', 'ENAMETOOLONG', 'ENAMETOOLONG',
    'ENOTDIR', 'EINVAL', 'EINVAL',
  ]);
  await fs.rm(local, { recursive: true, force: true });
});

test('symlink, readlink, hard link, chmod, chown, utimens, rename over a file, statfs', async () => {
  const d = join(m.mountpoint, 'misc');
  await fs.mkdir(d);
  const p = (s: string) => join(d, s);
  await fs.writeFile(p('f'), 'hello');

  await fs.symlink('f', p('s'));
  assert.equal(await fs.readlink(p('s')), 'f');
  assert.equal(await fs.readFile(p('s'), 'utf8'), 'hello');
  assert.ok((await fs.lstat(p('s'))).isSymbolicLink());

  await fs.link(p('f'), p('h'));
  const [sf, sh] = [await fs.stat(p('f')), await fs.stat(p('h'))];
  assert.equal(sf.ino, sh.ino, 'a hard link shares the inode number');
  assert.equal(sf.nlink, 2);
  await fs.writeFile(p('h'), 'changed through the other name');
  assert.equal(await fs.readFile(p('f'), 'utf8'), 'changed through the other name');

  await fs.chmod(p('f'), 0o640);
  assert.equal((await fs.stat(p('f'))).mode & 0o7777, 0o640);
  await fs.chown(p('f'), 1234, 5678);
  const so = await fs.stat(p('f'));
  assert.deepEqual([so.uid, so.gid], [1234, 5678]);

  // Different atime and mtime (the binding forwards only atime; the adapter recovers mtime).
  const atime = new Date('2020-01-02T03:04:05.678Z');
  const mtime = new Date('2019-06-07T08:09:10.111Z');
  await fs.utimes(p('f'), atime, mtime);
  const su = await fs.stat(p('f'));
  // Times are kept in milliseconds; the binding truncates nanoseconds (0.678 s may arrive as 0.677999999).
  assert.ok(Math.abs(su.mtime.getTime() - mtime.getTime()) <= 1, `mtime ${su.mtime.toISOString()}`);
  assert.ok(Math.abs(su.atime.getTime() - atime.getTime()) <= 1, `atime ${su.atime.toISOString()}`);
  const t = await bash(`touch -d '2021-03-04 05:06:07' f && stat -c %Y f`, d);
  assert.equal(t.stdout.trim(), String(Date.parse('2021-03-04T05:06:07') / 1000));

  // cp -p sets times on the descriptor before it closes it: the times must survive the commit.
  const cp = await bash(`printf 'payload' > src && touch -d '2018-01-01 00:00:00' src && cp -p src dst && stat -c %Y dst`, d);
  assert.equal(cp.stdout.trim(), String(Date.parse('2018-01-01T00:00:00') / 1000), cp.stderr);

  // rename over an existing file replaces it atomically.
  await fs.writeFile(p('a'), 'AAA');
  await fs.writeFile(p('b'), 'BBBBBB');
  await fs.rename(p('a'), p('b'));
  assert.equal(await fs.readFile(p('b'), 'utf8'), 'AAA');
  await assert.rejects(fs.stat(p('a')), { code: 'ENOENT' });

  // O_TRUNC with nothing written still empties the file.
  await bash(': > b', d);
  assert.equal((await fs.stat(p('b'))).size, 0);

  // statfs: sizes from the data servers' disks, names up to 255 bytes.
  const sfs = await fs.statfs(m.mountpoint);
  assert.ok(sfs.blocks > 0 && sfs.bavail > 0 && sfs.bavail <= sfs.blocks, JSON.stringify(sfs));
  const df = await bash(`df -P ${m.mountpoint} | tail -1`);
  assert.match(df.stdout, /^quorumfs@\d+\s+\d+/);
});

test('reads through one descriptor see writes through another, before close', async () => {
  const f = join(m.mountpoint, 'shared.bin');
  const w = await fs.open(f, 'w+');
  const r = await fs.open(f, 'r');
  try {
    await w.write(Buffer.from('0123456789'), 0, 10, 0);
    assert.equal((await w.stat()).size, 10);
    assert.equal((await fs.stat(f)).size, 10, 'stat by path shows the open writer\'s size');
    const buf = Buffer.alloc(10);
    const { bytesRead } = await r.read(buf, 0, 10, 0);
    assert.equal(buf.subarray(0, bytesRead).toString(), '0123456789');
    await w.truncate(4);
    assert.equal((await fs.stat(f)).size, 4);
  } finally {
    await w.close();
    await r.close();
  }
  assert.equal(await fs.readFile(f, 'utf8'), '0123');
});

test('a file removed while open: its descriptors keep working and nothing is left behind', async () => {
  const d = join(m.mountpoint, 'gone');
  await fs.mkdir(d);
  await fs.writeFile(join(d, 'f'), 'still here');
  const h = await fs.open(join(d, 'f'), 'r');
  try {
    await fs.unlink(join(d, 'f'));
    assert.deepEqual(await fs.readdir(d), [], 'no .fuse_hidden file in the directory');
    const buf = Buffer.alloc(64);
    const { bytesRead } = await h.read(buf, 0, 64, 0);
    assert.equal(buf.subarray(0, bytesRead).toString(), 'still here');
    assert.equal((await h.stat()).size, 10);
  } finally {
    await h.close();
  }
  await fs.rmdir(d);

  // A writer whose file goes away keeps writing without errors; the data goes with the file.
  const w = await bash('exec 3>w.txt; echo a >&3; rm w.txt; echo b >&3; exec 3>&-; ls -A', m.mountpoint);
  assert.equal(w.code, 0, w.stderr);
  assert.doesNotMatch(w.stdout, /w\.txt|fuse_hidden/);

  // Read, remove, remove the directory at once: the close's release may still be on its way.
  const r = await bash('for i in $(seq 1 30); do mkdir d$i && echo x > d$i/f && cat d$i/f > /dev/null && rm d$i/f && rmdir d$i || exit 1; done', m.mountpoint);
  assert.equal(r.code, 0, r.stderr);
});
