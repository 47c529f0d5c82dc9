// Conformance: rename in all its POSIX cases.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { OWNER, hashOf, refsOf, rejectsWith, type SuiteEnv } from './meta-conformance-helpers.js';

export function registerRenameTests(env: SuiteEnv): void {
  const file = (path: string) => env.api.create({ path, mode: 0o644, owner: OWNER, exclusive: true });
  const mkdir = (path: string) => env.api.mkdir({ path, mode: 0o755, owner: OWNER });
  const names = async (path: string) => (await env.api.readdir({ path })).map((e) => e.name);

  it('rename a file keeps its inode and moves the name', async () => {
    const d = await env.dir();
    const a = await file(`${d}/a`);
    await mkdir(`${d}/sub`);
    await env.api.rename({ from: `${d}/a`, to: `${d}/sub/b` });
    await rejectsWith(env.api.lookup({ path: `${d}/a` }), 'ENOENT');
    const b = await env.api.lookup({ path: `${d}/sub/b` });
    assert.equal(b.ino, a.ino);
    assert.ok(b.ctimeMs >= a.ctimeMs);
    assert.deepEqual(await names(d), ['sub']);
  });

  it('rename over an existing file replaces it and releases its blocks', async () => {
    const d = await env.dir();
    const src = await file(`${d}/src`);
    const dst = await file(`${d}/dst`);
    const h = hashOf(`rename-over-${d}`);
    await env.api.commit({ ino: dst.ino, size: 10, blocks: [h], blockSizes: { [h]: 10 } });
    if (env.inspect) assert.equal(await refsOf(env, h), 1);
    await env.api.rename({ from: `${d}/src`, to: `${d}/dst` });
    assert.equal((await env.api.lookup({ path: `${d}/dst` })).ino, src.ino);
    await rejectsWith(env.api.getLayout({ ino: dst.ino }), 'ENOENT', 'replaced inode is gone');
    if (env.inspect) assert.equal(await refsOf(env, h), 0);
    assert.deepEqual(await names(d), ['dst']);
  });

  it('rename over a file with another hard link keeps that inode alive', async () => {
    const d = await env.dir();
    const src = await file(`${d}/src`);
    const dst = await file(`${d}/dst`);
    await env.api.link({ path: `${d}/dst`, newPath: `${d}/other` });
    await env.api.rename({ from: `${d}/src`, to: `${d}/dst` });
    assert.equal((await env.api.lookup({ path: `${d}/dst` })).ino, src.ino);
    const other = await env.api.lookup({ path: `${d}/other` });
    assert.equal(other.ino, dst.ino);
    assert.equal(other.nlink, 1);
  });

  it('rename between two names of one file, or onto itself, does nothing', async () => {
    const d = await env.dir();
    const a = await file(`${d}/a`);
    await env.api.link({ path: `${d}/a`, newPath: `${d}/b` });
    await env.api.rename({ from: `${d}/a`, to: `${d}/b` });
    assert.deepEqual(await names(d), ['a', 'b']);
    assert.equal((await env.api.lookup({ path: `${d}/a` })).nlink, 2);
    await env.api.rename({ from: `${d}/a`, to: `${d}/a` });
    assert.equal((await env.api.lookup({ path: `${d}/a` })).ino, a.ino);
    await mkdir(`${d}/dir`);
    await env.api.rename({ from: `${d}/dir`, to: `${d}/dir` });
    assert.deepEqual(await names(d), ['a', 'b', 'dir']);
  });

  it('rename a directory over an empty directory; parents keep correct nlink', async () => {
    const d = await env.dir();
    await mkdir(`${d}/p1`);
    await mkdir(`${d}/p2`);
    await mkdir(`${d}/p1/src`);
    await file(`${d}/p1/src/inside`);
    await mkdir(`${d}/p2/dst`);
    await env.api.rename({ from: `${d}/p1/src`, to: `${d}/p2/dst` });
    assert.equal((await env.api.lookup({ path: `${d}/p1` })).nlink, 2);
    assert.equal((await env.api.lookup({ path: `${d}/p2` })).nlink, 3);
    assert.deepEqual(await names(`${d}/p2/dst`), ['inside']);
    assert.deepEqual(await names(`${d}/p1`), []);
  });

  it('moving a directory updates nlink of both parents', async () => {
    const d = await env.dir();
    await mkdir(`${d}/p1`);
    await mkdir(`${d}/p2`);
    await mkdir(`${d}/p1/x`);
    assert.equal((await env.api.lookup({ path: `${d}/p1` })).nlink, 3);
    await env.api.rename({ from: `${d}/p1/x`, to: `${d}/p2/y` });
    assert.equal((await env.api.lookup({ path: `${d}/p1` })).nlink, 2);
    assert.equal((await env.api.lookup({ path: `${d}/p2` })).nlink, 3);
    await env.api.rename({ from: `${d}/p2/y`, to: `${d}/p2/z` });
    assert.equal((await env.api.lookup({ path: `${d}/p2` })).nlink, 3, 'rename within one parent');
    await file(`${d}/p1/f`);
    await env.api.rename({ from: `${d}/p1/f`, to: `${d}/p2/f` });
    assert.equal((await env.api.lookup({ path: `${d}/p2` })).nlink, 3, 'files do not count');
  });

  it('rename refuses type mismatches and non-empty targets', async () => {
    const d = await env.dir();
    await mkdir(`${d}/dir`);
    await mkdir(`${d}/full`);
    await file(`${d}/full/x`);
    await file(`${d}/f`);
    await rejectsWith(env.api.rename({ from: `${d}/dir`, to: `${d}/full` }), 'ENOTEMPTY');
    await rejectsWith(env.api.rename({ from: `${d}/f`, to: `${d}/dir` }), 'EISDIR');
    await rejectsWith(env.api.rename({ from: `${d}/dir`, to: `${d}/f` }), 'ENOTDIR');
    await rejectsWith(env.api.rename({ from: `${d}/full/x`, to: `${d}` }), 'ENOTEMPTY', 'onto its own ancestor');
    assert.deepEqual(await names(d), ['dir', 'f', 'full']);
    assert.deepEqual(await names(`${d}/full`), ['x']);
  });

  it('rename of a directory into its own subtree is EINVAL', async () => {
    const d = await env.dir();
    await mkdir(`${d}/a`);
    await mkdir(`${d}/a/b`);
    await rejectsWith(env.api.rename({ from: `${d}/a`, to: `${d}/a/b/c` }), 'EINVAL');
    await rejectsWith(env.api.rename({ from: `${d}/a`, to: `${d}/a/c` }), 'EINVAL');
    await rejectsWith(env.api.rename({ from: '/', to: `${d}/r` }), 'EINVAL');
    await rejectsWith(env.api.rename({ from: `${d}/a`, to: '/' }), 'EINVAL');
    assert.deepEqual(await names(`${d}/a`), ['b']);
  });

  it('rename path errors', async () => {
    const d = await env.dir();
    await file(`${d}/f`);
    await rejectsWith(env.api.rename({ from: `${d}/none`, to: `${d}/x` }), 'ENOENT');
    await rejectsWith(env.api.rename({ from: `${d}/f`, to: `${d}/none/x` }), 'ENOENT');
    await rejectsWith(env.api.rename({ from: `${d}/f`, to: `${d}/f/x` }), 'ENOTDIR');
    await rejectsWith(env.api.rename({ from: `${d}/f/x`, to: `${d}/y` }), 'ENOTDIR');
    await rejectsWith(env.api.rename({ from: `${d}/f`, to: `${d}/${'n'.repeat(256)}` }), 'ENAMETOOLONG');
    assert.deepEqual(await names(d), ['f']);
  });

  it('rename a symlink and a directory with contents', async () => {
    const d = await env.dir();
    await env.api.symlink({ path: `${d}/s`, target: 'target', owner: OWNER });
    await env.api.rename({ from: `${d}/s`, to: `${d}/t` });
    assert.equal(await env.api.readlink({ path: `${d}/t` }), 'target');
    await mkdir(`${d}/tree`);
    await mkdir(`${d}/tree/a`);
    await file(`${d}/tree/a/f`);
    await env.api.rename({ from: `${d}/tree`, to: `${d}/moved` });
    assert.equal((await env.api.lookup({ path: `${d}/moved/a/f` })).type, 'file');
    await rejectsWith(env.api.lookup({ path: `${d}/tree/a/f` }), 'ENOENT');
  });
}
