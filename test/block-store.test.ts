import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DiskBlockStore } from '../src/dataserver/block-store.js';
import { blockStoreConformance, block, flipByte } from './block-store-conformance.js';
import { tempDir } from './helpers/procs.js';

const MAX_BLOCK_BYTES = 1024 * 1024;
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function freshDir(): string {
  const d = tempDir('qfs-blockstore-');
  dirs.push(d);
  return d;
}

blockStoreConformance('DiskBlockStore', () => DiskBlockStore.open({ dir: freshDir(), maxBlockSizeBytes: MAX_BLOCK_BYTES }));

test('DiskBlockStore: layout is blocks/<2 hex>/<2 hex>/<hash>', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES });
  const b = block(100);
  await store.put(b.hash, b.bytes);
  const expected = join(dir, 'blocks', b.hash.slice(0, 2), b.hash.slice(2, 4), b.hash);
  assert.equal(store.pathOf(b.hash), expected);
  assert.ok(existsSync(expected));
  assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'no temp file is left behind');
});

test('DiskBlockStore: the 256 first-level directories exist from open on; one removed behind its back is made again', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES });
  const l1 = readdirSync(join(dir, 'blocks'));
  assert.equal(l1.length, 256);
  assert.ok(l1.every((d) => /^[0-9a-f]{2}$/.test(d)));
  const b = block(100);
  rmSync(join(dir, 'blocks', b.hash.slice(0, 2)), { recursive: true });
  await store.put(b.hash, b.bytes, { sync: true });
  assert.deepEqual(await store.get(b.hash), b.bytes);
});

test('DiskBlockStore: a quarantined copy is kept under DIR/quarantine/<hash>.<timestamp>', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES });
  const b = block(100);
  for (let i = 0; i < 2; i++) {
    await store.put(b.hash, b.bytes);
    flipByte(store.pathOf(b.hash), 50);
    await assert.rejects(store.get(b.hash), { code: 'EBADMSG' });
  }
  const names = readdirSync(join(dir, 'quarantine'));
  assert.equal(names.length, 2, 'a second quarantine of the same block must not overwrite the first');
  for (const n of names) assert.match(n, new RegExp(`^${b.hash}\\.\\d+(-\\d+)?$`));
});

test('DiskBlockStore: reopening indexes existing blocks, counts quarantine and empties tmp', async () => {
  const dir = freshDir();
  const first = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES });
  const kept = [block(10), block(20)];
  for (const b of kept) await first.put(b.hash, b.bytes);
  const bad = block(30);
  await first.put(bad.hash, bad.bytes);
  flipByte(first.pathOf(bad.hash));
  await assert.rejects(first.verify(bad.hash), { code: 'EBADMSG' });
  writeFileSync(join(dir, 'tmp', 'leftover'), 'half a block');
  writeFileSync(join(dir, 'blocks', 'stray-file'), 'not a block');
  mkdirSync(join(dir, 'blocks', 'zz'), { recursive: true });

  const second = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES });
  assert.deepEqual(new Map(await second.inventory()), new Map(kept.map((b) => [b.hash, b.bytes.length])));
  assert.deepEqual(await second.stats(), { blocks: 2, bytes: 30, quarantined: 1 });
  assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
});

test('DiskBlockStore: a block file found on disk but not indexed is adopted by get', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES });
  const b = block(64);
  const path = store.pathOf(b.hash);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, b.bytes);
  assert.deepEqual(await store.get(b.hash), b.bytes);
  assert.deepEqual(await store.inventory(), [[b.hash, 64]]);
});

test('DiskBlockStore: a file larger than the block size is corrupt without being read whole', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: 4096 });
  const b = block(4096);
  await store.put(b.hash, b.bytes);
  writeFileSync(store.pathOf(b.hash), Buffer.concat([b.bytes, Buffer.alloc(10)]));
  await assert.rejects(store.get(b.hash), { code: 'EBADMSG' });
  await assert.rejects(store.put(block(4097).hash, Buffer.alloc(4097)), { code: 'EFBIG' });
});

test('DiskBlockStore: sync marks written blocks as no longer unsynced', async () => {
  const store = await DiskBlockStore.open({ dir: freshDir(), maxBlockSizeBytes: MAX_BLOCK_BYTES });
  const a = block(10);
  const b = block(10);
  await store.put(a.hash, a.bytes);
  await store.put(b.hash, b.bytes);
  assert.equal(store.unsyncedCount, 2);
  await store.sync([a.hash]);
  assert.equal(store.unsyncedCount, 1);
  await store.sync([b.hash]);
  assert.equal(store.unsyncedCount, 0);
});
