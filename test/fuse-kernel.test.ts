// The kernel FUSE binding (src/fuse/kernel: /dev/fuse spoken directly, no libfuse) on a real
// cluster, through `quorumfs mount --binding kernel`: errno parity with a local directory, big
// files byte for byte, the node table across rename/link/symlink, single-time changes (which the
// libfuse2 binding drops), long directory listings, and the ways a mount ends (unmount with open
// files, SIGKILL). The other FUSE test files run against this binding with QUORUMFS_FUSE_BINDING=kernel.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { constants, mkdtempSync, rmSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { bash, mountBaseDir, run, startMount, unmountAll, type TestMount } from './helpers/fuse.js';
import { CLI, tempDir } from './helpers/procs.js';
import { bypassesPageCache } from '../src/fuse/kernel/ops-files.js';

const ROOT = process.getuid?.() === 0;
const skip = ROOT ? false : 'the kernel binding mounts with mount(8) and needs root';
const KERNEL = ['--binding', 'kernel'];

let cluster: TestCluster;
let m: TestMount;
const dirs: string[] = [];

before(async () => {
  if (!ROOT) return;
  cluster = await startTestCluster({ replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 1024 * 1024 });
  m = await mountKernel();
});

after(async () => {
  await unmountAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await cluster?.stop();
});

function mountKernel(mountpoint?: string): Promise<TestMount> {
  return startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile, mountpoint, args: KERNEL, logLevel: 'info' });
}

function qfs(args: string[]) {
  return run(process.execPath, [CLI, ...args], { timeoutMs: 60_000 });
}

