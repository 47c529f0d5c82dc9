// Behaviour every BlockStore must have, registered as node:test tests so each implementation
// (disk today, others later) runs the same checks.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync, truncateSync, unlinkSync } from 'node:fs';
import type { BlockStore } from '../src/dataserver/block-store.js';
import { CorruptBlockError } from '../src/dataserver/corrupt-block-error.js';
import { legacyTransferChecksum, transferChecksum } from '../src/common/hash.js';

/** Stores whose blocks are files expose where, so tests can damage them the way a disk would. */
interface FileBacked {
  pathOf(hash: string): string;
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function block(sizeBytes: number): { hash: string; bytes: Buffer } {
  const bytes = randomBytes(sizeBytes);
  return { hash: sha256(bytes), bytes };
}

/** Flips one bit of the byte at offset in place (same inode, as silent disk corruption would). */
export function flipByte(path: string, offset = 0): void {
  const data = readFileSync(path);
  data[offset] = data[offset]! ^ 0x01;
  writeFileSync(path, data);
}

function filePathOrSkip(t: TestContext, store: BlockStore, hash: string): string | undefined {
  const fb = store as Partial<FileBacked>;
  if (typeof fb.pathOf !== 'function') {
    t.skip('store does not expose file paths');
    return undefined;
  }
  return fb.pathOf(hash);
}

export function blockStoreConformance(name: string, makeStore: () => Promise<BlockStore>): void {
  const EMPTY_HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

  test(`${name}: put then get returns the same bytes, verify returns the size`, async () => {
    const store = await makeStore();
    const b = block(10_000);
    await store.put(b.hash, b.bytes);
    assert.deepEqual(await store.get(b.hash), b.bytes);
    assert.equal(await store.verify(b.hash), 10_000);
  });

  test(`${name}: a 0-byte block is stored and read back`, async () => {
    const store = await makeStore();
    assert.equal(sha256(Buffer.alloc(0)), EMPTY_HASH);
    await store.put(EMPTY_HASH, Buffer.alloc(0));
    assert.equal((await store.get(EMPTY_HASH)).length, 0);
    assert.equal(await store.verify(EMPTY_HASH), 0);
    assert.deepEqual(await store.inventory(), [[EMPTY_HASH, 0]]);
  });

  test(`${name}: bytes that do not hash to the name are refused and nothing is stored`, async () => {
    const store = await makeStore();
    const b = block(1000);
    const other = block(1000);
    await assert.rejects(store.put(other.hash, b.bytes), { code: 'EINVAL' });
    await assert.rejects(store.get(other.hash), { code: 'ENOENT' });
    await assert.rejects(store.get(b.hash), { code: 'ENOENT' });
    assert.deepEqual(await store.inventory(), []);
    assert.deepEqual(await store.stats(), { blocks: 0, bytes: 0, quarantined: 0 });
  });

  test(`${name}: with the writer's checksum, bytes that do not match it are refused; the name is the writer's word until read`, async () => {
    const store = await makeStore();
    const b = block(3000);
    const crc32 = transferChecksum(b.bytes);
    const damaged = Buffer.from(b.bytes);
    damaged[17] = damaged[17]! ^ 0x01;
    await assert.rejects(store.put(b.hash, damaged, { crc32, sync: true }), { code: 'EINVAL' });
    assert.deepEqual(await store.inventory(), []);
    await store.put(b.hash, b.bytes, { crc32, sync: true });
    assert.deepEqual(await store.get(b.hash), b.bytes);
    // A writer that named its bytes wrongly: stored, and the first read finds the copy corrupt.
    const other = block(3000);
    await store.put(other.hash, b.bytes, { crc32 });
    await assert.rejects(store.get(other.hash), (err: unknown) => err instanceof CorruptBlockError);
    await assert.rejects(store.get(other.hash), { code: 'ENOENT' });
  });

  test(`${name}: a writer's CRC-32C (writers before stop 27) is checked as such`, async () => {
    const store = await makeStore();
    const b = block(3000);
    const crc32c = legacyTransferChecksum(b.bytes);
    const damaged = Buffer.from(b.bytes);
    damaged[5] = damaged[5]! ^ 0x80;
    await assert.rejects(store.put(b.hash, damaged, { crc32c, sync: true }), { code: 'EINVAL', message: /CRC-32C/ });
    await assert.rejects(store.put(b.hash, b.bytes, { crc32: crc32c, sync: true }), { code: 'EINVAL' }, 'the two checksums differ');
    await store.put(b.hash, b.bytes, { crc32c, sync: true });
    assert.deepEqual(await store.get(b.hash), b.bytes);
  });

  test(`${name}: malformed names are refused`, async () => {
    const store = await makeStore();
    const b = block(10);
    for (const bad of [b.hash.toUpperCase(), b.hash.slice(1), '../' + b.hash.slice(3), '']) {
      await assert.rejects(store.put(bad, b.bytes), { code: 'EINVAL' });
      await assert.rejects(store.get(bad), { code: 'EINVAL' });
    }
    assert.deepEqual(await store.inventory(), []);
  });

  test(`${name}: a flipped byte on disk is detected by get, and the copy is quarantined`, async (t) => {
    const store = await makeStore();
    const b = block(5000);
    await store.put(b.hash, b.bytes);
    const path = filePathOrSkip(t, store, b.hash);
    if (!path) return;
    flipByte(path, 1234);
    await assert.rejects(store.get(b.hash), (err: unknown) => err instanceof CorruptBlockError && err.code === 'EBADMSG');
    assert.equal(existsSync(path), false, 'corrupt copy must be moved away from its name');
    assert.equal((await store.stats()).quarantined, 1);
    assert.deepEqual(await store.inventory(), []);
    await assert.rejects(store.get(b.hash), { code: 'ENOENT' });
  });

  test(`${name}: verify re-reads the disk and detects corruption`, async (t) => {
    const store = await makeStore();
    const b = block(5000);
    await store.put(b.hash, b.bytes);
    assert.equal(await store.verify(b.hash), 5000);
    const path = filePathOrSkip(t, store, b.hash);
    if (!path) return;
    flipByte(path, 4999);
    await assert.rejects(store.verify(b.hash), { code: 'EBADMSG' });
    assert.equal(existsSync(path), false);
    assert.equal((await store.stats()).quarantined, 1);
  });

  test(`${name}: a truncated file is detected`, async (t) => {
    const store = await makeStore();
    const b = block(5000);
    await store.put(b.hash, b.bytes);
    const path = filePathOrSkip(t, store, b.hash);
    if (!path) return;
    truncateSync(path, 100);
    await assert.rejects(store.verify(b.hash), { code: 'EBADMSG' });
    await assert.rejects(store.get(b.hash), { code: 'ENOENT' });
  });

  test(`${name}: a file deleted on disk reads as ENOENT and leaves the inventory`, async (t) => {
    const store = await makeStore();
    const b = block(100);
    await store.put(b.hash, b.bytes);
    const path = filePathOrSkip(t, store, b.hash);
    if (!path) return;
    unlinkSync(path);
    await assert.rejects(store.get(b.hash), { code: 'ENOENT' });
    await assert.rejects(store.verify(b.hash), { code: 'ENOENT' });
    assert.deepEqual(await store.inventory(), []);
    assert.equal((await store.stats()).quarantined, 0);
  });

  test(`${name}: delete removes the block and reports whether it existed`, async () => {
    const store = await makeStore();
    const b = block(100);
    await store.put(b.hash, b.bytes);
    assert.equal(await store.delete(b.hash), true);
    assert.equal(await store.delete(b.hash), false);
    await assert.rejects(store.get(b.hash), { code: 'ENOENT' });
    assert.deepEqual(await store.stats(), { blocks: 0, bytes: 0, quarantined: 0 });
  });

  test(`${name}: inventory and stats count every block once`, async () => {
    const store = await makeStore();
    const blocks = [block(1), block(200), block(3000)];
    for (const b of blocks) await store.put(b.hash, b.bytes);
    await store.put(blocks[1]!.hash, blocks[1]!.bytes); // identical blocks are stored once
    const inv = new Map(await store.inventory());
    assert.equal(inv.size, 3);
    for (const b of blocks) assert.equal(inv.get(b.hash), b.bytes.length);
    assert.deepEqual(await store.stats(), { blocks: 3, bytes: 3201, quarantined: 0 });
  });

  test(`${name}: sync reports stored blocks durable and others missing`, async () => {
    const store = await makeStore();
    const a = block(100);
    const b = block(200);
    const absent = block(300);
    await store.put(a.hash, a.bytes);
    await store.put(b.hash, b.bytes);
    const r = await store.sync([a.hash, absent.hash, b.hash, a.hash, 'not-a-name']);
    assert.deepEqual(r.durable, [a.hash, b.hash]);
    assert.deepEqual(r.missing, [absent.hash, 'not-a-name']);
    assert.deepEqual(await store.sync([]), { durable: [], missing: [] });
  });

  test(`${name}: putting a block again replaces a corrupt copy`, async (t) => {
    const store = await makeStore();
    const b = block(4000);
    await store.put(b.hash, b.bytes);
    const path = filePathOrSkip(t, store, b.hash);
    if (!path) return;
    flipByte(path, 0);
    await store.put(b.hash, b.bytes);
    assert.deepEqual(await store.get(b.hash), b.bytes);
    assert.equal((await store.stats()).quarantined, 0);
    assert.deepEqual(await store.sync([b.hash]), { durable: [b.hash], missing: [] });
  });

  test(`${name}: concurrent puts, gets and syncs of one block all succeed`, async () => {
    const store = await makeStore();
    const b = block(20_000);
    await store.put(b.hash, b.bytes);
    const ops: Array<Promise<unknown>> = [];
    for (let i = 0; i < 20; i++) {
      ops.push(store.put(b.hash, b.bytes), store.get(b.hash), store.verify(b.hash), store.sync([b.hash]));
    }
    await Promise.all(ops);
    assert.deepEqual(await store.get(b.hash), b.bytes);
    assert.deepEqual(await store.stats(), { blocks: 1, bytes: 20_000, quarantined: 0 });
  });
}
