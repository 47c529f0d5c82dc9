import { createHash } from 'node:crypto';
import { close, closeSync, constants, existsSync, fstatSync, mkdirSync, open as openCb, openSync, read, readFileSync, renameSync, write, writeSync, type Stats } from 'node:fs';
import { promisify } from 'node:util';
import { link, lstat, mkdir, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isPageAligned } from '../common/aligned-memory.js';
import type { BufferPool } from '../common/buffer-pool.js';
import { FsError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { legacyTransferChecksum, transferChecksum } from '../common/hash.js';
import { BLOCK_NAME_RE, type SyncResult } from '../common/protocol.js';
import { KeyedMutex, mapLimit } from './concurrency.js';
import { CorruptBlockError } from './corrupt-block-error.js';
import { DirSyncTracker } from './dir-sync-tracker.js';
import { errnoOf, fsyncFd, fsyncPath, mapDiskFull } from './fs-util.js';
import { OpenBlockFiles, type OpenFile } from './open-files.js';
import { SpareFiles } from './spare-files.js';
import { blockFileIn, blocksDirOf, quarantineDirOf } from './block-paths.js';

export interface BlockStoreStats {
  blocks: number;
  bytes: number;
  quarantined: number;
}

/**
 * Content-addressed block storage on one server. Every read is checked against the block's name;
 * a copy that fails the check is quarantined and reported as CorruptBlockError (EBADMSG).
 */
export interface BlockStore {
  /**
   * Stores bytes under hash (temp file + rename). Not durable until sync, unless opts.sync: then
   * the file and its directory entry are on disk when it resolves. EINVAL if the bytes do not hash
   * to the name or, when the writer sent its transfer checksum (opts.crc32c), do not match that:
   * then the name is the writer's word, checked on every read and by the scrubber. Keeps no
   * reference to `bytes` once it settles: the caller may reuse the buffer.
   */
  put(hash: string, bytes: Buffer, opts?: PutOptions): Promise<void>;
  /** fsyncs the named blocks and their directories; `durable` only lists blocks that are on disk for sure. */
  sync(hashes: readonly string[]): Promise<SyncResult>;
  /**
   * The verified bytes. ENOENT if absent, CorruptBlockError if the copy is bad (it is quarantined).
   * With check: false the bytes are not hashed here: for a caller that hashes them itself and calls
   * verify() when they do not match, so the copy is still quarantined. keepOpen: leave the file
   * open for the next read of it (default true). into: read into a buffer taken from this pool when
   * the block fits (it must hold the largest block plus one byte): the bytes are then a view of it,
   * which the caller gives back once nothing uses them any more.
   */
  get(hash: string, opts?: GetOptions): Promise<Buffer>;
  /** Re-reads and re-hashes the copy on disk; resolves to its size in bytes. Same errors as get. */
  verify(hash: string): Promise<number>;
  /** Resolves to false if the block was not stored. */
  /** beforeMs: refused with ETIMEDOUT when the block's lock is taken at or after this time (epoch ms). */
  delete(hash: string, beforeMs?: number): Promise<boolean>;
  /** [hash, sizeBytes] of every block believed stored (from the in-memory index; cheap). */
  inventory(): Promise<Array<[string, number]>>;
  stats(): Promise<BlockStoreStats>;
}

export interface PutOptions {
  sync?: boolean;
  /** The writer's CRC-32 of the bytes it named (hash.ts transferChecksum). */
  crc32?: number;
  /** The same as a CRC-32C, from writers before stop 27 (hash.ts legacyTransferChecksum). */
  crc32c?: number;
}

export interface GetOptions {
  check?: boolean;
  keepOpen?: boolean;
  into?: BufferPool;
}

export interface DiskBlockStoreOptions {
  dir: string;
  /** Largest block accepted; a stored file larger than this cannot be a valid block. */
  maxBlockSizeBytes: number;
  /** Block files kept open for reads (default: from the descriptor limit, see openFilesCapacity). */
  maxOpenFiles?: number;
  /** Emptied files of deleted blocks kept for new ones (default MAX_SPARE_FILES; spare-files.ts). */
  maxSpareFiles?: number;
  /** Empty files made at open for new blocks, for a store with no deletes behind it (default SPARE_STOCK; 0: none). */
  spareStock?: number;
  logger?: Logger;
}

/** O_DIRECT writes need lengths in whole sectors: 512 bytes on the devices we run on. */
const DIRECT_ALIGN_BYTES = 512;
/** Synced blocks up to this size are written with write(2) on the event loop (see put). */
const SMALL_WRITE_BYTES = 64 * 1024;
/** Parallel fsyncs let the file system batch journal commits; more than this gains nothing. */
const FSYNC_CONCURRENCY = 16;
/** Parallel stats while indexing at startup. */
const SCAN_CONCURRENCY = 32;
const FAN_OUT_RE = /^[0-9a-f]{2}$/;
const FILE_MODE = 0o600;
/** fs.open on raw descriptors (fs/promises would wrap it in a FileHandle). */
const openAsync = promisify(openCb) as (path: string, flags: string | number, mode?: number) => Promise<number>;
const DIR_MODE = 0o700;
/** Block files kept open for reading at most (a quarter of the descriptor limit, see openFilesCapacity). */
const MAX_OPEN_BLOCK_FILES = 4096;

export function sha256Hex(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function assertBlockName(hash: string): void {
  if (!BLOCK_NAME_RE.test(hash)) throw new FsError('EINVAL', `invalid block name "${hash.slice(0, 80)}" (expected 64 lowercase hex characters)`);
}

/**
 * Layout: DIR/blocks/<2 hex>/<hash> (256 fan-out directories, made at open),
 * DIR/tmp/ for writes in progress (emptied at startup: nothing in it was ever confirmed),
 * DIR/quarantine/<hash>.<timestamp> for corrupt copies kept for inspection.
 *
 * One fan-out level, as MooseFS's 256 chunk directories: ext4 indexes large directories (a million
 * blocks is 4,096 names in each), and a new block never makes a directory. The two-level layout
 * before it (blocks/<2 hex>/<2 hex>/<hash>) made a new leaf for nearly every block of a young
 * store, with a mkdir and a third fsync (the leaf's parent) on the write path: a fresh cluster
 * creating 2,000 small files spent 0.66-0.69 ms of CPU per file in each data server, against
 * 0.52-0.55 with one level, and created 343-395 against 369-421 files/s (7 alternating pairs).
 * Stores in that layout are moved to this one when opened (see scan).
 */
export class DiskBlockStore implements BlockStore {
  readonly dir: string;
  readonly blocksDir: string;
  readonly tmpDir: string;
  readonly quarantineDir: string;
  private readonly maxBlockSizeBytes: number;
  /** hash -> sizeBytes of every block file believed present; get/verify still always read the disk. */
  private readonly index = new Map<string, number>();
  /** Blocks renamed into place by this process and not fsync'd since (observability only: sync always fsyncs). */
  private readonly unsynced = new Set<string>();
  private readonly locks = new KeyedMutex();
  private readonly dirSync = new DirSyncTracker();
  private readonly openFiles: OpenBlockFiles;
  private readonly spares: SpareFiles;
  /** Reads in progress per block: a deleted block's file is recycled only when none holds it. */
  private readonly reading = new Map<string, number>();
  /**
   * Streamed blocks that arrive in page-aligned memory (the servers' upload buffers) are written
   * with O_DIRECT: from that memory to the device, without a copy into the page cache. On our VMs
   * that copy was the largest cost of a sequential write: half of a data server's CPU samples, in
   * copy_folio_from_iter_atomic, as every page it fills is new memory to the host. Off once the
   * file system or device refuses O_DIRECT (EINVAL: tmpfs before Linux 6.6, a write that is not
   * whole sectors of a 4 KiB-sector device). Synced blocks (a small file's one block) keep the page
   * cache: a direct write there would wait for the device on the event loop.
   */
  private direct = true;
  private readonly log: Logger | undefined;
  private totalBytes = 0;
  private quarantinedCount = 0;
  private tmpSeq = 0;

  private constructor(opts: DiskBlockStoreOptions) {
    this.dir = opts.dir;
    this.blocksDir = blocksDirOf(opts.dir);
    this.tmpDir = join(opts.dir, 'tmp');
    this.quarantineDir = quarantineDirOf(opts.dir);
    this.maxBlockSizeBytes = opts.maxBlockSizeBytes;
    this.openFiles = new OpenBlockFiles(opts.maxOpenFiles ?? openFilesCapacity());
    this.spares = new SpareFiles(this.tmpDir, opts.maxSpareFiles, opts.spareStock);
    this.log = opts.logger;
  }

  /** Whether streamed blocks from page-aligned memory are still written with O_DIRECT here. */
  get directWrites(): boolean {
    return this.direct;
  }

  /** Creates the layout if needed, empties what tmp/ holds into spares and indexes the blocks already on disk. */
  static async open(opts: DiskBlockStoreOptions): Promise<DiskBlockStore> {
    const store = new DiskBlockStore(opts);
    await mkdir(store.dir, { recursive: true, mode: DIR_MODE });
    for (const d of [store.tmpDir, store.blocksDir, store.quarantineDir]) await mkdir(d, { recursive: true, mode: DIR_MODE });
    await store.spares.adoptAll();
    await store.makeFanOut();
    await store.scan();
    store.quarantinedCount = (await readdir(store.quarantineDir)).length;
    await store.spares.fillStock();
    return store;
  }

  private async makeFanOut(): Promise<void> {
    for (let i = 0; i < 256; i++) mkdirSync(join(this.blocksDir, i.toString(16).padStart(2, '0')), { recursive: true, mode: DIR_MODE });
    // Whether made now or by an earlier process that may have crashed before syncing them.
    await this.dirSync.sync(this.blocksDir);
    await this.dirSync.sync(this.dir);
  }

  /** Where the block's file lives (tests flip bytes in it to simulate disk corruption). */
  pathOf(hash: string): string {
    assertBlockName(hash);
    return blockFileIn(this.blocksDir, hash);
  }

  /** Blocks written but not yet covered by a sync. */
  get unsyncedCount(): number {
    return this.unsynced.size;
  }

  /** Emptied files kept for new blocks (spare-files.ts). */
  get spareCount(): number {
    return this.spares.count;
  }

  async put(hash: string, bytes: Buffer, opts: PutOptions = {}): Promise<void> {
    // Streamed blocks in page-aligned memory bypass the page cache; see `direct`.
    const direct = this.direct && !opts.sync && bytes.length % DIRECT_ALIGN_BYTES === 0 && isPageAligned(bytes);
    try {
      await this.putVia(hash, bytes, opts, direct);
    } catch (err) {
      if (!direct || errnoOf(err) !== 'EINVAL') throw err;
      // A file system without O_DIRECT or a device with larger sectors: written as before.
      this.direct = false;
      this.log?.info({ err: (err as Error).message }, 'O_DIRECT writes refused here; block files go through the page cache');
      await this.putVia(hash, bytes, opts, false);
    }
  }

  private async putVia(hash: string, bytes: Buffer, opts: PutOptions, direct: boolean): Promise<void> {
    assertBlockName(hash);
    if (bytes.length > this.maxBlockSizeBytes) {
      throw new FsError('EFBIG', `block of ${bytes.length} bytes exceeds the block size of ${this.maxBlockSizeBytes}`);
    }
    if (opts.crc32 !== undefined) {
      const crc = transferChecksum(bytes);
      if (crc !== opts.crc32) throw new FsError('EINVAL', `block ${hash}: bytes damaged on the way (CRC-32 ${crc}, the writer's ${opts.crc32})`);
    } else if (opts.crc32c !== undefined) {
      const crc = legacyTransferChecksum(bytes);
      if (crc !== opts.crc32c) throw new FsError('EINVAL', `block ${hash}: bytes damaged on the way (CRC-32C ${crc}, the writer's ${opts.crc32c})`);
    } else {
      const actual = sha256Hex(bytes);
      if (actual !== hash) throw new FsError('EINVAL', `bytes hash to ${actual}, not to the block name ${hash}`);
    }
    // The same bytes again (a small file copied inside the file system, rewritten with equal
    // content): for a synced put, a good copy here only has to be durable, not written and fsync'd
    // a second time. Streamed blocks are written anew: there, reading and hashing the old copy cost
    // more CPU than the write saved (a 256 MiB file copied inside a mount, two pairs: 49 vs 42 MiB/s).
    if (opts.sync && this.index.has(hash) && (await this.keepsGoodCopy(hash, bytes))) return;

    const finalPath = this.pathOf(hash);
    const leafDir = dirname(finalPath);
    let tmpPath: string | undefined;
    let placed = false;
    // Close and mkdir run synchronously: each takes microseconds, while a trip through the thread
    // pool costs a wake-up of this thread. In a stream of blocks (not synced one by one) the
    // creating open(2) and rename(2) go async too: they wait for a journal handle, which while
    // other servers on the disk fsync took 0.6 and 4.6 ms per block (cpu profile of a sequential
    // write), this whole server stopped meanwhile. A synced put (a small file's one block) waits
    // for the disk anyway, and there the thread-pool trips cost more than they save.
    let fd: number | null = null;
    try {
      const temp = await this.openTemp(hash, opts.sync === true, direct);
      tmpPath = temp.path;
      fd = temp.fd;
      // A small synced block is copied into the page cache in microseconds: not worth a thread-pool trip either.
      if (opts.sync && bytes.length <= SMALL_WRITE_BYTES) writeAllSync(fd, bytes);
      else await writeAll(fd, bytes);
      if (!opts.sync) {
        closeSync(fd);
        fd = null;
      }
      // Replaces an existing copy too: that copy may be corrupt on disk, the new bytes are verified.
      await this.locks.run(hash, async () => {
        await this.renameIntoLeaf(temp.path, finalPath, leafDir, !opts.sync);
        placed = true;
        this.openFiles.remember(hash, finalPath);
        this.dirSync.markChanged(leafDir);
        this.setIndexed(hash, bytes.length);
        this.unsynced.add(hash);
        if (fd !== null) {
          // Synced through the descriptor still open after the rename (one open less than sync()),
          // with the directories, all under the block's lock as in sync(). Both fsyncs start after
          // the rename and finish before the answer, so their order does not matter; overlapped,
          // one journal commit usually covers both.
          await Promise.all([fsyncFd(fd), this.syncDirsOf([hash])]);
          this.unsynced.delete(hash);
        }
      });
    } catch (err) {
      throw mapDiskFull(err, `storing block ${hash}`);
    } finally {
      if (fd !== null) closeQuietly(fd, opts.sync === true);
      if (!placed && tmpPath !== undefined) await unlink(tmpPath).catch(() => undefined);
    }
  }

  /** A file in tmp/ open for writing a new block: a spare when one is kept, else a new file. */
  private async openTemp(hash: string, sync: boolean, direct: boolean): Promise<{ fd: number; path: string }> {
    const flags = constants.O_WRONLY | (direct ? constants.O_DIRECT : 0);
    const spare = this.spares.take();
    if (spare !== undefined) {
      try {
        return { fd: sync ? openSync(spare, flags) : await openAsync(spare, flags), path: spare };
      } catch (err) {
        if (direct && errnoOf(err) === 'EINVAL') {
          this.spares.putBack(spare);
          throw err;
        }
        // Removed behind our back: a new file instead.
      }
    }
    const path = join(this.tmpDir, `${hash}.${this.spares.token}.${++this.tmpSeq}`);
    const create = flags | constants.O_CREAT | constants.O_EXCL;
    return { fd: sync ? openSync(path, create, FILE_MODE) : await openAsync(path, create, FILE_MODE), path };
  }

  /**
   * For a synced put of a block already indexed: true when the copy on disk holds exactly `bytes`
   * (which put() checked against the name, so a byte comparison is as good as a hash) and has now
   * been fsync'd with its directories, so it stays as it is. Reading and comparing it costs less
   * than a fsync of new data. A copy that is bad, gone, or replaced while we read it gives false,
   * and the put writes a new one over it.
   */
  private async keepsGoodCopy(hash: string, bytes: Buffer): Promise<boolean> {
    let ident: { dev: number; ino: number };
    try {
      const copy = await this.readCopy(hash, true);
      if (copy.bytes === null || !copy.bytes.equals(bytes)) return false;
      ident = copy.ident;
    } catch {
      return false;
    }
    const path = this.pathOf(hash);
    return this.locks.run(hash, async () => {
      if (!(await sameFile(path, ident))) return false;
      await Promise.all([fsyncPath(path), this.syncDirsOf([hash])]);
      this.unsynced.delete(hash);
      return true;
    });
  }

  /** rename(2) into the fan-out directory, making it again if it was removed behind our back. */
  private async renameIntoLeaf(tmpPath: string, finalPath: string, leafDir: string, inPool: boolean): Promise<void> {
    const mv = async () => (inPool ? rename(tmpPath, finalPath) : renameSync(tmpPath, finalPath));
    try {
      await mv();
    } catch (err) {
      if (errnoOf(err) !== 'ENOENT' || !existsSync(tmpPath)) throw err;
      this.remakeLeafDir(leafDir);
      await mv();
    }
  }

  async sync(hashes: readonly string[]): Promise<SyncResult> {
    const names = [...new Set(hashes)];
    const valid = names.filter((h) => BLOCK_NAME_RE.test(h));
    const present = new Set<string>();
    await this.locks.runAll(valid, async () => {
      // Locks held until the directories are synced too, so no put can swap an unsynced file under a name we call durable.
      // The directories alongside the files (see put): a missing block's directory synced for nothing is harmless.
      await Promise.all([
        mapLimit(valid, FSYNC_CONCURRENCY, async (h) => {
          try {
            await fsyncPath(this.pathOf(h));
            present.add(h);
          } catch (err) {
            if (errnoOf(err) !== 'ENOENT') throw mapDiskFull(err, `syncing block ${h}`);
            this.forget(h);
          }
        }),
        this.syncDirsOf(valid, true),
      ]);
      for (const h of present) this.unsynced.delete(h);
    });
    return { durable: names.filter((h) => present.has(h)), missing: names.filter((h) => !present.has(h)) };
  }

  async get(hash: string, opts: GetOptions = {}): Promise<Buffer> {
    return this.readVerified(hash, opts.check ?? true, opts.keepOpen ?? true, opts.into);
  }

  async verify(hash: string): Promise<number> {
    // Not kept open after: the scrubber verifies everything and would push out what clients read.
    return (await this.readVerified(hash, true, false)).length;
  }

  async delete(hash: string, beforeMs?: number): Promise<boolean> {
    const path = this.pathOf(hash);
    return this.locks.run(hash, async () => {
      // Checked under the lock, right before the unlink: a delete held up (a stopped process, a
      // slow queue) past the collector's deadline may meet a fresh upload of the same bytes.
      if (beforeMs !== undefined && Date.now() >= beforeMs) {
        throw new FsError('ETIMEDOUT', `delete of block ${hash.slice(0, 12)} arrived after its deadline; refused`);
      }
      // Reads open the block by name from here on; one that already holds the file keeps it whole,
      // since then the file is unlinked, not emptied for reuse.
      this.openFiles.drop(hash);
      const spare = this.reading.has(hash) ? null : this.spares.reserveName();
      try {
        if (spare) await rename(path, spare);
        else await unlink(path);
      } catch (err) {
        if (spare) this.spares.release();
        if (errnoOf(err) !== 'ENOENT') throw err;
        this.forget(hash);
        return false;
      }
      this.forget(hash);
      if (spare) {
        if (this.reading.has(hash)) {
          this.spares.release();
          await unlink(spare).catch(() => undefined);
        } else {
          await this.spares.keep(spare);
        }
      }
      return true;
    });
  }

  async inventory(): Promise<Array<[string, number]>> {
    return [...this.index];
  }

  /** Whether the index lists the block (no disk access): lets the scrubber skip blocks deleted since its snapshot. */
  has(hash: string): boolean {
    return this.index.has(hash);
  }

  async stats(): Promise<BlockStoreStats> {
    return { blocks: this.index.size, bytes: this.totalBytes, quarantined: this.quarantinedCount };
  }

  /** Reads the copy from disk (never from the index) and checks it against its name, unless told not to. */
  private async readVerified(hash: string, check: boolean, keepOpen: boolean, into?: BufferPool): Promise<Buffer> {
    const { bytes, ident } = await this.readCopy(hash, keepOpen, into);
    if (bytes === null || (check && sha256Hex(bytes) !== hash)) {
      const what = bytes === null ? `is larger than the block size ${this.maxBlockSizeBytes}` : `(${bytes.length} bytes) does not hash to its name`;
      const movedTo = await this.quarantine(hash, ident);
      throw new CorruptBlockError(hash, `stored copy of block ${hash} ${what}; ${movedTo ? `moved to ${movedTo}` : 'already replaced or removed'}`, movedTo);
    }
    if (this.index.get(hash) !== bytes.length) await this.reindexIfSame(hash, ident, bytes.length);
    return bytes;
  }

  /**
   * The bytes of the copy on disk as they are (null: larger than a block), and which file they came
   * from. ENOENT when there is none.
   */
  private async readCopy(hash: string, keepOpen: boolean, into?: BufferPool): Promise<{ bytes: Buffer | null; ident: { dev: number; ino: number } }> {
    this.reading.set(hash, (this.reading.get(hash) ?? 0) + 1);
    try {
      const { file, st } = this.openForRead(hash, keepOpen);
      try {
        // One byte longer than the file: one read both fills it and finds the end.
        const want = Math.min(st.size, this.maxBlockSizeBytes) + 1;
        const buf = into ? into.take(want) : Buffer.allocUnsafe(want);
        return { bytes: await readUpTo(file.fd, buf, this.maxBlockSizeBytes), ident: { dev: st.dev, ino: st.ino } };
      } finally {
        this.openFiles.release(file);
      }
    } finally {
      const n = this.reading.get(hash)! - 1;
      if (n === 0) this.reading.delete(hash);
      else this.reading.set(hash, n);
    }
  }

  /**
   * The block's file, open for reading (kept open from an earlier put or read when it still has a
   * name: one removed or replaced behind our back is reopened by name). ENOENT when there is none.
   */
  private openForRead(hash: string, keepOpen: boolean): { file: OpenFile; st: Stats } {
    const path = this.pathOf(hash);
    for (let attempt = 0; ; attempt++) {
      let file: OpenFile;
      try {
        // open/fstat synchronously (see put): only the read itself waits in the thread pool.
        file = this.openFiles.acquire(hash, path, keepOpen);
      } catch (err) {
        if (errnoOf(err) !== 'ENOENT') throw err;
        this.forget(hash); // removed behind our back (operator, disk): the index must stop advertising it
        throw new FsError('ENOENT', `block ${hash} is not stored here`);
      }
      let st: Stats;
      try {
        st = fstatSync(file.fd);
      } catch (err) {
        this.openFiles.release(file);
        throw err;
      }
      if (st.nlink > 0 || attempt > 0) return { file, st };
      this.openFiles.release(file);
      this.openFiles.drop(hash);
    }
  }

  /**
   * Moves a corrupt copy aside, but only the very file that was read: a put may have renamed a fresh,
   * verified copy into place meanwhile, and that one must stay.
   */
  private async quarantine(hash: string, ident: { dev: number; ino: number }): Promise<string | null> {
    const path = this.pathOf(hash);
    return this.locks.run(hash, async () => {
      if (!(await sameFile(path, ident))) return null;
      const stamp = Date.now();
      let target = join(this.quarantineDir, `${hash}.${stamp}`);
      // rename() would silently overwrite an earlier quarantined copy with the same stamp.
      for (let n = 1; await exists(target); n++) target = join(this.quarantineDir, `${hash}.${stamp}-${n}`);
      await rename(path, target);
      this.forget(hash);
      this.quarantinedCount++;
      return target;
    });
  }

  /** A good file on disk that the index does not know (or knows with another size) is adopted. */
  private async reindexIfSame(hash: string, ident: { dev: number; ino: number }, sizeBytes: number): Promise<void> {
    await this.locks.run(hash, async () => {
      if (await sameFile(this.pathOf(hash), ident)) this.setIndexed(hash, sizeBytes);
    });
  }

  /** fsyncs the directories holding these blocks that changed since their last fsync. */
  /** missingOk: some of the blocks may not be here (sync() asks for them all), so neither may their directories. */
  private async syncDirsOf(hashes: readonly string[], missingOk = false): Promise<void> {
    const dirs = new Set<string>();
    for (const h of hashes) for (const d of this.dirsHolding(dirname(this.pathOf(h)))) dirs.add(d);
    await mapLimit([...dirs].filter((d) => this.dirSync.needsSync(d)), FSYNC_CONCURRENCY, async (d) => {
      try {
        await this.dirSync.sync(d);
      } catch (err) {
        if (!missingOk || errnoOf(err) !== 'ENOENT') throw err;
      }
    });
  }

  /** A fan-out directory and every ancestor whose entries lead to it, up to DIR. */
  private dirsHolding(leafDir: string): string[] {
    return [leafDir, this.blocksDir, this.dir];
  }

  /**
   * mkdir -p of a fan-out directory removed behind our back. Its entry (and blocks/ itself, if that
   * went too) must then be fsync'd before any block in it is called durable: the ancestors are
   * marked dirty before the mkdir as well as after, as a concurrent put can rename into the new
   * directory and sync before our continuation runs.
   */
  private remakeLeafDir(leafDir: string): void {
    for (const d of this.dirsHolding(leafDir).slice(1)) this.dirSync.markChanged(d);
    mkdirSync(leafDir, { recursive: true, mode: DIR_MODE });
    for (const d of this.dirsHolding(leafDir).slice(1)) this.dirSync.markChanged(d);
  }

  private setIndexed(hash: string, sizeBytes: number): void {
    this.totalBytes += sizeBytes - (this.index.get(hash) ?? 0);
    this.index.set(hash, sizeBytes);
  }

  private forget(hash: string): void {
    this.openFiles.drop(hash);
    const sizeBytes = this.index.get(hash);
    if (sizeBytes !== undefined) {
      this.totalBytes -= sizeBytes;
      this.index.delete(hash);
    }
    this.unsynced.delete(hash);
  }

  /** Indexes DIR/blocks/xx/<hash>; anything else in there (stray names, misplaced files) is ignored. */
  private async scan(): Promise<void> {
    const fanOut = (await readdir(this.blocksDir, { withFileTypes: true }))
      .filter((d) => d.isDirectory() && FAN_OUT_RE.test(d.name))
      .map((d) => d.name);
    let moved = 0;
    // In parallel: startup waits for the index.
    await mapLimit(fanOut, SCAN_CONCURRENCY, async (prefix) => {
      const dir = join(this.blocksDir, prefix);
      const entries = await readdir(dir, { withFileTypes: true });
      const legacy = entries.filter((e) => e.isDirectory() && FAN_OUT_RE.test(e.name)).map((e) => e.name);
      if (legacy.length > 0) {
        const n = await this.moveLegacyLeaves(dir, legacy); // not `moved += await`: that reads `moved` before the wait
        moved += n;
      }
      const names = entries.filter((f) => f.isFile() && BLOCK_NAME_RE.test(f.name) && f.name.startsWith(prefix)).map((f) => f.name);
      await mapLimit(names, SCAN_CONCURRENCY, async (name) => {
        try {
          this.setIndexed(name, (await stat(join(dir, name))).size);
        } catch (err) {
          if (errnoOf(err) !== 'ENOENT') throw err; // removed while we looked: simply not stored
        }
      });
    });
    if (moved > 0) this.log?.info({ blocks: moved }, 'moved blocks of the two-level layout into their fan-out directories');
  }

  /**
   * Moves the blocks of the leaves of the two-level layout (blocks/xx/yy/<hash>) under one fan-out
   * directory up into it, and indexes them. Each gets its new name by link(2), the directory is
   * fsync'd once for all of them, and only then are the old names removed: a crash at any point
   * leaves every block under at least one durable name, and the next open finishes the move (a
   * name already taken keeps that copy).
   */
  private async moveLegacyLeaves(dir: string, leaves: string[]): Promise<number> {
    const moves = (await Promise.all(leaves.map(async (leaf) => {
      const prefix = basename(dir) + leaf;
      return (await readdir(join(dir, leaf))).filter((n) => BLOCK_NAME_RE.test(n) && n.startsWith(prefix)).map((name) => ({ leaf, name }));
    }))).flat();
    await mapLimit(moves, SCAN_CONCURRENCY, async ({ leaf, name }) => {
      try {
        await link(join(dir, leaf, name), join(dir, name));
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw err;
      }
      this.setIndexed(name, (await stat(join(dir, name))).size);
    });
    await fsyncPath(dir);
    await mapLimit(moves, SCAN_CONCURRENCY, ({ leaf, name }) => unlink(join(dir, leaf, name)));
    // Anything else left in a leaf (a stray file) keeps it; it is ignored, as stray names are.
    for (const leaf of leaves) await rmdir(join(dir, leaf)).catch(() => undefined);
    return moves.length;
  }
}

/** Writes all of buf at the file's start (a new file): the thread pool may return short writes. */
function writeAll(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= buf.length) return resolve();
      write(fd, buf, done, buf.length - done, done, (err, n) => (err ? reject(err) : step(done + n)));
    };
    step(0);
  });
}

