// Read-ahead across files: a program that reads a directory's files one after another in listing
// order (tar, cp -r, rsync, grep -r, a checksum run) waits, at every open of a small file, for its
// one block to come from a data server. When a read open follows the previous one in its
// directory's order, the first blocks of the next few files are fetched (full quorum reads, into
// the client's block cache) while the program works on this one; an open of one of them soon
// after takes the block from there. Only files whose block lists the metadata cache holds are
// read ahead: reading ahead never costs a metadata round trip.
//
// A block read ahead serves an open only within FRESH_MS of its fetch, the same order of time as
// the metadata lease (2 s), so "every open reads from the servers" still holds to within that much:
// the bytes are the block's verified bytes (a block is named by its hash), fetched under the
// quorum rules; only a fault injected in between goes unnoticed by that one open.
import { parentOf, type FileLayout } from '../meta/api.js';
import type { BlockCache } from './block-cache.js';
import type { Mediator } from './quorum.js';

/** The cached listing order the read-ahead follows (the metadata cache). */
export interface ListingSource {
  /**
   * The cached block lists of up to `count` files following `path` in its directory's listing
   * (by name), skipping what is not cached; null when the directory's listing is not cached.
   */
  layoutsAfter(path: string, count: number): Array<{ path: string; layout: FileLayout }> | null;
}

/** Files whose first block is fetched ahead of a sequential reader. */
export const READ_AHEAD_FILES = 8;
/** How long a block read ahead may serve an open. */
export const FRESH_MS = 2_000;
/** Directories whose readers are followed at once. */
const TRACKED_DIRS = 64;

export class DirReadAhead {
  /** The cache scope that holds blocks read ahead until an open takes them over. */
  private readonly scope: number;
  /** Block name -> when its fetch ahead started (oldest first). */
  private readonly ahead = new Map<string, number>();
  /** Per directory (most recent last), the paths expected next: those after its last read open. */
  private readonly expected = new Map<string, Set<string>>();
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Blocks fetched ahead, and opens served by one (for tests and stats). */
  fetched = 0;
  served = 0;

  constructor(
    private readonly listings: ListingSource,
    private readonly mediator: Mediator,
    private readonly cache: BlockCache,
    private readonly files = READ_AHEAD_FILES,
    private readonly freshMs = FRESH_MS,
  ) {
    this.scope = cache.open();
  }

  /**
   * Called when `path` is opened for reading at `layout`: moves its first block, if read ahead and
   * still fresh, into the open file's cache scope, and reads ahead of a sequential reader.
   */
  opened(path: string, layout: FileLayout, fileScope: number): void {
    const first = layout.blocks[0] ?? null;
    const hit = first !== null && this.take(first, fileScope);
    const dir = parentOf(path);
    const sequential = hit || this.expected.get(dir)?.has(path) === true;
    const next = this.listings.layoutsAfter(path, sequential ? this.files : 1);
    // Readers in different directories at once each keep their sequence.
    this.expected.delete(dir);
    this.expected.set(dir, new Set((next ?? []).map((n) => n.path)));
    if (this.expected.size > TRACKED_DIRS) this.expected.delete(this.expected.keys().next().value!);
    if (!sequential || !next) return;
    for (const { layout: l } of next) {
      const hash = l.blocks[0] ?? null;
      if (hash === null || this.ahead.has(hash)) continue;
      this.ahead.set(hash, Date.now());
      const bytes = this.mediator.readBlock(hash, this.cache.buffers);
      this.cache.set(this.scope, hash, bytes);
      this.fetched++;
      const settled = bytes.then(() => undefined, () => undefined);
      this.inFlight.add(settled);
      void settled.then(() => this.inFlight.delete(settled));
    }
    this.forgetStale();
  }

  /** Resolves once every fetch started so far has finished, well or not (for tests). */
  async idle(): Promise<void> {
    await Promise.all([...this.inFlight]);
  }

  private take(hash: string, fileScope: number): boolean {
    const fetchedAtMs = this.ahead.get(hash);
    if (fetchedAtMs === undefined) return false;
    this.ahead.delete(hash);
    if (Date.now() - fetchedAtMs > this.freshMs) {
      this.cache.drop(this.scope, hash);
      return false;
    }
    const adopted = this.cache.adopt(this.scope, fileScope, hash);
    if (adopted) this.served++;
    return adopted;
  }

  /** Blocks nobody opened in time leave the cache (a reader that skipped files, or stopped). */
  private forgetStale(): void {
    const now = Date.now();
    for (const [hash, fetchedAtMs] of this.ahead) {
      if (now - fetchedAtMs <= this.freshMs && this.ahead.size <= 2 * this.files) break;
      this.ahead.delete(hash);
      this.cache.drop(this.scope, hash);
    }
  }
}