async function mountLine(mp: string): Promise<string[] | null> {
  const line = (await fs.readFile('/proc/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === mp);
  return line ? line.split(' ') : null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

test('the mount is served by the kernel binding, with 1 MiB requests', { skip }, async () => {
  // The kernel lists the mount before INIT is answered: give the log line a moment.
  for (let i = 0; i < 100 && !/kernel FUSE session started/.test(m.output()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(m.output(), /kernel FUSE session started/);
  const fields = await mountLine(m.mountpoint);
  assert.ok(fields, 'in the mount table');
  assert.equal(fields[0], `quorumfs@${m.child.pid}`);
  assert.equal(fields[2], 'fuse.quorumfs');
  assert.match(fields[3]!, /(^|,)max_read=1048576(,|$)/);
});

test('file operations give the same results and errno as on a local directory', { skip }, async () => {
  const local = tempDir('qfs-kerrno-');
  dirs.push(local);
  const roots = [join(m.mountpoint, 'parity'), local];
  const long = 'y'.repeat(256);
  const results: unknown[][] = [];
  for (const root of roots) {
    await fs.mkdir(root, { recursive: true });
    const p = (s: string) => join(root, s);
    const r: unknown[] = [];
    await fs.writeFile(p('file'), 'data');
    await fs.mkdir(p('dir'));
    await fs.writeFile(p('dir/inner'), 'x');
    await fs.mkdir(p('empty'));
    r.push(await codeOf(fs.stat(p('missing'))));
    r.push(await codeOf(fs.readFile(p('missing/x'))));
    r.push(await codeOf(fs.writeFile(p('nodir/x'), 'x')));
    r.push(await codeOf(fs.unlink(p('missing'))));
    r.push(await codeOf(fs.rename(p('missing'), p('x'))));
    r.push(await codeOf(fs.mkdir(p('dir'))));
    r.push(await codeOf(fs.writeFile(p('file'), 'x', { flag: 'wx' })));
    r.push(await codeOf(fs.link(p('file'), p('dir/inner'))));
    r.push(await codeOf(fs.symlink('t', p('file'))));
    r.push(await codeOf(fs.rmdir(p('dir'))));
    r.push(await codeOf(fs.rename(p('empty'), p('dir'))));
    r.push(await codeOf(fs.readFile(p('dir'))));
    r.push(await codeOf(fs.unlink(p('dir'))));
    r.push(await codeOf(fs.rename(p('file'), p('empty'))));
    r.push(await codeOf(fs.readdir(p('file'))));
    r.push(await codeOf(fs.rmdir(p('file'))));
    r.push(await codeOf(fs.stat(p('file/x'))));
    r.push(await codeOf(fs.writeFile(p(long), 'x')));
    r.push(await codeOf(fs.rename(p('empty'), p('empty/sub'))));
    r.push(await codeOf(fs.readlink(p('file'))));
    r.push(await codeOf(fs.link(p('dir'), p('dirlink'))));
    // Successful calls: contents, sizes and listings after a few changes.
    await fs.appendFile(p('file'), '+more');
    await fs.truncate(p('dir/inner'), 3);
    const h = await fs.open(p('rw'), 'w+');
    await h.write(Buffer.from('hello world'), 0, 11, 0);
    await h.truncate(5);
    const buf = Buffer.alloc(16);
    const { bytesRead } = await h.read(buf, 0, 16, 0);
    await h.close();
    r.push(await fs.readFile(p('file'), 'utf8'), (await fs.stat(p('dir/inner'))).size, buf.subarray(0, bytesRead).toString());
    r.push((await fs.readdir(root)).sort(), (await fs.readdir(p('dir'))).sort());
    r.push(await codeOf(fs.rmdir(p('empty'))), await codeOf(fs.unlink(p('rw'))), (await fs.readdir(root)).sort());
    results.push(r);
  }
  assert.deepEqual(results[0], results[1]);
  assert.deepEqual(results[0]!.slice(0, 21), [
    'ENOENT', 'ENOENT', 'ENOENT', 'ENOENT', 'ENOENT', 'EEXIST', 'EEXIST', 'EEXIST', 'EEXIST',
    'ENOTEMPTY', 'ENOTEMPTY', 'EISDIR', 'EISDIR', 'EISDIR', 'ENOTDIR', 'ENOTDIR', 'ENOTDIR',
    'ENAMETOOLONG', 'EINVAL', 'EINVAL', 'EPERM',
  ]);
});

test('operations the file system does not have: FIFOs, xattrs, rename flags', { skip }, async () => {
  const d = join(m.mountpoint, 'unsupported');
  await fs.mkdir(d);
  await fs.writeFile(join(d, 'a'), 'A');
  await fs.writeFile(join(d, 'b'), 'B');
  const fifo = await bash('mkfifo f; echo $?', d);
  assert.match(fifo.stderr, /Operation not permitted/);
  // No xattrs (ENOSYS to the kernel, which tells programs "not supported").
  const x = await bash(`getfattr -n user.test a 2>&1; setfattr -n user.test -v 1 a 2>&1; true`, d);
  assert.match(x.stdout, /Operation not supported/);
  // renameat2: RENAME_NOREPLACE is honoured, RENAME_EXCHANGE is refused.
  const py = (from: string, to: string, flags: number) =>
    `import ctypes; l = ctypes.CDLL(None, use_errno=True); r = l.renameat2(-100, b'${from}', -100, b'${to}', ${flags}); print(ctypes.get_errno() if r else 0)`;
  const noreplace = await bash(`python3 -c "${py('a', 'b', 1)}"; python3 -c "${py('a', 'c', 1)}"; python3 -c "${py('b', 'c', 2)}"`, d);
  assert.equal(noreplace.code, 0, noreplace.stderr);
  assert.deepEqual(noreplace.stdout.trim().split('\n'), ['17', '0', '22']);
  assert.deepEqual((await fs.readdir(d)).sort(), ['b', 'c']);
  assert.equal(await fs.readFile(join(d, 'b'), 'utf8'), 'B');
  assert.equal(await fs.readFile(join(d, 'c'), 'utf8'), 'A');
});

/** Linux 6.6 brought DIRECT_IO_ALLOW_MMAP, which direct writes need (see Session.handleInit). */
function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = release().split('.').map((x) => parseInt(x, 10));
  return a > major || (a === major && b >= minor);
}

test('opens for writing bypass the page cache where the kernel allows shared mappings of such files', { skip }, async () => {
  for (let i = 0; i < 100 && !/kernel FUSE session started/.test(m.output()); i++) await new Promise((r) => setTimeout(r, 50));
  const line = m.output().split('\n').find((l) => l.includes('kernel FUSE session started'));
  assert.ok(line, 'the INIT log line');
  assert.equal(JSON.parse(line).directWrites, kernelAtLeast(6, 6), line);
});

test('which handles bypass the page cache: write-only ones, and read-write ones with nothing to read', () => {
  const { O_RDONLY, O_WRONLY, O_RDWR, O_TRUNC, O_APPEND } = constants;
  assert.equal(bypassesPageCache(O_WRONLY, false), true);
  assert.equal(bypassesPageCache(O_WRONLY | O_APPEND, false), true);
  assert.equal(bypassesPageCache(O_RDWR, true), true, 'created or empty');
  assert.equal(bypassesPageCache(O_RDWR | O_TRUNC, false), true, 'truncated');
  assert.equal(bypassesPageCache(O_RDWR, false), false, 'a file with bytes to read keeps the cache');
  assert.equal(bypassesPageCache(O_RDONLY, true), false);
  assert.equal(bypassesPageCache(O_RDONLY, false), false);
});

test('a write through a direct handle reaches readers holding the file open, shared mappings, and later opens', { skip }, async () => {
  const d = join(m.mountpoint, 'direct');
  await fs.mkdir(d);
  // One process, so the order of the steps is certain. The reader's first pread fills the page
  // cache; the writer's later pwrite (direct) must drop that range, or the reader sees old bytes.
  // The shared mapping is of the direct handle itself: refused (ENODEV) without DIRECT_IO_ALLOW_MMAP.
  const script = [
    'import os, mmap',
    "w = os.open('f', os.O_RDWR | os.O_CREAT, 0o644)",
    "os.write(w, b'a' * 8192)",
    "r = os.open('f', os.O_RDONLY)",
    "print(os.pread(r, 8192, 0) == b'a' * 8192)",
    "os.pwrite(w, b'b' * 100, 4000)",
    "print(os.pread(r, 200, 3950) == b'a' * 50 + b'b' * 100 + b'a' * 50)",
    'm = mmap.mmap(w, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)',
    "print(m[4000:4100] == b'b' * 100)",
    "m[0:5] = b'hello'",
    'm.flush()',
    "print(os.pread(w, 5, 0) == b'hello')",
    "os.pwrite(w, b'c' * 10, 8000)",
    "print(m[8000:8010] == b'c' * 10, os.pread(r, 10, 8000) == b'c' * 10)",
    'm.close(); os.close(w); os.close(r)',
  ].join('\n');
  await fs.writeFile(join(d, 'check.py'), script);
  const out = await bash('python3 check.py', d);
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(out.stdout.trim().split('\n'), ['True', 'True', 'True', 'True', 'True True']);
  const want = Buffer.alloc(8192, 'a');
  want.write('hello', 0);
  want.fill('b', 4000, 4100);
  want.fill('c', 8000, 8010);
  assert.ok((await fs.readFile(join(d, 'f'))).equals(want), 'a new open reads every write');
});

test('64 MiB written and read back byte for byte (1 MiB requests)', { skip }, async () => {
  const data = randomBytes(64 * 1024 * 1024);
  const f = join(m.mountpoint, 'big.bin');
  await fs.writeFile(f, data);
  assert.equal((await fs.stat(f)).size, data.length);
  // A new open drops the page cache: the bytes come from the cluster.
  const back = await fs.readFile(f);
  assert.equal(sha256(back), sha256(data));
  // Reading through dd with 1 MiB blocks and a range in the middle through pread.
  const dd = await bash(`dd if=big.bin bs=1M status=none | sha256sum`, m.mountpoint);
  assert.equal(dd.stdout.split(' ')[0], sha256(data));
  const h = await fs.open(f, 'r');
  const mid = Buffer.alloc(3 * 1024 * 1024 + 17);
  const { bytesRead } = await h.read(mid, 0, mid.length, 5 * 1024 * 1024 - 5);
  await h.close();
  assert.equal(bytesRead, mid.length);
  assert.ok(mid.equals(data.subarray(5 * 1024 * 1024 - 5, 5 * 1024 * 1024 - 5 + mid.length)));
  await fs.unlink(f);
});

test('concurrent readers of different files never see each other\'s bytes (block buffers are recycled)', { skip }, async () => {
  // Sequential readers hand their passed blocks back to one pool, which the other reader's
  // fetches take from at once; random reads hold blocks that a sequential reader drops.
  const files = ['r0.bin', 'r1.bin', 'r2.bin'].map((name) => ({ name, data: randomBytes(12 * 1024 * 1024 + 4097) }));
  for (const f of files) await fs.writeFile(join(m.mountpoint, f.name), f.data);
  const sequential = files.map(async (f) => {
    const dd = await bash(`dd if=${f.name} bs=300k status=none | sha256sum`, m.mountpoint);
    assert.equal(dd.stdout.split(' ')[0], sha256(f.data), `${f.name} read sequentially`);
  });
  const random = (async () => {
    const f = files[0]!;
    const h = await fs.open(join(m.mountpoint, f.name), 'r');
    try {
      for (let i = 0; i < 60; i++) {
        const len = 1 + Math.floor(Math.random() * 2.5 * 1024 * 1024);
        const at = Math.floor(Math.random() * (f.data.length - len));
        const got = Buffer.alloc(len);
        const { bytesRead } = await h.read(got, 0, len, at);
        assert.equal(bytesRead, len);
        assert.ok(got.equals(f.data.subarray(at, at + len)), `${f.name} at ${at} for ${len}`);
      }
    } finally {
      await h.close();
    }
  })();
  await Promise.all([...sequential, random]);
  for (const f of files) await fs.unlink(join(m.mountpoint, f.name));
});

test('rename, link and symlink keep every name pointing at the right file', { skip }, async () => {
  const d = join(m.mountpoint, 'names');
  const p = (s: string) => join(d, s);
  await fs.mkdir(p(''), { recursive: true });
  await fs.mkdir(p('a/b/c'), { recursive: true });
  await fs.writeFile(p('a/b/c/f'), 'deep');
  // A directory renamed with its subtree: names below it follow.
  await fs.rename(p('a/b'), p('moved'));
  assert.equal(await fs.readFile(p('moved/c/f'), 'utf8'), 'deep');
  await assert.rejects(fs.stat(p('a/b')), { code: 'ENOENT' });
  await fs.writeFile(p('moved/c/g'), 'new below the moved dir');
  assert.deepEqual((await fs.readdir(p('moved/c'))).sort(), ['f', 'g']);
  // Rename across directories and over an existing file.
  await fs.rename(p('moved/c/f'), p('a/f'));
  await fs.writeFile(p('a/target'), 'old');
  await fs.rename(p('a/f'), p('a/target'));
  assert.equal(await fs.readFile(p('a/target'), 'utf8'), 'deep');
  assert.deepEqual((await fs.readdir(p('a'))).sort(), ['target']);
  // Hard links: one inode, two names; either name survives the other.
  await fs.link(p('a/target'), p('moved/hard'));
  const [s1, s2] = [await fs.stat(p('a/target')), await fs.stat(p('moved/hard'))];
  assert.equal(s1.ino, s2.ino);
  assert.equal(s2.nlink, 2);
  await fs.writeFile(p('moved/hard'), 'through the link');
  assert.equal(await fs.readFile(p('a/target'), 'utf8'), 'through the link');
  await fs.unlink(p('a/target'));
  assert.equal((await fs.stat(p('moved/hard'))).nlink, 1);
  assert.equal(await fs.readFile(p('moved/hard'), 'utf8'), 'through the link');
  // Symlinks, relative and absolute, and a rename of the link itself.
  await fs.symlink('hard', p('moved/rel'));
  await fs.symlink(p('moved/hard'), p('abs'));
  assert.equal(await fs.readlink(p('moved/rel')), 'hard');
  assert.equal(await fs.readFile(p('moved/rel'), 'utf8'), 'through the link');
  assert.equal(await fs.readFile(p('abs'), 'utf8'), 'through the link');
  await fs.rename(p('abs'), p('a/abs2'));
  assert.equal(await fs.readlink(p('a/abs2')), p('moved/hard'));
  assert.ok((await fs.lstat(p('a/abs2'))).isSymbolicLink());
  // A name reused for another kind of file right away.
  await fs.unlink(p('moved/rel'));
  await fs.mkdir(p('moved/rel'));
  assert.ok((await fs.stat(p('moved/rel'))).isDirectory());
  await fs.rmdir(p('moved/rel'));
  await fs.writeFile(p('moved/rel'), 'a file again');
  assert.equal(await fs.readFile(p('moved/rel'), 'utf8'), 'a file again');
  // fsync of the directory makes those names durable (FSYNCDIR reaches the metadata server).
  const dir = await fs.open(p('moved'), 'r');
  await dir.sync();
  await dir.close();
});

test('a change through one name of a hard-linked file shows through the other at once, to O_APPEND too', { skip }, async () => {
  // Each name is its own kernel inode; the first name's size was cached while it was the only one.
  const d = join(m.mountpoint, 'hl');
  await fs.mkdir(d);
  const first = join(d, 'first');
  const second = join(d, 'second');
  await fs.writeFile(first, Buffer.alloc(1000, 'x'));
  assert.equal((await fs.stat(first)).size, 1000);
  await fs.link(first, second);
  await fs.truncate(second, 10);
  assert.equal((await fs.stat(first)).size, 10);
  await fs.appendFile(first, 'tail');
  assert.equal(await fs.readFile(second, 'utf8'), 'xxxxxxxxxxtail');
  await fs.appendFile(second, '!');
  assert.equal(await fs.readFile(first, 'utf8'), 'xxxxxxxxxxtail!');
  assert.equal((await fs.stat(first)).nlink, 2);
});

test('touch -m and touch -a change one time and leave the other', { skip }, async () => {
  const d = join(m.mountpoint, 'times');
  await fs.mkdir(d);
  await fs.writeFile(join(d, 'f'), 'x');
  const stamp = async () => (await bash(`stat -c '%X %Y' f`, d)).stdout.trim();
  await bash(`touch -d '2010-01-01 00:00:00' f`, d);
  const both = String(Date.parse('2010-01-01T00:00:00') / 1000);
  assert.equal(await stamp(), `${both} ${both}`);
  await bash(`touch -m -d '2011-02-03 04:05:06' f`, d);
  const m2011 = String(Date.parse('2011-02-03T04:05:06') / 1000);
  assert.equal(await stamp(), `${both} ${m2011}`, 'touch -m changes mtime only');
  await bash(`touch -a -d '2012-03-04 05:06:07' f`, d);
  const a2012 = String(Date.parse('2012-03-04T05:06:07') / 1000);
  assert.equal(await stamp(), `${a2012} ${m2011}`, 'touch -a changes atime only');
  // UTIME_NOW for one of them.
  const before = Math.floor(Date.now() / 1000) - 1;
  await bash('touch -m f', d);
  const [atime, mtime] = (await stamp()).split(' ').map(Number);
  assert.equal(atime, Number(a2012));
  assert.ok(mtime! >= before, `mtime ${mtime} is now`);
  // Sub-second times (kept in milliseconds).
  await fs.utimes(join(d, 'f'), new Date('2020-01-02T03:04:05.678Z'), new Date('2019-06-07T08:09:10.111Z'));
  const st = await fs.stat(join(d, 'f'));
  assert.equal(st.mtime.getTime(), Date.parse('2019-06-07T08:09:10.111Z'));
  assert.equal(st.atime.getTime(), Date.parse('2020-01-02T03:04:05.678Z'));
});

test('a directory of 5,000 entries lists completely, over many READDIR calls', { skip }, async () => {
  const d = join(m.mountpoint, 'many');
  await fs.mkdir(d);
  const names = Array.from({ length: 5000 }, (_, i) => `entry-${String(i).padStart(5, '0')}-${'n'.repeat(i % 40)}`);
  // Created from a few concurrent writers (one at a time would only measure the cluster's latency).
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < names.length) await fs.writeFile(join(d, names[next++]!), '');
  }));
  const got = await fs.readdir(d);
  assert.equal(got.length, names.length);
  assert.deepEqual(got.sort(), [...names].sort());
  // Unsorted raw listing (getdents in pieces) has no duplicates and includes . and ..
  const raw = (await bash('ls -f -a', d)).stdout.trim().split('\n');
  assert.equal(raw.length, names.length + 2);
  assert.equal(new Set(raw).size, raw.length);
  const withTypes = await fs.readdir(d, { withFileTypes: true });
  assert.ok(withTypes.every((e) => e.isFile()), 'stat-backed types are files');
  const rm = await bash(`find . -name 'entry-0*' -delete && ls -A | wc -l`, d, 300_000);
  assert.equal(rm.stdout.trim(), '0', rm.stderr);
});