function writeAllSync(fd: number, buf: Buffer): void {
  for (let done = 0; done < buf.length;) done += writeSync(fd, buf, done, buf.length - done, done);
}

/**
 * A quarter of this process's descriptor limit (Node raises the soft limit to the hard one at
 * start), at most MAX_OPEN_BLOCK_FILES: the rest is for connections and writes in progress.
 */
function openFilesCapacity(): number {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = Number(line?.split(/\s+/)[3]);
    if (Number.isFinite(soft)) return Math.max(0, Math.min(MAX_OPEN_BLOCK_FILES, Math.floor(soft / 4)));
  } catch {
    // not Linux: keep a small number open
  }
  return 256;
}

function closeQuietly(fd: number, now: boolean): void {
  if (!now) return close(fd, () => undefined);
  try {
    closeSync(fd);
  } catch {
    // Nothing to do: the block's fate was decided by the fsync before.
  }
}

async function sameFile(path: string, ident: { dev: number; ino: number }): Promise<boolean> {
  try {
    const st = await lstat(path);
    return st.dev === ident.dev && st.ino === ident.ino;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw err;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false;
    throw err;
  }
}

/**
 * Reads a whole file into first (growing past it if need be), up to EOF rather than up to its size
 * at open time (a file growing under us is still judged on all its bytes). Returns null once it is
 * longer than limitBytes.
 */
async function readUpTo(fd: number, first: Buffer, limitBytes: number): Promise<Buffer | null> {
  let buf = first;
  let total = 0;
  for (;;) {
    if (total === buf.length) {
      if (total > limitBytes) return null;
      const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, limitBytes + 1));
      buf.copy(bigger, 0, 0, total);
      buf = bigger;
    }
    const want = buf.length - total;
    const bytesRead = await readAt(fd, buf, total, want);
    total += bytesRead;
    // A short read of a regular file is its end (block files are never appended to in place).
    if (bytesRead < want) break;
  }
  return buf.subarray(0, total);
}

function readAt(fd: number, buf: Buffer, offset: number, length: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, offset, length, offset, (err, n) => (err ? reject(err) : resolve(n))));
}
