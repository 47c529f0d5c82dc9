// Emptied block files kept in DIR/tmp/ for the next new blocks, instead of unlinked.
//
// Why: ext4 without a journal (this project's VMs) looks for a free inode by scanning its group's
// bitmap, and skips every free slot whose inode was deleted recently (within 5 s, or 305 s while
// that inode's table block is dirty, which it is during a burst of creates), after looking that
// block up. A block file is created in tmp/, so all of a server's block inodes share a group; once
// a few thousand blocks had been deleted, every open(O_CREAT) of a new block scanned past all of
// them: in a profile of 2,000 small files created on a fresh cluster, find_inode_bit and
// recently_deleted under open(2) were 24% of all CPU samples on the machine. A deleted block's
// inode handed to the next new block is never such a slot, and needs no allocation at all.
//
// A spare is truncated to nothing before it is kept, so it holds no data and no disk space (only
// its inode), and nothing in tmp/ is ever a block: a spare becomes one only by the same write,
// fsync and rename as a new file. At startup whatever tmp/ holds (spares, and writes a crash cut
// short, which were never confirmed) is truncated and kept the same way.
//
// A server with no deletes behind it (a fresh one, or one that only grows) has no spares, so it
// also makes a stock of them when it starts, before it answers anyone. Why: after any mass delete
// on the same file system (another program's `rm -rf`, an earlier benchmark target), every new
// inode pays that scan. A 512 MiB sequential write on a fresh cluster right after 60,000 files were
// deleted elsewhere: 240, 243 and 297 MiB/s (7.2, 7.2 and 5.7 ms of machine CPU per MiB) with each
// block's file created on the write path, 298-304 MiB/s (5.55-5.68 ms) with the stock. In a
// profile of that write (before blocks/ had one level), find_inode_bit, recently_deleted and the
// group descriptor lookups were 25% of all CPU samples.
//
// The stock is not made again later. Made during a burst of new blocks it costs the same
// allocations on the same two cores; made after one (a second without new blocks), it landed on
// whatever came next: the small-file sequence of fsbench.sh on fresh clusters, three alternating
// pairs, `rm -rf` of 2,000 files at 4,845-5,740 files/s with that refill against 7,018-8,623
// without any stock, and creates the same (458-474 against 448-473). Deletes refill the spares anyway.
import { randomBytes } from 'node:crypto';
import { close, constants, open } from 'node:fs';
import { readdir, rm, statfs, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mapLimit } from './concurrency.js';

/** Spares kept at most: inodes only, a few MiB of inode table. */
export const MAX_SPARE_FILES = 8192;
/** Empty files made ahead of need (more than a 512 MiB write's blocks); each costs an inode and nothing else. */
export const SPARE_STOCK = 1024;
/** The stock never takes more than this share of the file system's free inodes. */
const STOCK_INODE_SHARE = 1 / 16;
const ADOPT_CONCURRENCY = 16;
/** Creates in flight while the stock is made at startup. */
const FILL_CONCURRENCY = 4;

const openAsync = promisify(open) as (path: string, flags: number, mode: number) => Promise<number>;
const closeAsync = promisify(close);

export class SpareFiles {
  private readonly free: string[] = [];
  /** Being truncated: counted against the cap before they are ready. */
  private pending = 0;
  private seq = 0;
  /** Names of this process's files in tmp/ (spares and new temp files) cannot meet an earlier process's. */
  readonly token = randomBytes(6).toString('hex');
  private readonly stock: number;

  constructor(private readonly dir: string, private readonly cap = MAX_SPARE_FILES, stock = SPARE_STOCK) {
    this.stock = Math.min(stock, cap);
  }

  get count(): number {
    return this.free.length;
  }

  /** An empty file to write a new block into, if one is kept. */
  take(): string | undefined {
    return this.free.pop();
  }

  /**
   * Makes the stock (at startup, before the server answers anyone), a few files at a time through
   * the thread pool. It never takes more than STOCK_INODE_SHARE of the free inodes; an error (no
   * inodes left) ends it in every lane, which loses nothing: a put without a spare creates its
   * file itself.
   */
  async fillStock(): Promise<void> {
    const fs = await statfs(this.dir).catch(() => null);
    if (fs === null) return;
    const want = Math.min(this.stock, Math.floor(Number(fs.ffree) * STOCK_INODE_SHARE));
    let failed = false;
    const lane = async (): Promise<void> => {
      while (!failed && this.free.length + this.pending < want) {
        this.pending++;
        try {
          const path = join(this.dir, `spare.${this.token}.${++this.seq}`);
          await closeAsync(await openAsync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
          this.free.push(path);
        } catch {
          failed = true;
        } finally {
          this.pending--;
        }
      }
    };
    await Promise.all(Array.from({ length: FILL_CONCURRENCY }, lane));
  }

  /** A spare taken but not written to after all (still empty). */
  putBack(path: string): void {
    this.free.push(path);
  }

  /** A name in tmp/ to move a deleted block's file to, or null when no more spares are wanted. */
  reserveName(): string | null {
    if (this.free.length + this.pending >= this.cap) return null;
    this.pending++;
    return join(this.dir, `spare.${this.token}.${++this.seq}`);
  }

  /** Empties the file now at a reserved name and keeps it (one that cannot be emptied is removed). */
  async keep(path: string): Promise<void> {
    try {
      await truncate(path, 0);
      this.free.push(path);
    } catch {
      await unlink(path).catch(() => undefined);
    } finally {
      this.pending--;
    }
  }

  /** A reserved name that was not used after all (the block's file was gone, or a read still holds it). */
  release(): void {
    this.pending--;
  }

  /** Startup: every file left in tmp/ is emptied and kept (up to the cap; the rest are removed). */
  async adoptAll(): Promise<void> {
    const entries = await readdir(this.dir, { withFileTypes: true });
    await mapLimit(entries, ADOPT_CONCURRENCY, async (e) => {
      const path = join(this.dir, e.name);
      if (!e.isFile()) return rm(path, { recursive: true, force: true });
      if (this.free.length + this.pending >= this.cap) return unlink(path).catch(() => undefined);
      this.pending++;
      return this.keep(path);
    });
  }
}