/** getdents64(2) straight from Perl: "name d_type d_ino" per entry, as the kernel returned them. */
const GETDENTS_PL = `
my ($dir, $nr) = @ARGV;
opendir(my $dh, $dir) or die "opendir: $!";
my $fd = fileno($dh) // die "no fd";
my $buf = "\\0" x 65536;
while (1) {
  my $n = syscall($nr, $fd, $buf, 65536);
  die "getdents64: $!" if $n < 0;
  last if $n == 0;
  for (my $off = 0; $off < $n;) {
    my ($ino, $next, $reclen, $type) = unpack("Q q S C", substr($buf, $off, 19));
    print unpack("Z*", substr($buf, $off + 19, $reclen - 19)), " $type $ino\\n";
    $off += $reclen;
  }
}`;
const GETDENTS64: Record<string, number> = { x64: 217, arm64: 61 };

test('readdir gives each name its type and inode number, on a mount that never saw the names', { skip: skip || (GETDENTS64[process.arch] === undefined && 'getdents64 number unknown here') }, async () => {
  // Without d_type, rm -r, find and du stat every name to learn whether it is a directory.
  const d = join(m.mountpoint, 'typed');
  await fs.mkdir(d);
  await fs.writeFile(join(d, 'f'), 'x');
  await fs.mkdir(join(d, 'd'));
  await fs.symlink('f', join(d, 'l'));
  const fresh = await mountKernel();
  try {
    const fd = join(fresh.mountpoint, 'typed');
    const r = await run('perl', ['-e', GETDENTS_PL, fd, String(GETDENTS64[process.arch])]);
    assert.equal(r.code, 0, r.stderr);
    const got = new Map(r.stdout.trim().split('\n').map((l) => {
      const [name, type, ino] = l.split(' ');
      return [name!, { type: Number(type), ino: Number(ino) }] as const;
    }));
    assert.deepEqual([...got.keys()].sort(), ['.', '..', 'd', 'f', 'l']);
    const DT_DIR = 4, DT_REG = 8, DT_LNK = 10;
    assert.equal(got.get('.')!.type, DT_DIR);
    assert.equal(got.get('..')!.type, DT_DIR);
    assert.equal(got.get('f')!.type, DT_REG);
    assert.equal(got.get('d')!.type, DT_DIR);
    assert.equal(got.get('l')!.type, DT_LNK);
    for (const name of ['f', 'd', 'l']) {
      assert.equal(got.get(name)!.ino, (await fs.lstat(join(fd, name))).ino, `d_ino of ${name} is its st_ino`);
    }
  } finally {
    await fresh.unmount();
  }
});

