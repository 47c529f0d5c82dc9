import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, statfsSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { alignedBuffers } from '../src/common/aligned-memory.js';
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

// No spare stock here: a store's background upkeep would outlive its test and move the descriptor
// counts that later tests check. The stock has its own tests below, and every data server process runs one.
blockStoreConformance('DiskBlockStore', () => DiskBlockStore.open({ dir: freshDir(), maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 }));

test('DiskBlockStore: layout is blocks/<2 hex>/<hash>', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  const b = block(100);
  await store.put(b.hash, b.bytes);
  const expected = join(dir, 'blocks', b.hash.slice(0, 2), b.hash);
  assert.equal(store.pathOf(b.hash), expected);
  assert.ok(existsSync(expected));
  assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'no temp file is left behind');
});

test('DiskBlockStore: the 256 first-level directories exist from open on; one removed behind its back is made again', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  const l1 = readdirSync(join(dir, 'blocks'));
  assert.equal(l1.length, 256);
  assert.ok(l1.every((d) => /^[0-9a-f]{2}$/.test(d)));
  const b = block(100);
  rmSync(join(dir, 'blocks', b.hash.slice(0, 2)), { recursive: true });
  await store.put(b.hash, b.bytes, { sync: true });
  assert.deepEqual(await store.get(b.hash), b.bytes);
});

test('DiskBlockStore: a synced put of a block already held keeps a good copy and replaces a bad or missing one', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  const b = block(4096);
  const path = store.pathOf(b.hash);
  await store.put(b.hash, b.bytes);
  const first = statSync(path).ino;
  assert.equal(store.unsyncedCount, 1);
  // The same bytes again, synced: the file stays (same inode) and is now durable.
  await store.put(b.hash, b.bytes, { sync: true });
  assert.equal(statSync(path).ino, first, 'a good copy is not written again');
  assert.equal(store.unsyncedCount, 0, 'a synced put makes the kept copy durable');
  // A streamed (unsynced) put writes anew, as before.
  await store.put(b.hash, b.bytes);
  assert.notEqual(statSync(path).ino, first, 'a streamed put writes the block again');
  // A corrupt copy is not kept: the synced put writes the bytes anew.
  const kept = statSync(path).ino;
  flipByte(path, 10);
  await store.put(b.hash, b.bytes, { sync: true });
  assert.notEqual(statSync(path).ino, kept, 'a bad copy is replaced');
  assert.deepEqual(await store.get(b.hash), b.bytes);
  // Nor is a truncated one, or one removed behind the server's back.
  const second = statSync(path).ino;
  truncateSync(path, 100);
  await store.put(b.hash, b.bytes, { sync: true });
  assert.notEqual(statSync(path).ino, second);
  assert.deepEqual(await store.get(b.hash), b.bytes);
  unlinkSync(path);
  await store.put(b.hash, b.bytes, { sync: true });
  assert.deepEqual(await store.get(b.hash), b.bytes);
  assert.deepEqual(readdirSync(join(dir, 'quarantine')), [], 'a put replaces, it does not quarantine');
});

test('DiskBlockStore: a quarantined copy is kept under DIR/quarantine/<hash>.<timestamp>', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
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

test('DiskBlockStore: reopening indexes existing blocks, counts quarantine and empties what tmp holds', async () => {
  const dir = freshDir();
  const first = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  const kept = [block(10), block(20)];
  for (const b of kept) await first.put(b.hash, b.bytes);
  const bad = block(30);
  await first.put(bad.hash, bad.bytes);
  flipByte(first.pathOf(bad.hash));
  await assert.rejects(first.verify(bad.hash), { code: 'EBADMSG' });
  writeFileSync(join(dir, 'tmp', 'leftover'), 'half a block');
  writeFileSync(join(dir, 'blocks', 'stray-file'), 'not a block');
  mkdirSync(join(dir, 'blocks', 'zz'), { recursive: true });

  const second = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  assert.deepEqual(new Map(await second.inventory()), new Map(kept.map((b) => [b.hash, b.bytes.length])));
  assert.deepEqual(await second.stats(), { blocks: 2, bytes: 30, quarantined: 1 });
  // The unconfirmed write a crash left is emptied and kept as a spare, never read as a block.
  assert.deepEqual(readdirSync(join(dir, 'tmp')), ['leftover']);
  assert.equal(statSync(join(dir, 'tmp', 'leftover')).size, 0);
  assert.equal(second.spareCount, 1);
  const next = block(40);
  await second.put(next.hash, next.bytes, { sync: true });
  assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'the spare became the new block');
  assert.deepEqual(await second.get(next.hash), next.bytes);
});

