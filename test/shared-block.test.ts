// SharedBlock: a pooled buffer goes back to its pool after the last reference, never before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BufferPool } from '../src/common/buffer-pool.js';
import { SharedBlock } from '../src/client/shared-block.js';

test('the buffer returns to the pool only after the writer, the upload and every reader let go', async () => {
  const pool = new BufferPool(4096, 4);
  const data = Buffer.alloc(4000, 7);
  const block = SharedBlock.blockOf(data, pool);
  assert.equal(block.bytes.length, 4096);
  assert.ok(block.bytes.subarray(0, 4000).equals(data));
  assert.ok(block.bytes.subarray(4000).equals(Buffer.alloc(96)), 'zeros after the data');
  const upload = block.ref();
  const reader = block.hold(block.bytes.subarray(0, 100));
  assert.equal((await reader.bytes).length, 100);
  block.unref();
  upload.unref();
  // The reader still holds it: the pool must make a new buffer.
  const other = pool.take();
  assert.notEqual(other.buffer, block.bytes.buffer);
  reader.release();
  reader.release();
  assert.equal(pool.take().buffer, block.bytes.buffer, 'recycled after the last release');
  assert.throws(() => block.ref(), /after the last unref/);
  assert.throws(() => block.unref(), /after the last one/);
});

test('a block not from a pool is left to the garbage collector', () => {
  const pool = new BufferPool(4096, 4);
  const own = new SharedBlock(Buffer.alloc(4096));
  own.unref();
  assert.notEqual(pool.take().buffer, own.bytes.buffer);
});
