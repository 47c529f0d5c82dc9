import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import assert from 'node:assert/strict';
import { isPageAligned } from '../src/common/aligned-memory.js';
import { BufferPool } from '../src/common/buffer-pool.js';

test('a buffer pool takes back its own buffers, from any view of them, and nothing else', () => {
  const pool = new BufferPool(4096, 2);
  const a = pool.take();
  assert.equal(a.length, 4096);
  pool.give(a.subarray(10, 20));
  const again = pool.take();
  assert.equal(again.buffer, a.buffer, 'a view given back returns the whole buffer');
  assert.equal(again.length, 4096);
  assert.equal(again.byteOffset, 0);
  const foreign = Buffer.allocUnsafeSlow(4096);
  pool.give(foreign);
  assert.notEqual(pool.take().buffer, foreign.buffer, 'a buffer the pool did not make is not handed out');
  const [x, y, z] = [pool.take(), pool.take(), pool.take()];
  for (const b of [x, y, z]) pool.give(b);
  const kept = new Set([pool.take().buffer, pool.take().buffer]);
  assert.ok(!kept.has(pool.take().buffer), 'at most `keep` spares are kept');
});

test('a buffer pool hands out exact fresh buffers for what it cannot keep, and does not take them back', () => {
  const pool = new BufferPool(4096, 2);
  const big = pool.take(5000);
  assert.equal(big.length, 5000, 'larger than the pool: a buffer of its own size');
  pool.give(big);
  assert.notEqual(pool.take().buffer, big.buffer);
  assert.equal(pool.take(10).length, 4096, 'a pool that keeps buffers hands out whole ones');
  const none = new BufferPool(1 << 20, 0);
  const small = none.take(3);
  assert.equal(small.length, 3, 'a pool that keeps nothing does not allocate its whole size');
  none.give(small);
  assert.equal(none.take(3).length, 3);
});

test('an aligned pool hands out page-aligned buffers, takes back each by any view of it, and keeps only those', () => {
  const bytes = 10_000; // not a page multiple: the slots are a whole number of pages apart
  const pool = new BufferPool(bytes, 3, { aligned: true });
  const [a, b, c] = [pool.take(), pool.take(), pool.take()];
  for (const x of [a, b, c]) {
    assert.equal(x.length, bytes);
    assert.ok(isPageAligned(x), 'starts on a page boundary');
  }
  assert.equal(new Set([a.byteOffset, b.byteOffset, c.byteOffset]).size, 3, 'three distinct slots');
  a.fill(1);
  b.fill(2);
  assert.ok(a.every((v) => v === 1), 'slots do not overlap');
  const extra = pool.take();
  assert.ok(!isPageAligned(extra), 'past the slab: an ordinary buffer');
  pool.give(extra);
  pool.give(b.subarray(100, 200));
  const back = pool.take();
  assert.equal(back.byteOffset, b.byteOffset, 'a view given back returns its own slot');
  assert.equal(back.length, bytes);
  assert.notEqual(pool.take().buffer, extra.buffer, 'the ordinary buffer was not kept');
});

test('an aligned pool where no WebAssembly memory can be made (ulimit -v) hands out ordinary buffers', () => {
  // V8 reserves ~10 GiB of address space per WebAssembly memory; 4 GB of it is refused.
  const script = `
    import { BufferPool } from ${JSON.stringify(new URL('../src/common/buffer-pool.js', import.meta.url).href)};
    import { isPageAligned } from ${JSON.stringify(new URL('../src/common/aligned-memory.js', import.meta.url).href)};
    let made = true;
    try { new WebAssembly.Memory({ initial: 1, maximum: 1 }); } catch { made = false; }
    const pool = new BufferPool(65536, 4, { aligned: true });
    const b = pool.take();
    b.fill(7);
    pool.give(b);
    console.log(JSON.stringify({ made, length: b.length, aligned: isPageAligned(b), again: pool.take() === b }));`;
  const out = execFileSync('bash', ['-c', 'ulimit -v 4000000 && exec "$0" --input-type=module -e "$1"', process.execPath, script], { encoding: 'utf8' });
  assert.deepEqual(JSON.parse(out), { made: false, length: 65536, aligned: false, again: true });
});