test('DiskBlockStore: a deleted block\'s file is emptied and reused for the next new block', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  const a = block(8192);
  await store.put(a.hash, a.bytes, { sync: true });
  const inode = statSync(store.pathOf(a.hash)).ino;
  assert.equal(await store.delete(a.hash), true);
  assert.equal(existsSync(store.pathOf(a.hash)), false);
  const spares = readdirSync(join(dir, 'tmp'));
  assert.equal(spares.length, 1);
  assert.equal(statSync(join(dir, 'tmp', spares[0]!)).size, 0, 'a spare holds no data');
  assert.deepEqual(await store.stats(), { blocks: 0, bytes: 0, quarantined: 0 });
  for (const sync of [true, false]) {
    const b = block(sync ? 100 : 300);
    await store.put(b.hash, b.bytes, { sync });
    if (sync) assert.equal(statSync(store.pathOf(b.hash)).ino, inode, 'the new block reuses the deleted one\'s inode');
    assert.deepEqual(await store.get(b.hash), b.bytes);
    assert.deepEqual(await store.get(b.hash, { check: false }), b.bytes);
    await store.delete(b.hash);
  }
  await assert.rejects(store.get(a.hash), { code: 'ENOENT' });
});

test('DiskBlockStore: a block deleted while a read holds its file is unlinked, and the read gets its bytes', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  const a = block(64 * 1024);
  await store.put(a.hash, a.bytes, { sync: true });
  // The read opens the file at once and waits for the thread pool; the delete runs meanwhile.
  const reading = store.get(a.hash, { check: false });
  assert.equal(await store.delete(a.hash), true);
  assert.deepEqual(await reading, a.bytes, 'a read in progress must not see its file emptied or reused');
  assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'a file a read held is not kept as a spare');
});

test('DiskBlockStore: a store in the two-level layout (blocks/ab/cd/<hash>) is moved to the one-level layout when opened', async () => {
  const dir = freshDir();
  const [a, b, c] = [block(10), block(20), block(30)];
  const legacy = (h: string) => join(dir, 'blocks', h.slice(0, 2), h.slice(2, 4), h);
  for (const x of [a, b, c]) {
    mkdirSync(join(legacy(x.hash), '..'), { recursive: true });
    writeFileSync(legacy(x.hash), x.bytes);
  }
  // A move cut short by a crash: c already has its new name, and still its old one.
  mkdirSync(join(dir, 'blocks', c.hash.slice(0, 2)), { recursive: true });
  writeFileSync(join(dir, 'blocks', c.hash.slice(0, 2), c.hash), c.bytes);
  // A stray file in an old leaf is left where it is, with its leaf.
  writeFileSync(join(legacy(a.hash), '..', 'stray'), 'x');

  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  assert.deepEqual(new Map(await store.inventory()), new Map([a, b, c].map((x) => [x.hash, x.bytes.length])));
  for (const x of [a, b, c]) {
    assert.equal(store.pathOf(x.hash), join(dir, 'blocks', x.hash.slice(0, 2), x.hash));
    assert.equal(existsSync(legacy(x.hash)), false, 'the old name is gone');
    assert.deepEqual(await store.get(x.hash), x.bytes);
  }
  assert.equal(existsSync(join(legacy(b.hash), '..')), b.hash.slice(0, 4) === a.hash.slice(0, 4), 'an emptied old leaf is removed');
  assert.deepEqual(readdirSync(join(legacy(a.hash), '..')), ['stray']);
  // Opened again: nothing left to move, the same blocks.
  const again = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  assert.deepEqual(await again.stats(), { blocks: 3, bytes: 60, quarantined: 0 });
});

test('DiskBlockStore: a fresh store makes a stock of empty files at open, and a new block takes one instead of creating its own', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 4 });
  assert.equal(store.spareCount, 4, 'made before open returns');
  const stock = new Map(readdirSync(join(dir, 'tmp')).map((n) => [statSync(join(dir, 'tmp', n)).ino, n]));
  assert.equal(stock.size, 4);
  for (const n of stock.values()) assert.equal(statSync(join(dir, 'tmp', n)).size, 0, 'a spare holds no data');
  for (const sync of [true, false]) {
    const b = block(sync ? 100 : 4096);
    await store.put(b.hash, b.bytes, { sync });
    assert.ok(stock.has(statSync(store.pathOf(b.hash)).ino), `the ${sync ? 'synced' : 'streamed'} block's file is one of the stock`);
    assert.deepEqual(await store.get(b.hash), b.bytes);
  }
  // Not made again later (it would land on whatever the server does next): only deletes add spares.
  await new Promise((r) => setTimeout(r, 1_200));
  assert.equal(store.spareCount, 2);
  assert.equal(readdirSync(join(dir, 'tmp')).length, 2);
});