test('quorumfs umount ends the mount process the ordinary way', { skip }, async () => {
  const mp = join(mkdtempSync(join(mountBaseDir(), 'qfs-kumount-')), 'mnt');
  dirs.push(join(mp, '..'));
  const mnt = await mountKernel(mp);
  await fs.writeFile(join(mp, 'f'), 'x');
  const exited = new Promise<number | null>((r) => mnt.child.once('exit', (code) => r(code)));
  const u = await qfs(['umount', mp]);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(await exited, 0);
  // Not just gone: it noticed the unmount, closed its client and said so.
  assert.match(mnt.output(), /mount process exiting/);
  await mnt.unmount();
});

test('unmounting with files still open commits them', { skip }, async () => {
  const mp = join(mkdtempSync(join(mountBaseDir(), 'qfs-kopen-')), 'mnt');
  dirs.push(join(mp, '..'));
  const mnt = await mountKernel(mp);
  const pid = mnt.child.pid!;
  // A shell keeps a file open with data written; the mount goes away under it (lazily: it is busy).
  // The shell holds the file until the test lets it go (at most 60 s), not for a fixed sleep.
  const letGo = join(mp, '..', 'let-go');
  const holder = bash(`exec 3>'${mp}/open.txt'; echo "still open at unmount" >&3; for i in $(seq 600); do [ -e '${letGo}' ] && break; sleep 0.1; done`);
  await new Promise((r) => setTimeout(r, 1000));
  const busy = await qfs(['umount', mp]);
  assert.equal(busy.code, 1);
  assert.match(busy.stderr, /busy/);
  const u = await qfs(['umount', '--lazy', mp]);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(await mountLine(mp), null);
  const deadline = Date.now() + 30_000;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.equal(pidAlive(pid), false, 'the mount process exited while the file was still open');
  await fs.writeFile(letGo, '');
  await mnt.unmount();
  await holder;

  const check = await mountKernel(mp);
  assert.equal(await fs.readFile(join(mp, 'open.txt'), 'utf8'), 'still open at unmount\n');
  await check.unmount();
});

test('SIGKILL leaves a stale mount that umount and the next mount clear', { skip }, async () => {
  const mp = join(mkdtempSync(join(mountBaseDir(), 'qfs-kkill-')), 'mnt');
  dirs.push(join(mp, '..'));
  const first = await mountKernel(mp);
  await fs.writeFile(join(mp, 'kept.txt'), 'kept');
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));
  assert.ok(await mountLine(mp), 'still in the mount table');
  await assert.rejects(fs.stat(mp), { code: 'ENOTCONN' });
  // The next mount clears it and sees the data.
  const second = await mountKernel(mp);
  assert.equal(await fs.readFile(join(mp, 'kept.txt'), 'utf8'), 'kept');
  second.child.kill('SIGKILL');
  await new Promise((r) => second.child.once('exit', r));
  await assert.rejects(fs.stat(mp), { code: 'ENOTCONN' });
  // `quorumfs umount` of a stale mount detaches it.
  const u = await qfs(['umount', mp]);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(await mountLine(mp), null);
  await first.unmount();
  await second.unmount();
});
