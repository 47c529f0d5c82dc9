// An open regular file: the data path of the mount and the CLI. Writes land in whole-block
// buffers; a block is uploaded as soon as it is complete (or when too many are dirty), so a
// sequential writer streams with bounded memory; flush uploads the rest, waits for Qw durable
// copies and commits the new block list in one metadata transaction (all or nothing).
import { FsError } from '../common/errors.js';
import { blockName, isAllZero, zeroBytes } from '../common/hash.js';
import type { Attr, BlockRef, CommitRequest, FileLayout, Ino, MetaApi } from '../meta/api.js';
import type { OpenFile } from './types.js';
import type { Mediator, WriteSession } from './quorum.js';
import { Mutex } from './mutex.js';
import type { BlockCache, HeldBlock } from './block-cache.js';
import type { DirtyBudget } from './dirty-budget.js';
import { SharedBlock } from './shared-block.js';

export interface OpenFileOptions {
  /** Memory for dirty blocks, shared with the client's other open files; over it, the oldest is uploaded early. */
  dirty: DirtyBudget;
  /** Blocks fetched ahead of a sequential reader. */
  readAheadBlocks: number;
  /** Where fetched blocks are kept while the file is open (one budget for the whole client). */
  cache: BlockCache;
}

/** The smallest buffer a partly written block gets (see dirtyCapacity). */
const MIN_DIRTY_BYTES = 64 * 1024;

const EMPTY = Buffer.alloc(0);

/** Bytes that are not the cache's: nothing to release. */
function notHeld(bytes: Buffer): HeldBlock {
  return { bytes: Promise.resolve(bytes), release: () => undefined };
}

function zeroExtended(buf: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  buf.copy(out);
  return out;
}

export class QuorumOpenFile implements OpenFile {
  readonly ino: Ino;
  private readonly blockSize: number;
  private fileSize: number;
  private blocks: BlockRef[];
  private readonly dirty = new Map<number, SharedBlock>();
  private readonly blockSizes: Record<string, number> = {};
  /** This open file's scope in the shared block cache. */
  readonly cacheScope: number;
  private session: WriteSession | null = null;
  private changed = false;
  private lastReadEnd = -1;
  /** Where the last write ended: a write starting there continues a stream (an append starts at the end). */
  private lastWriteEnd: number;
  private readonly lock = new Mutex();

  constructor(
    private readonly meta: MetaApi,
    private readonly mediator: Mediator,
    layout: FileLayout,
    private readonly writable: boolean,
    private readonly opts: OpenFileOptions,
  ) {
    this.ino = layout.ino;
    this.blockSize = layout.blockSizeBytes;
    this.fileSize = layout.size;
    this.blocks = layout.blocks.slice();
    this.lastWriteEnd = layout.size;
    this.cacheScope = opts.cache.open();
  }

  size(): number {
    return this.fileSize;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const end = this.readEnd(offset, length);
    if (offset >= end) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(end - offset);
    await this.readRange(offset, end, out);
    return out;
  }

  async readInto(offset: number, length: number, dst: Buffer): Promise<number> {
    const end = this.readEnd(offset, Math.min(length, dst.length));
    if (offset >= end) return 0;
    await this.readRange(offset, end, dst);
    return end - offset;
  }

  /**
   * The bytes of [offset, offset + length) as pieces to be written out in order, without copying
   * what the block cache holds: a FUSE READ of 1 MiB was copied once into the reply and once more
   * by the kernel. The pieces are valid until release(), which the caller must call.
   */
  async readParts(offset: number, length: number): Promise<{ parts: Buffer[]; release(): void }> {
    const end = this.readEnd(offset, length);
    if (offset >= end) return { parts: [], release: () => undefined };
    // Dirty blocks are copied: a write may land before the caller writes its reply out.
    return this.pieces(offset, end, true);
  }

  /** Where a read of `length` bytes at `offset` stops: at most the end of the file. */
  private readEnd(offset: number, length: number): number {
    if (offset < 0 || length < 0) throw new FsError('EINVAL', 'negative offset or length');
    return Math.min(this.fileSize, offset + length);
  }

  /** Copies [offset, end) into dst from 0. */
  private async readRange(offset: number, end: number, dst: Buffer): Promise<void> {
    const { parts, release } = await this.pieces(offset, end, false);
    try {
      let at = 0;
      for (const p of parts) at += p.copy(dst, at);
    } finally {
      release();
    }
  }