test('DiskBlockStore: the stock stays within the spare cap', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, maxSpareFiles: 2, spareStock: 50 });
  assert.equal(store.spareCount, 2);
  assert.equal(readdirSync(join(dir, 'tmp')).length, 2);
});

test('DiskBlockStore: spares are capped; deletes past the cap unlink', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, maxSpareFiles: 2, spareStock: 0 });
  const blocks = [block(10), block(20), block(30)];
  for (const b of blocks) await store.put(b.hash, b.bytes);
  for (const b of blocks) await store.delete(b.hash);
  assert.equal(readdirSync(join(dir, 'tmp')).length, 2);
  assert.equal(store.spareCount, 2);
});

test('DiskBlockStore: a block file found on disk but not indexed is adopted by get', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  const b = block(64);
  const path = store.pathOf(b.hash);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, b.bytes);
  assert.deepEqual(await store.get(b.hash), b.bytes);
  assert.deepEqual(await store.inventory(), [[b.hash, 64]]);
});

test('DiskBlockStore: a file larger than the block size is corrupt without being read whole', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: 4096, spareStock: 0 });
  const b = block(4096);
  await store.put(b.hash, b.bytes);
  writeFileSync(store.pathOf(b.hash), Buffer.concat([b.bytes, Buffer.alloc(10)]));
  await assert.rejects(store.get(b.hash), { code: 'EBADMSG' });
  await assert.rejects(store.put(block(4097).hash, Buffer.alloc(4097)), { code: 'EFBIG' });
});

test('DiskBlockStore: sync marks written blocks as no longer unsynced', async () => {
  const store = await DiskBlockStore.open({ dir: freshDir(), maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
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

test('DiskBlockStore: block files kept open for reads follow the name, never a file it no longer names', async () => {
  const dir = freshDir();
  const openFds = () => readdirSync('/proc/self/fd').length;
  const before = openFds();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, maxOpenFiles: 3, spareStock: 0 });
  const blocks = Array.from({ length: 8 }, (_, i) => block(1000 + i));
  for (const b of blocks) await store.put(b.hash, b.bytes, { sync: true });
  // More blocks than descriptors kept: every read is right, whichever way it got its descriptor.
  for (let round = 0; round < 2; round++) {
    const got = await Promise.all(blocks.map((b) => store.get(b.hash)));
    got.forEach((g, i) => assert.ok(g.equals(blocks[i]!.bytes)));
  }
  assert.ok(openFds() - before <= 3, `at most 3 block files stay open (${openFds() - before})`);

  // Replaced behind the store's back by another file (an operator's copy, a restore): the read
  // must see the file the name leads to now, here a corrupt one, not the good one held open.
  const [a, b, c] = blocks;
  await store.get(a!.hash);
  const bad = Buffer.from(a!.bytes);
  bad[7] ^= 0xff;
  writeFileSync(join(dir, 'stray'), bad);
  renameSync(join(dir, 'stray'), store.pathOf(a!.hash));
  await assert.rejects(store.get(a!.hash), (e: Error) => e.name === 'CorruptBlockError');

  // Removed behind its back: missing, and no longer advertised.
  await store.get(b!.hash);
  unlinkSync(store.pathOf(b!.hash));
  await assert.rejects(store.get(b!.hash), /not stored here/);
  assert.equal(store.has(b!.hash), false);

  // Deleted while a read is under way: the read finishes with the bytes it started on, and the
  // descriptor is closed after it, not under it.
  const reading = store.get(c!.hash);
  assert.equal(await store.delete(c!.hash), true);
  assert.ok((await reading).equals(c!.bytes));
  await assert.rejects(store.get(c!.hash), /not stored here/);

  for (const x of blocks.slice(3)) await store.delete(x.hash);
  assert.equal(openFds(), before, 'no descriptor is left open once every block is gone');
});

test('DiskBlockStore: reads that pass through (verify, keepOpen: false) leave no block file open', async () => {
  const dir = freshDir();
  const openFds = () => readdirSync('/proc/self/fd').length;
  const writer = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, maxOpenFiles: 100, spareStock: 0 });
  const blocks = Array.from({ length: 5 }, (_, i) => block(500 + i));
  const base = openFds();
  for (const b of blocks) await writer.put(b.hash, b.bytes);
  assert.equal(openFds(), base + blocks.length, 'put keeps each new block open');
  for (const b of blocks) await writer.put(b.hash, b.bytes);
  assert.equal(openFds(), base + blocks.length, 'a new copy replaces the kept descriptor');

  // A second store on the same directory has nothing open yet.
  const reader = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, maxOpenFiles: 100, spareStock: 0 });
  await Promise.all(blocks.map((b) => reader.verify(b.hash)));
  await Promise.all(blocks.map((b) => reader.get(b.hash, { keepOpen: false })));
  assert.equal(openFds(), base + blocks.length, 'reads that pass through add none');
  await Promise.all(blocks.map((b) => reader.get(b.hash)));
  assert.equal(openFds(), base + 2 * blocks.length, 'client reads keep theirs');
  for (const b of blocks) {
    await writer.delete(b.hash);
    await reader.delete(b.hash);
  }
  assert.equal(openFds(), base);
});

