// Conformance: layouts, commits and block reference accounting, reservations and faults.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { OWNER, hashOf, refsOf, rejectsWith, type SuiteEnv } from './meta-conformance-helpers.js';

export function registerLayoutTests(env: SuiteEnv): void {
  const file = (path: string) => env.api.create({ path, mode: 0o644, owner: OWNER, exclusive: true });
  const bs = () => env.config.blockSizeBytes;

  it('a new file has an empty layout at version 0', async () => {
    const d = await env.dir();
    const f = await file(`${d}/f`);
    assert.deepEqual(await env.api.getLayout({ ino: f.ino }), { ino: f.ino, size: 0, blockSizeBytes: bs(), blocks: [], version: 0 });
  });

  it('commit replaces size and blocks, bumps the version, sets mtime', async () => {
    const d = await env.dir();
    const f = await file(`${d}/f`);
    const [h1, h2] = [hashOf(`${d}1`), hashOf(`${d}2`)];
    const size = bs() + 100;
    const a = await env.api.commit({ ino: f.ino, size, blocks: [h1, h2], blockSizes: { [h1]: bs(), [h2]: 100 }, mtimeMs: 42_000 });
    assert.deepEqual([a.ino, a.size, a.mtimeMs], [f.ino, size, 42_000]);
    assert.ok(a.ctimeMs >= f.ctimeMs);
    assert.deepEqual(await env.api.getLayout({ ino: f.ino }), { ino: f.ino, size, blockSizeBytes: bs(), blocks: [h1, h2], version: 1 });
    assert.equal((await env.api.lookup({ path: `${d}/f` })).size, size);
    const b = await env.api.commit({ ino: f.ino, size: 5, blocks: [h2], blockSizes: {} });
    assert.ok(b.mtimeMs > 42_000, 'mtime defaults to now');
    assert.equal((await env.api.getLayout({ ino: f.ino })).version, 2);
    if (env.inspect) {
      assert.equal(await refsOf(env, h1), 0);
      assert.equal(await refsOf(env, h2), 1);
    }
  });

  it('openPath answers attributes and layout together; a directory has no layout; sync is a no-op barrier', async () => {
    const d = await env.dir();
    const f = await file(`${d}/f`);
    const h = hashOf(`${d}o`);
    await env.api.commit({ ino: f.ino, size: 10, blocks: [h], blockSizes: { [h]: 10 } });
    const opened = await env.api.openPath({ path: `${d}/f` });
    assert.deepEqual(opened.attr, await env.api.lookup({ path: `${d}/f` }));
    assert.deepEqual(opened.layout, await env.api.getLayout({ ino: f.ino }));
    const dir = await env.api.openPath({ path: d });
    assert.equal(dir.attr.type, 'dir');
    assert.equal(dir.layout, null);
    await rejectsWith(env.api.openPath({ path: `${d}/missing` }), 'ENOENT');
    await env.api.sync({});
    assert.equal((await env.api.lookup({ path: `${d}/f` })).size, 10);
  });

  it('holes round-trip and short lists are allowed', async () => {
    const d = await env.dir();
    const f = await file(`${d}/f`);
    const h = hashOf(`${d}h`);
    await env.api.commit({ ino: f.ino, size: 4 * bs(), blocks: [null, h, null], blockSizes: { [h]: bs() } });
    assert.deepEqual((await env.api.getLayout({ ino: f.ino })).blocks, [null, h, null]);
    await env.api.commit({ ino: f.ino, size: 10 * bs(), blocks: [], blockSizes: {} });
    assert.deepEqual((await env.api.getLayout({ ino: f.ino })).blocks, []);
    if (env.inspect) assert.equal(await refsOf(env, h), 0);
  });

  it('shared and repeated blocks are counted per occurrence', async () => {
    const d = await env.dir();
    const f = await file(`${d}/f`);
    const g = await file(`${d}/g`);
    const h = hashOf(`${d}shared`);
    await env.api.commit({ ino: f.ino, size: 3 * bs(), blocks: [h, h, h], blockSizes: { [h]: bs() } });
    await env.api.commit({ ino: g.ino, size: bs(), blocks: [h], blockSizes: { [h]: bs() } });
    if (env.inspect) assert.equal(await refsOf(env, h), 4);
    await env.api.commit({ ino: f.ino, size: 2 * bs(), blocks: [h, null], blockSizes: {} });
    if (env.inspect) assert.equal(await refsOf(env, h), 2, 'kept block keeps its net count');
    await env.api.unlink({ path: `${d}/f` });
    if (env.inspect) assert.equal(await refsOf(env, h), 1, 'unlink releases the last link blocks');
    await env.api.link({ path: `${d}/g`, newPath: `${d}/g2` });
    await env.api.unlink({ path: `${d}/g` });
    if (env.inspect) assert.equal(await refsOf(env, h), 1, 'a remaining hard link keeps the blocks');
    assert.deepEqual((await env.api.getLayout({ ino: g.ino })).blocks, [h]);
    await env.api.unlink({ path: `${d}/g2` });
    if (env.inspect) assert.equal(await refsOf(env, h), 0);
  });

  it('statfs counts distinct referenced blocks and their bytes', async () => {
    const d = await env.dir();
    const f = await file(`${d}/f`);
    const [h1, h2] = [hashOf(`${d}s1`), hashOf(`${d}s2`)];
    const s0 = await env.api.statfs({});
    await env.api.commit({ ino: f.ino, size: 3 * bs(), blocks: [h1, h1, h2], blockSizes: { [h1]: bs(), [h2]: 77 } });
    const s1 = await env.api.statfs({});
    assert.equal(s1.blocks, s0.blocks + 2);
    assert.equal(s1.blockBytes, s0.blockBytes + bs() + 77);
    await env.api.unlink({ path: `${d}/f` });
    const s2 = await env.api.statfs({});
    assert.deepEqual([s2.blocks, s2.blockBytes], [s0.blocks, s0.blockBytes]);
  });

  it('refused commits change nothing', async () => {
    const d = await env.dir();
    const f = await file(`${d}/f`);
    const [h1, h2] = [hashOf(`${d}r1`), hashOf(`${d}r2`)];
    await env.api.commit({ ino: f.ino, size: bs(), blocks: [h1], blockSizes: { [h1]: bs() } });
    const before = await env.api.getLayout({ ino: f.ino });
    await rejectsWith(env.api.commit({ ino: f.ino, size: 2 * bs(), blocks: [h1, h2], blockSizes: {} }), 'EINVAL', 'new block without size');
    await rejectsWith(env.api.commit({ ino: f.ino, size: bs(), blocks: [h1, h2], blockSizes: { [h2]: 1 } }), 'EINVAL', 'list longer than the size');
    await rejectsWith(env.api.commit({ ino: f.ino, size: 0, blocks: [h1], blockSizes: {} }), 'EINVAL', 'blocks for an empty file');
    await rejectsWith(env.api.commit({ ino: f.ino, size: bs(), blocks: ['xyz'], blockSizes: {} }), 'EINVAL', 'bad block name');
    await rejectsWith(env.api.commit({ ino: f.ino, size: bs(), blocks: [h2], blockSizes: { [h2]: bs() + 1 } }), 'EINVAL', 'block larger than the block size');
    await rejectsWith(env.api.commit({ ino: f.ino, size: -1, blocks: [], blockSizes: {} }), 'EINVAL', 'negative size');
    assert.deepEqual(await env.api.getLayout({ ino: f.ino }), before);
    if (env.inspect) {
      assert.equal(await refsOf(env, h1), 1);
      assert.equal(await refsOf(env, h2), 0);
    }
  });

  it('expectVersion: a stale writer gets ESTALE', async () => {
    const d = await env.dir();
    const f = await file(`${d}/f`);
    const h = hashOf(`${d}v`);
    await env.api.commit({ ino: f.ino, size: 1, blocks: [h], blockSizes: { [h]: 1 }, expectVersion: 0 });
    await rejectsWith(env.api.commit({ ino: f.ino, size: 0, blocks: [], blockSizes: {}, expectVersion: 0 }), 'ESTALE');
    assert.deepEqual((await env.api.getLayout({ ino: f.ino })).blocks, [h]);
    await env.api.commit({ ino: f.ino, size: 0, blocks: [], blockSizes: {}, expectVersion: 1 });
    assert.equal((await env.api.getLayout({ ino: f.ino })).version, 2);
  });

  it('layouts exist only for regular files', async () => {
    const d = await env.dir();
    const dir = await env.api.lookup({ path: d });
    const s = await env.api.symlink({ path: `${d}/s`, target: 'x', owner: OWNER });
    const f = await file(`${d}/f`);
    await env.api.unlink({ path: `${d}/f` });
    await rejectsWith(env.api.getLayout({ ino: dir.ino }), 'EISDIR');
    await rejectsWith(env.api.getLayout({ ino: s.ino }), 'EINVAL');
    await rejectsWith(env.api.getLayout({ ino: f.ino }), 'ENOENT');
    const commit = (ino: number) => env.api.commit({ ino, size: 0, blocks: [], blockSizes: {} });
    await rejectsWith(commit(dir.ino), 'EISDIR');
    await rejectsWith(commit(s.ino), 'EINVAL');
    await rejectsWith(commit(f.ino), 'ENOENT', 'commit to a deleted file');
  });

  it('reserveBlocks does not count as a reference', async () => {
    const d = await env.dir();
    const h = hashOf(`${d}reserved`);
    await env.api.reserveBlocks({ hashes: [h, h] });
    if (env.inspect) assert.equal(await refsOf(env, h), 0);
    const f = await file(`${d}/f`);
    await env.api.commit({ ino: f.ino, size: 9, blocks: [h], blockSizes: { [h]: 9 } });
    if (env.inspect) assert.deepEqual((await env.inspect.listBlocks()).find((b) => b.hash === h), { hash: h, refs: 1, size: 9 });
    await env.api.reserveBlocks({ hashes: [h] });
    if (env.inspect) assert.equal(await refsOf(env, h), 1, 'reserving a referenced block keeps its refs');
    await rejectsWith(env.api.reserveBlocks({ hashes: ['nothex'] }), 'EINVAL');
  });

  it('reportFaults queues each copy once', async () => {
    const h = hashOf(`fault-${Date.now()}`);
    await env.api.reportFaults({ faults: [{ hash: h, server: 2, reason: 'corrupt' }, { hash: h, server: 3, reason: 'missing' }] });
    await env.api.reportFaults({ faults: [{ hash: h, server: 2, reason: 'write-missed' }] });
    if (env.inspect) {
      const mine = (await env.inspect.listFaults({ limit: 100_000 })).filter((f) => f.hash === h);
      assert.deepEqual(mine.sort((a, b) => a.server - b.server), [
        { hash: h, server: 2, reason: 'corrupt' },
        { hash: h, server: 3, reason: 'missing' },
      ]);
    }
    await rejectsWith(env.api.reportFaults({ faults: [{ hash: h, server: 0, reason: 'corrupt' }] }), 'EINVAL');
    await rejectsWith(env.api.reportFaults({ faults: [{ hash: h, server: 1, reason: 'bogus' as 'corrupt' }] }), 'EINVAL');
  });
}