  /**
   * [offset, end) as slices of the blocks' buffers, held until release(); a stored block shorter
   * than its range (the file grew later) reads as zeros past its end. copyMutable: slices of bytes
   * that are not the cache's (dirty blocks) are copies.
   */
  private async pieces(offset: number, end: number, copyMutable: boolean): Promise<{ parts: Buffer[]; release(): void }> {
    const B = this.blockSize;
    const first = Math.floor(offset / B);
    const last = Math.floor((end - 1) / B);
    const held = this.holdRange(offset, end, first, last);
    const release = () => { for (const h of held) h.release(); };
    try {
      const sources = await Promise.all(held.map((h) => h.bytes));
      const parts: Buffer[] = [];
      sources.forEach((src, k) => {
        const blockStart = (first + k) * B;
        const from = Math.max(offset, blockStart) - blockStart;
        const to = Math.min(end, blockStart + B) - blockStart;
        const stored = from < src.length ? src.subarray(from, Math.min(to, src.length)) : EMPTY;
        if (stored.length) parts.push(copyMutable && !held[k]!.immutable ? Buffer.from(stored) : stored);
        if (stored.length < to - from) parts.push(zeroBytes(to - from - stored.length));
      });
      return { parts, release };
    } catch (err) {
      release();
      throw err;
    }
  }

  /** Holds blocks first..last for a read of [offset, end), and keeps read-ahead going. */
  private holdRange(offset: number, end: number, first: number, last: number): HeldBlock[] {
    if (offset === this.lastReadEnd) {
      this.readAhead(last + 1);
      // A sequential reader does not come back: its cache share stays at the read-ahead window.
      const behind = first > 0 ? this.blocks[first - 1] : null;
      if (behind && !this.dirty.has(first - 1)) this.opts.cache.drop(this.cacheScope, behind);
    }
    this.lastReadEnd = end;
    const held: HeldBlock[] = [];
    for (let i = first; i <= last; i++) held.push(this.blockContent(i));
    return held;
  }

  write(offset: number, data: Buffer): Promise<void> {
    this.assertWritable();
    if (offset < 0) return Promise.reject(new FsError('EINVAL', 'negative offset'));
    if (data.length === 0) return Promise.resolve();
    const B = this.blockSize;
    // Copied now: the caller may reuse data once this returns. A write of one block, or of most of
    // one from its start, is copied into a recycled block buffer, zeros after it (shared-block.ts).
    // The second kind is a stream through a direct handle from memory that is not page-aligned: the
    // kernel splits each 1 MiB write at its 256-page limit (fio's buffers: 1 MiB - 16 bytes, then 16).
    const head = offset % B === 0 && data.length >= B / 2 && data.length <= B ? SharedBlock.blockOf(data, this.opts.cache.buffers) : null;
    const copy = head ? head.bytes.subarray(0, data.length) : Buffer.from(data);
    return this.lock.run(async () => {
      const end = offset + copy.length;
      const streaming = offset === this.lastWriteEnd;
      this.lastWriteEnd = end;
      for (let i = Math.floor(offset / B); i <= Math.floor((end - 1) / B); i++) {
        const blockStart = i * B;
        const from = Math.max(offset, blockStart);
        const to = Math.min(end, blockStart + B);
        const wholeBlock = to === blockStart + B;
        // A pooled head may stand for the whole block where the rest of it reads as zeros anyway.
        const nothingAfter = head !== null && (this.blocks[i] ?? null) === null;
        if (from === blockStart && (wholeBlock || nothingAfter) && !this.dirty.has(i)) {
          // Our private copy becomes the block buffer (no zeroed block, no second copy).
          this.setDirty(i, head ? head.ref() : new SharedBlock(copy.subarray(from - offset, to - offset)));
        } else {
          const buf = await this.dirtyBlock(i, to - blockStart);
          copy.copy(buf, from - blockStart, from - offset, to - offset);
        }
        if (to > this.fileSize) this.fileSize = to;
        this.changed = true;
        // A writer that wrote a whole block, or streamed up to a block's end, is done with it: out
        // it goes now. A random writer that happens to hit a block's last bytes is not: uploaded,
        // the block would be fetched back for its next write (fio's 4 KiB random writes on a
        // 128 MiB file uploaded a 1 MiB block for every 256 writes, and read most of them back).
        if (wholeBlock && (streaming || from === blockStart)) await this.uploadBlock(i);
      }
      while (this.opts.dirty.over && this.dirty.size > 0) await this.uploadBlock(this.dirty.keys().next().value!);
    }).finally(() => head?.unref());
  }