const TMPFS_MAGIC = 0x01021994;

test('DiskBlockStore: streamed blocks from page-aligned memory go past the page cache and read back the same', async () => {
  const dir = freshDir();
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: MAX_BLOCK_BYTES, spareStock: 0 });
  // Whole sectors (direct), and a length that is not (through the page cache): both from aligned memory.
  const [whole, odd] = alignedBuffers(MAX_BLOCK_BYTES, 2);
  const blocks = [{ buf: whole!, len: MAX_BLOCK_BYTES }, { buf: odd!, len: 1000 }].map(({ buf, len }) => {
    const bytes = buf.subarray(0, len);
    randomFillSync(bytes);
    return { bytes, hash: createHash('sha256').update(bytes).digest('hex') };
  });
  for (const b of blocks) await store.put(b.hash, b.bytes);
  const copies = blocks.map((b) => Buffer.from(b.bytes));
  // The upload buffers are reused at once: the store must not have kept a reference to them.
  whole!.fill(0);
  odd!.fill(0);
  assert.deepEqual(await store.sync(blocks.map((b) => b.hash)), { durable: blocks.map((b) => b.hash), missing: [] });
  for (const [i, b] of blocks.entries()) {
    assert.ok((await store.get(b.hash)).equals(copies[i]!), `block ${i} reads back as written`);
    assert.equal(statSync(store.pathOf(b.hash)).size, copies[i]!.length);
  }
  if (statfsSync(dir).type !== TMPFS_MAGIC) assert.equal(store.directWrites, true, 'O_DIRECT still in use on this file system');
  assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'no temp file is left behind');
});

// A device with 4 KiB sectors refuses O_DIRECT writes of 512-byte multiples that are not 4 KiB
// multiples (EINVAL), as a file system without O_DIRECT refuses all of them.
const canLoop = process.getuid?.() === 0 && ['/usr/sbin/losetup', '/usr/sbin/mkfs.ext4'].every((p) => existsSync(p));

test('DiskBlockStore: where O_DIRECT is refused, streamed blocks are written through the page cache', { skip: !canLoop && 'needs root, losetup and mkfs.ext4' }, async () => {
  const work = freshDir();
  const img = join(work, 'disk.img');
  const mnt = join(work, 'mnt');
  mkdirSync(mnt);
  writeFileSync(img, '');
  truncateSync(img, 64 * 1024 * 1024);
  const dev = execFileSync('losetup', ['--sector-size', '4096', '--find', '--show', img], { encoding: 'utf8' }).trim();
  try {
    execFileSync('mkfs.ext4', ['-q', '-F', dev]);
    execFileSync('mount', [dev, mnt]);
    try {
      const store = await DiskBlockStore.open({ dir: join(mnt, 'store'), maxBlockSizeBytes: MAX_BLOCK_BYTES, maxOpenFiles: 0 }); // none kept open: the mount must come off
      const [buf] = alignedBuffers(64 * 1024, 1);
      const aligned = buf!.subarray(0, 64 * 1024);
      const sectorOdd = buf!.subarray(0, 1536);
      randomFillSync(buf!);
      const one = { bytes: Buffer.from(aligned), hash: createHash('sha256').update(aligned).digest('hex') };
      await store.put(one.hash, aligned);
      assert.equal(store.directWrites, true, 'whole 4 KiB sectors: written direct');
      const two = { bytes: Buffer.from(sectorOdd), hash: createHash('sha256').update(sectorOdd).digest('hex') };
      await store.put(two.hash, sectorOdd);
      assert.equal(store.directWrites, false, 'refused once, then not tried again');
      for (const b of [one, two]) assert.ok((await store.get(b.hash)).equals(b.bytes));
      assert.deepEqual(await store.sync([one.hash, two.hash]), { durable: [one.hash, two.hash], missing: [] });
    } finally {
      execFileSync('umount', [mnt]);
    }
  } finally {
    execFileSync('losetup', ['--detach', dev]);
  }
});
