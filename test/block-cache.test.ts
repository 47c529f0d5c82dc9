// The block cache recycles whole-block buffers: a buffer may be handed out again only after its
// entry left the cache and every reader released its hold. Getting this wrong returns another
// block's bytes, so each rule is checked by taking buffers from the pool and looking at which come back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlockCache } from '../src/client/block-cache.js';

const B = 4096;

function filled(cache: BlockCache, byte: number): Buffer {
  return cache.buffers.take().fill(byte);
}

/** Every buffer the pool would hand out now (it makes new ones once its spares are gone). */
function spares(cache: BlockCache): Set<ArrayBufferLike> {
  const out = new Set<ArrayBufferLike>();
  for (let i = 0; i < 40; i++) out.add(cache.buffers.take().buffer);
  return out;
}

const settle = () => new Promise((r) => setImmediate(r));

test('a held block is not recycled when it is dropped, only when the hold is released', async () => {
  const cache = new BlockCache(64 * B, B);
  const scope = cache.open();
  const a = filled(cache, 0xaa);
  cache.set(scope, 'a', Promise.resolve(a));
  const held = cache.hold(scope, 'a')!;
  cache.drop(scope, 'a');
  assert.equal(cache.hold(scope, 'a'), undefined, 'a dropped block is not cached');
  await settle();
  const during = spares(cache);
  assert.ok(!during.has(a.buffer), 'not handed out while held');
  assert.equal((await held.bytes)[0], 0xaa);
  held.release();
  held.release();
  await settle();
  const after = spares(cache);
  assert.ok(after.has(a.buffer), 'handed out again after the release');
});

test('eviction and close recycle what nobody holds; a double release does not recycle twice', async () => {
  const cache = new BlockCache(2 * B, B);
  const s1 = cache.open();
  const [a, b, c] = [filled(cache, 1), filled(cache, 2), filled(cache, 3)];
  cache.set(s1, 'a', Promise.resolve(a));
  const holdA = cache.hold(s1, 'a')!;
  cache.set(s1, 'b', Promise.resolve(b));
  cache.set(s1, 'c', Promise.resolve(c)); // over budget: a (held) is evicted
  await settle();
  assert.equal(cache.hold(s1, 'a'), undefined);
  holdA.release();
  holdA.release();
  cache.close(s1); // b and c, unheld
  await settle();
  const got: ArrayBufferLike[] = [];
  for (let i = 0; i < 4; i++) got.push(cache.buffers.take().buffer);
  for (const x of [a, b, c]) assert.equal(got.filter((g) => g === x.buffer).length, 1, 'each recycled buffer comes back exactly once');
});

test('a fetch still running when its entry goes is recycled once it lands; a failed one is forgotten', async () => {
  const cache = new BlockCache(64 * B, B);
  const scope = cache.open();
  const a = filled(cache, 7);
  let land!: (b: Buffer) => void;
  cache.set(scope, 'a', new Promise((r) => { land = r; }));
  cache.drop(scope, 'a');
  let fail!: (e: Error) => void;
  cache.set(scope, 'x', new Promise((_r, j) => { fail = j; }));
  const heldX = cache.hold(scope, 'x')!;
  fail(new Error('no quorum'));
  await assert.rejects(heldX.bytes, /no quorum/);
  heldX.release();
  assert.equal(cache.hold(scope, 'x'), undefined, 'a failed fetch is not cached');
  land(a);
  await settle();
  assert.ok(spares(cache).has(a.buffer));
});

test('buffers not made by the cache pool (short blocks, dirty data) are never recycled', async () => {
  const cache = new BlockCache(64 * B, B);
  const scope = cache.open();
  const short = Buffer.alloc(100, 9);
  cache.set(scope, 's', Promise.resolve(short));
  cache.drop(scope, 's');
  await settle();
  assert.ok(!spares(cache).has(short.buffer));
  assert.equal(short[0], 9);
});

test('an entry moved to another scope (a block read ahead, taken by an open) is accounted and dropped there', async () => {
  const cache = new BlockCache(64 * B, B);
  const ahead = cache.open();
  const file = cache.open();
  let resolve!: (b: Buffer) => void;
  cache.set(ahead, 'a', new Promise<Buffer>((r) => { resolve = r; }));
  let reject!: (e: Error) => void;
  cache.set(ahead, 'b', new Promise<Buffer>((_, r) => { reject = r; }));
  assert.equal(cache.adopt(ahead, file, 'missing'), false);
  assert.ok(cache.adopt(ahead, file, 'a') && cache.adopt(ahead, file, 'b'));
  assert.equal(cache.has(ahead, 'a'), false);
  assert.equal(cache.usedBytes, 2 * B, 'counted at a block each until the fetches end');
  // The fetch ends after the move: its real size is counted, and a failed fetch leaves the new scope.
  resolve(Buffer.alloc(100, 7));
  reject(new Error('fetch failed'));
  await settle();
  assert.equal(cache.usedBytes, 100);
  assert.equal(cache.has(file, 'b'), false);
  const held = cache.hold(file, 'a')!;
  assert.equal((await held.bytes)[0], 7);
  held.release();
  cache.close(file);
  assert.equal(cache.usedBytes, 0, 'closing the file drops what it adopted');
});
