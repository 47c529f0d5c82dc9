// Read descriptors of recently written or read block files, kept open so a read skips the path
// walk (blocks/xx/<hash>: a directory lookup and the inode, each a disk read once the page
// cache has dropped them). A small file read back cold spent about half its READ there.
//
// A descriptor is closed only when no read is using it: closing it under a read in the thread pool
// would let the kernel hand the same number to another file, and the read would return its bytes.
// The store drops a block's entry whenever its name changes hands (put, quarantine, delete), under
// the block's lock; a file removed behind the store's back is noticed by its link count.
import { closeSync, openSync } from 'node:fs';

export interface OpenFile {
  readonly fd: number;
}

interface Entry extends OpenFile {
  users: number;
  dropped: boolean;
}

export class OpenBlockFiles {
  /** In least recently used order (a Map iterates in insertion order; a use re-inserts). */
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly capacity: number) {}

  /**
   * A descriptor for reading the block at path, to be handed back with release(). `keep`: remember
   * a newly opened one for later reads (client reads do; the scrubber's pass over everything does
   * not, or it would push out what clients use). Throws as openSync does (ENOENT...).
   */
  acquire(hash: string, path: string, keep: boolean): OpenFile {
    const known = this.entries.get(hash);
    if (known) {
      this.entries.delete(hash);
      this.entries.set(hash, known);
      known.users++;
      return known;
    }
    const e: Entry = { fd: openSync(path, 'r'), users: 1, dropped: !keep };
    if (keep) this.insert(hash, e);
    return e;
  }

  release(f: OpenFile): void {
    const e = f as Entry;
    e.users--;
    if (e.dropped && e.users === 0) closeQuietly(e.fd);
  }

  /** Opens the block just stored at path and remembers it (a fresh write is likely read soon). */
  remember(hash: string, path: string): void {
    this.drop(hash);
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return; // only a cache: the next read opens it
    }
    this.insert(hash, { fd, users: 0, dropped: false });
  }

  /** The name no longer leads to the file this entry has open: forget it (closed once unused). */
  drop(hash: string): void {
    const e = this.entries.get(hash);
    if (!e) return;
    this.entries.delete(hash);
    e.dropped = true;
    if (e.users === 0) closeQuietly(e.fd);
  }

  private insert(hash: string, e: Entry): void {
    this.entries.set(hash, e);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break;
      this.drop(oldest);
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EBADF cannot happen (each descriptor is closed once); nothing useful to do with EIO on close
  }
}
