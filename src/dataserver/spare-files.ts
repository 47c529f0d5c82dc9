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
import { randomBytes } from 'node:crypto';
import { readdir, rm, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { mapLimit } from './concurrency.js';

/** Spares kept at most: inodes only, a few MiB of inode table. */
export const MAX_SPARE_FILES = 8192;
const ADOPT_CONCURRENCY = 16;

export class SpareFiles {
  private readonly free: string[] = [];
  /** Being truncated: counted against the cap before they are ready. */
  private pending = 0;
  private seq = 0;
  /** Names of this process's files in tmp/ (spares and new temp files) cannot meet an earlier process's. */
  readonly token = randomBytes(6).toString('hex');

  constructor(private readonly dir: string, private readonly cap = MAX_SPARE_FILES) {}

  get count(): number {
    return this.free.length;
  }

  /** An empty file to write a new block into, if one is kept. */
  take(): string | undefined {
    return this.free.pop();
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