  truncate(size: number): Promise<void> {
    this.assertWritable();
    if (size < 0 || !Number.isSafeInteger(size)) return Promise.reject(new FsError('EINVAL', 'invalid size'));
    return this.lock.run(async () => {
      if (size === this.fileSize) return;
      const B = this.blockSize;
      if (size < this.fileSize) {
        const keep = Math.ceil(size / B);
        if (this.blocks.length > keep) this.blocks.length = keep;
        for (const i of [...this.dirty.keys()]) if (i >= keep) this.dropDirty(i);
        // Bytes past the new end must not survive in the last block, or a later extension would expose them.
        if (size % B !== 0) {
          const buf = await this.dirtyBlock(keep - 1, 0);
          const cut = size - (keep - 1) * B;
          if (cut < buf.length) buf.fill(0, cut);
        }
      }
      this.fileSize = size;
      this.changed = true;
    });
  }

  flush(): Promise<void> {
    if (!this.writable) return Promise.resolve();
    return this.lock.run(async () => {
      await this.commitLocked();
    });
  }

  fsync(): Promise<void> {
    return this.flush();
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.opts.cache.close(this.cacheScope);
      // What a failed flush left is lost with the error the caller got; its memory is not.
      for (const i of [...this.dirty.keys()]) this.dropDirty(i);
    }
  }

  /** Makes `block` (whose reference the dirty map takes over) the dirty buffer of block i. */
  private setDirty(i: number, block: SharedBlock): void {
    this.dropDirty(i);
    this.dirty.set(i, block);
    this.opts.dirty.take(block.bytes.length);
  }

  private dropDirty(i: number): void {
    this.takeDirty(i)?.unref();
  }

  /** Removes block i's dirty buffer and hands its reference to the caller. */
  private takeDirty(i: number): SharedBlock | undefined {
    const block = this.dirty.get(i);
    if (!block) return undefined;
    this.dirty.delete(i);
    this.opts.dirty.give(block.bytes.length);
    return block;
  }

  private async commitLocked(): Promise<Attr | null> {
    if (!this.changed) return null;
    // A write of one block (most small files) has it fsync'd with its upload, one round trip less,
    // and not reserved, one metadata call less (see WriteSession.upload).
    const single = this.session === null && this.dirty.size === 1 ? [...this.dirty.keys()][0]! : null;
    const goUnreserved = single !== null && this.mediator.unreservedCommits;
    for (const i of [...this.dirty.keys()].sort((a, b) => a - b)) await this.uploadBlock(i, single !== null, goUnreserved);
    const unreserved = goUnreserved ? this.blocks[single!] ?? null : null;
    // Its bytes, should its commit be refused: this session lets go of them once they are durable.
    const kept = unreserved ? this.session?.hold(unreserved) ?? null : null;
    try {
      const missed = this.session ? await this.session.finish() : [];
      const count = Math.ceil(this.fileSize / this.blockSize);
      const list: BlockRef[] = Array.from({ length: count }, (_, i) => this.blocks[i] ?? null);
      while (list.length && list[list.length - 1] === null) list.pop();
      const blockSizes: Record<string, number> = {};
      for (const h of list) if (h && this.blockSizes[h] !== undefined) blockSizes[h] = this.blockSizes[h]!;
      const req = { ino: this.ino, size: this.fileSize, blocks: list, blockSizes, mtimeMs: Date.now() };
      const attr = await this.commitOrRewrite(req, unreserved, kept);
      this.blocks = list;
      this.session = null;
      this.changed = false;
      if (missed.length) this.mediator.report(missed);
      return attr;
    } finally {
      kept?.release();
    }
  }

  /** The commit; one that refuses the unreserved block has it written again under a reservation, then commits once more. */
  private async commitOrRewrite(req: CommitRequest, unreserved: string | null, kept: HeldBlock | null): Promise<Attr> {
    if (!unreserved) return this.meta.commit(req);
    try {
      return await this.meta.commit({ ...req, unreserved: [unreserved] });
    } catch (err) {
      // An older metadata server refuses the field (its arguments are strict): reserve from now on.
      const older = err instanceof FsError && err.code === 'EINVAL' && err.message.includes("'unreserved'");
      if (older) this.mediator.unreservedCommits = false;
      if (!(kept && err instanceof FsError && (err.code === 'EAGAIN' || older))) throw err;
      // The metadata server knows these bytes without a file using them, so garbage collection may
      // have deleted them since the upload; a reservation waits out a deletion under way.
      this.mediator.stats.rewrites++;
      await this.rewriteReserved(unreserved, await kept.bytes);
      return this.meta.commit(req);
    }
  }

  private async rewriteReserved(hash: string, bytes: Buffer): Promise<void> {
    const owner = new SharedBlock(Buffer.from(bytes));
    try {
      const session = this.mediator.newWriteSession();
      await session.add(hash, owner.bytes, owner, { syncNow: true });
      const missed = await session.finish();
      if (missed.length) this.mediator.report(missed);
    } finally {
      owner.unref();
    }
  }

  private assertWritable(): void {
    if (!this.writable) throw new FsError('EBADF', 'file not open for writing');
  }

  /**
   * The buffer of block i, holding its current content (partial writes land in it) and at least
   * `reach` bytes long. It may be shorter than the block: the bytes past its end are zeros. A
   * zeroed block-sized buffer for every small file cost the mount more in page faults and garbage
   * collection than anything else on a small-file create (1 MiB of memory per 4 KiB file).
   */
  private async dirtyBlock(i: number, reach: number): Promise<Buffer> {
    const existing = this.dirty.get(i);
    if (existing && existing.bytes.length >= reach) return existing.bytes;
    const held = existing ? existing.hold() : this.blockContent(i);
    try {
      const content = await held.bytes;
      const buf = Buffer.alloc(this.dirtyCapacity(i, Math.max(reach, content.length)));
      content.copy(buf);
      this.setDirty(i, new SharedBlock(buf));
      return buf;
    } finally {
      held.release();
    }
  }

  /**
   * How much to allocate for a dirty block that must hold `need` bytes: all of it past the first
   * block (a large file, written on), else a power of two from 64 KiB, so a small file costs
   * little and the first block of a large one is copied at most four times while it grows.
   */
  private dirtyCapacity(i: number, need: number): number {
    if (i > 0) return this.blockSize;
    let cap = MIN_DIRTY_BYTES;
    while (cap < need) cap *= 2;
    return Math.min(cap, this.blockSize);
  }

  /** Uploads dirty block i (in the background, bounded by the write session). */
  private async uploadBlock(i: number, syncNow = false, unreserved = false): Promise<void> {
    // The dirty map's reference is ours until the upload has taken its own (or copied).
    const dirty = this.takeDirty(i);
    if (!dirty) return;
    try {
      const len = Math.min(this.blockSize, this.fileSize - i * this.blockSize);
      if (len <= 0) return;
      const buf = dirty.bytes;
      // The file may reach past the buffer (extended by truncate): that part of the block is zeros.
      const owner = buf.length >= len ? dirty : new SharedBlock(zeroExtended(buf, len));
      const content = owner.bytes.subarray(0, len);
      while (this.blocks.length < i) this.blocks.push(null);
      if (isAllZero(content)) {
        this.blocks[i] = null;
        return;
      }
      const hash = blockName(content);
      this.blocks[i] = hash;
      this.blockSizes[hash] = len;
      this.session ??= this.mediator.newWriteSession();
      await this.session.add(hash, content, owner, { syncNow, unreserved });
    } finally {
      dirty.unref();
    }
  }

  /**
   * Current content of block i: dirty buffer, cached or fetched by quorum read, or zeros. The
   * caller must release() it once it has copied what it needs.
   */
  private blockContent(i: number): HeldBlock {
    const d = this.dirty.get(i);
    if (d) return d.hold();
    const hash = this.blocks[i];
    if (!hash) return notHeld(EMPTY);
    // Uploaded by this file but not yet durable: the servers may not have it yet.
    const pending = this.session?.hold(hash);
    if (pending) return pending;
    const cached = this.opts.cache.hold(this.cacheScope, hash);
    if (cached) return cached;
    this.fetch(hash);
    return this.opts.cache.hold(this.cacheScope, hash)!;
  }

  /** Starts a quorum read of the block into the cache (the newest entry always stays cached). */
  private fetch(hash: string): void {
    this.opts.cache.set(this.cacheScope, hash, this.mediator.readBlock(hash, this.opts.cache.buffers));
  }

  private readAhead(from: number): void {
    const count = Math.ceil(this.fileSize / this.blockSize);
    for (let i = from; i < Math.min(count, from + this.opts.readAheadBlocks); i++) {
      const hash = this.blocks[i];
      // A failed fetch removes its entry; the reader who needs the block fetches it again.
      if (hash && !this.dirty.has(i) && !this.opts.cache.has(this.cacheScope, hash)) this.fetch(hash);
    }
  }
}
