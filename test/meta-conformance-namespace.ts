// Conformance: path resolution, create/mkdir/symlink/link/unlink/rmdir/setattr/readdir/statfs.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { validateConfig } from '../src/common/config.js';
import { OWNER, rejectsWith, type SuiteEnv } from './meta-conformance-helpers.js';

export function registerNamespaceTests(env: SuiteEnv): void {
  const file = (path: string, mode = 0o644) => env.api.create({ path, mode, owner: OWNER, exclusive: true });
  const mkdir = (path: string, mode = 0o755) => env.api.mkdir({ path, mode, owner: OWNER });

  it('getCluster returns a valid config and a server list', async () => {
    const c = await env.api.getCluster({});
    assert.deepEqual(validateConfig(c.config), c.config);
    assert.ok(Array.isArray(c.servers));
  });

  it('the root is directory inode 1', async () => {
    const root = await env.api.lookup({ path: '/' });
    assert.equal(root.ino, 1);
    assert.equal(root.type, 'dir');
    assert.ok(root.nlink >= 2);
    await rejectsWith(env.api.rmdir({ path: '/' }), 'EINVAL', 'rmdir /');
    await rejectsWith(env.api.unlink({ path: '/' }), 'EISDIR', 'unlink /');
    await rejectsWith(env.api.mkdir({ path: '/', mode: 0o755, owner: OWNER }), 'EEXIST', 'mkdir /');
  });

  it('path resolution: ENOENT, ENOTDIR, malformed paths', async () => {
    const d = await env.dir();
    await file(`${d}/f`);
    await rejectsWith(env.api.lookup({ path: `${d}/missing` }), 'ENOENT');
    await rejectsWith(env.api.lookup({ path: `${d}/missing/x` }), 'ENOENT');
    await rejectsWith(env.api.lookup({ path: `${d}/f/x` }), 'ENOTDIR');
    await rejectsWith(file(`${d}/f/x`), 'ENOTDIR');
    await rejectsWith(mkdir(`${d}/missing/x`), 'ENOENT');
    for (const bad of ['relative', `${d}//f`, `${d}/`, `${d}/./f`, `${d}/../x`]) {
      await rejectsWith(env.api.lookup({ path: bad }), 'EINVAL', bad);
    }
  });

  it('names longer than 255 bytes are ENAMETOOLONG', async () => {
    const d = await env.dir();
    const ok = 'a'.repeat(255);
    assert.equal((await file(`${d}/${ok}`)).type, 'file');
    assert.equal((await env.api.lookup({ path: `${d}/${ok}` })).type, 'file');
    await rejectsWith(file(`${d}/${'a'.repeat(256)}`), 'ENAMETOOLONG');
    await rejectsWith(mkdir(`${d}/${'é'.repeat(128)}`), 'ENAMETOOLONG', '256 bytes in 128 characters');
    await rejectsWith(env.api.lookup({ path: `${d}/${'b'.repeat(256)}` }), 'ENAMETOOLONG');
    assert.equal((await mkdir(`${d}/${'é'.repeat(127)}`)).type, 'dir');
  });

  it('create: attributes, exclusive and non-exclusive', async () => {
    const d = await env.dir();
    const a = await env.api.create({ path: `${d}/f`, mode: 0o100640, owner: { uid: 7, gid: 8 }, exclusive: true });
    assert.equal(a.type, 'file');
    assert.equal(a.mode, 0o640, 'file-type bits are dropped');
    assert.deepEqual([a.uid, a.gid, a.size, a.nlink], [7, 8, 0, 1]);
    await rejectsWith(file(`${d}/f`), 'EEXIST');
    const again = await env.api.create({ path: `${d}/f`, mode: 0o600, owner: OWNER, exclusive: false });
    assert.equal(again.ino, a.ino);
    assert.equal(again.mode, 0o640, 'O_CREAT on an existing file does not change it');
    await mkdir(`${d}/sub`);
    await rejectsWith(env.api.create({ path: `${d}/sub`, mode: 0o644, owner: OWNER, exclusive: false }), 'EISDIR');
    await rejectsWith(file(`${d}/sub`), 'EEXIST');
    await rejectsWith(file(`${d}/nope/f`), 'ENOENT');
  });

  it('mkdir: nlink of the new directory and its parent, EEXIST', async () => {
    const d = await env.dir();
    const before = await env.api.lookup({ path: d });
    assert.equal(before.nlink, 2);
    const sub = await mkdir(`${d}/sub`, 0o700);
    assert.deepEqual([sub.type, sub.mode, sub.nlink], ['dir', 0o700, 2]);
    await mkdir(`${d}/sub2`);
    await file(`${d}/file`);
    assert.equal((await env.api.lookup({ path: d })).nlink, 4, '2 + two subdirectories; files do not count');
    await rejectsWith(mkdir(`${d}/sub`), 'EEXIST');
    await rejectsWith(mkdir(`${d}/file`), 'EEXIST');
    await rejectsWith(mkdir(`${d}/file/x`), 'ENOTDIR');
  });

  it('readdir lists names with attributes, in name order', async () => {
    const d = await env.dir();
    assert.deepEqual(await env.api.readdir({ path: d }), []);
    await file(`${d}/b`);
    await mkdir(`${d}/a`);
    await env.api.symlink({ path: `${d}/c`, target: 'b', owner: OWNER });
    const entries = await env.api.readdir({ path: d });
    assert.deepEqual(entries.map((e) => [e.name, e.attr.type]), [['a', 'dir'], ['b', 'file'], ['c', 'symlink']]);
    assert.deepEqual(entries[1]!.attr, await env.api.lookup({ path: `${d}/b` }));
    await rejectsWith(env.api.readdir({ path: `${d}/b` }), 'ENOTDIR');
    await rejectsWith(env.api.readdir({ path: `${d}/zz` }), 'ENOENT');
  });

  it('readdir of a directory with many entries', async () => {
    const d = await env.dir();
    const n = 300;
    for (let i = 0; i < n; i++) await file(`${d}/f${String(i).padStart(4, '0')}`);
    const entries = await env.api.readdir({ path: d });
    assert.equal(entries.length, n);
    assert.equal(entries[0]!.name, 'f0000');
    assert.equal(entries[n - 1]!.name, `f${String(n - 1).padStart(4, '0')}`);
  });

  it('symlink and readlink', async () => {
    const d = await env.dir();
    const target = '../some/where/é';
    const s = await env.api.symlink({ path: `${d}/s`, target, owner: OWNER });
    assert.equal(s.type, 'symlink');
    assert.equal(s.size, Buffer.byteLength(target));
    assert.equal(s.nlink, 1);
    assert.equal(await env.api.readlink({ path: `${d}/s` }), target);
    assert.equal((await env.api.lookup({ path: `${d}/s` })).type, 'symlink', 'lookup does not follow the link');
    await file(`${d}/f`);
    await rejectsWith(env.api.readlink({ path: `${d}/f` }), 'EINVAL');
    await rejectsWith(env.api.readlink({ path: d }), 'EINVAL');
    await rejectsWith(env.api.readlink({ path: `${d}/none` }), 'ENOENT');
    await rejectsWith(env.api.symlink({ path: `${d}/f`, target: 'x', owner: OWNER }), 'EEXIST');
    await rejectsWith(env.api.create({ path: `${d}/s`, mode: 0o644, owner: OWNER, exclusive: true }), 'EEXIST');
    await env.api.unlink({ path: `${d}/s` });
    await rejectsWith(env.api.lookup({ path: `${d}/s` }), 'ENOENT');
  });

  it('hard links share one inode and count links', async () => {
    const d = await env.dir();
    const a = await file(`${d}/a`);
    await mkdir(`${d}/sub`);
    const b = await env.api.link({ path: `${d}/a`, newPath: `${d}/sub/b` });
    assert.equal(b.ino, a.ino);
    assert.equal(b.nlink, 2);
    assert.equal((await env.api.lookup({ path: `${d}/a` })).nlink, 2);
    await rejectsWith(env.api.link({ path: `${d}/sub`, newPath: `${d}/sub2` }), 'EPERM', 'link to a directory');
    await rejectsWith(env.api.link({ path: `${d}/a`, newPath: `${d}/sub` }), 'EEXIST');
    await rejectsWith(env.api.link({ path: `${d}/a`, newPath: `${d}/sub/b` }), 'EEXIST');
    await rejectsWith(env.api.link({ path: `${d}/none`, newPath: `${d}/x` }), 'ENOENT');
    await rejectsWith(env.api.link({ path: `${d}/a`, newPath: `${d}/none/x` }), 'ENOENT');
    await env.api.unlink({ path: `${d}/a` });
    const left = await env.api.lookup({ path: `${d}/sub/b` });
    assert.equal(left.ino, a.ino);
    assert.equal(left.nlink, 1);
    await env.api.unlink({ path: `${d}/sub/b` });
    await rejectsWith(env.api.getLayout({ ino: a.ino }), 'ENOENT', 'inode gone with its last link');
  });

  it('unlink and rmdir errors', async () => {
    const d = await env.dir();
    await mkdir(`${d}/dir`);
    await file(`${d}/dir/f`);
    await rejectsWith(env.api.unlink({ path: `${d}/dir` }), 'EISDIR');
    await rejectsWith(env.api.unlink({ path: `${d}/none` }), 'ENOENT');
    await rejectsWith(env.api.rmdir({ path: `${d}/dir` }), 'ENOTEMPTY');
    await rejectsWith(env.api.rmdir({ path: `${d}/dir/f` }), 'ENOTDIR');
    await rejectsWith(env.api.rmdir({ path: `${d}/none` }), 'ENOENT');
    await env.api.unlink({ path: `${d}/dir/f` });
    assert.equal((await env.api.lookup({ path: d })).nlink, 3);
    await env.api.rmdir({ path: `${d}/dir` });
    assert.equal((await env.api.lookup({ path: d })).nlink, 2);
    assert.deepEqual(await env.api.readdir({ path: d }), []);
  });

  it('unlinkMany: each entry on its own, an inode guard, and the same errors as unlink', async () => {
    const d = await env.dir();
    await mkdir(`${d}/dir`);
    const a = await file(`${d}/a`);
    const b = await file(`${d}/b`);
    const c = await file(`${d}/c`);
    await env.api.link({ path: `${d}/c`, newPath: `${d}/c2` });
    const r = await env.api.unlinkMany({
      entries: [
        { path: `${d}/a`, ino: a.ino },
        { path: `${d}/dir` },
        { path: `${d}/none` },
        { path: `${d}/b`, ino: c.ino },
        { path: `${d}/c` },
      ],
    });
    assert.deepEqual(r.failed.map((f) => [f.index, f.code]), [[1, 'EISDIR'], [2, 'ENOENT'], [3, 'ENOENT']]);
    // The refused entries undid nothing of the others, and changed nothing themselves.
    assert.deepEqual((await env.api.readdir({ path: d })).map((e) => e.name).sort(), ['b', 'c2', 'dir']);
    assert.equal((await env.api.lookup({ path: `${d}/b` })).ino, b.ino);
    assert.equal((await env.api.lookup({ path: `${d}/c2` })).nlink, 1);
    await rejectsWith(env.api.getLayout({ ino: a.ino }), 'ENOENT', 'inode gone with its last link');
    // Sent again (an answer lost on the way): nothing more happens.
    const again = await env.api.unlinkMany({ entries: [{ path: `${d}/a`, ino: a.ino }] });
    assert.deepEqual(again.failed.map((f) => f.code), ['ENOENT']);
    if (env.inspect) assert.deepEqual((await env.inspect.checkIntegrity()).problems, []);
  });

  it('namespace changes move the parent mtime and ctime', async () => {
    const d = await env.dir();
    const old = 1_000_000;
    let resetCtimeMs = 0;
    const reset = async () => {
      resetCtimeMs = (await env.api.setattr({ path: d, mtimeMs: old, atimeMs: old })).ctimeMs;
    };
    const moved = async (what: string) => {
      const a = await env.api.lookup({ path: d });
      assert.ok(a.mtimeMs > old, `${what}: mtime`);
      assert.ok(a.ctimeMs >= resetCtimeMs, `${what}: ctime`);
    };
    await reset(); await file(`${d}/f`); await moved('create');
    await reset(); await mkdir(`${d}/s`); await moved('mkdir');
    await reset(); await env.api.symlink({ path: `${d}/l`, target: 'f', owner: OWNER }); await moved('symlink');
    await reset(); await env.api.link({ path: `${d}/f`, newPath: `${d}/g` }); await moved('link');
    await reset(); await env.api.rename({ from: `${d}/g`, to: `${d}/h` }); await moved('rename');
    await reset(); await env.api.unlink({ path: `${d}/h` }); await moved('unlink');
    await reset(); await env.api.rmdir({ path: `${d}/s` }); await moved('rmdir');
  });

  it('setattr changes what it is given and ctime', async () => {
    const d = await env.dir();
    const a = await file(`${d}/f`);
    const b = await env.api.setattr({ path: `${d}/f`, mode: 0o4711, uid: 5, gid: 6, atimeMs: 1234, mtimeMs: 5678 });
    assert.deepEqual([b.ino, b.mode, b.uid, b.gid, b.atimeMs, b.mtimeMs], [a.ino, 0o4711, 5, 6, 1234, 5678]);
    assert.ok(b.ctimeMs >= a.ctimeMs);
    const c = await env.api.setattr({ path: `${d}/f`, mode: 0o600 });
    assert.deepEqual([c.mode, c.uid, c.gid, c.atimeMs, c.mtimeMs], [0o600, 5, 6, 1234, 5678]);
    assert.deepEqual(await env.api.lookup({ path: `${d}/f` }), c);
    const dir = await env.api.setattr({ path: d, mode: 0o711 });
    assert.equal(dir.mode, 0o711);
    await rejectsWith(env.api.setattr({ path: `${d}/none`, mode: 0o600 }), 'ENOENT');
  });

  it('deep trees resolve and are removed bottom up only', async () => {
    const d = await env.dir();
    const depth = 60;
    let p = d;
    for (let i = 0; i < depth; i++) {
      p += `/l${i}`;
      await mkdir(p);
    }
    await file(`${p}/leaf`);
    assert.equal((await env.api.lookup({ path: `${p}/leaf` })).type, 'file');
    await rejectsWith(env.api.rmdir({ path: `${d}/l0` }), 'ENOTEMPTY');
    await env.api.rename({ from: `${d}/l0`, to: `${d}/top` });
    const moved = `${d}/top` + p.slice(`${d}/l0`.length);
    assert.equal((await env.api.lookup({ path: `${moved}/leaf` })).type, 'file');
    await rejectsWith(env.api.rename({ from: `${d}/top`, to: `${moved}/inside` }), 'EINVAL', 'into its own deep subtree');
    await env.api.unlink({ path: `${moved}/leaf` });
    let q = moved;
    while (q !== d) {
      await env.api.rmdir({ path: q });
      q = q.slice(0, q.lastIndexOf('/'));
    }
    assert.deepEqual(await env.api.readdir({ path: d }), []);
  });

  it('statfs counts files, and referenced blocks with their bytes', async () => {
    const d = await env.dir();
    const s0 = await env.api.statfs({});
    await file(`${d}/f`);
    await mkdir(`${d}/s`);
    const s1 = await env.api.statfs({});
    assert.equal(s1.files, s0.files + 2);
    await env.api.unlink({ path: `${d}/f` });
    assert.equal((await env.api.statfs({})).files, s0.files + 1);
  });
}
