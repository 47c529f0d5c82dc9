// Verified block bytes kept for open files, under one memory budget for the whole client.
//
// Entries belong to one open file (a scope): an open sees only what it fetched itself, so a new
// open goes back to the servers and a read never outlives the quorum it was made under (the
// report's tables hold through a mount too). The one exception is a block read ahead for the next
// files of a directory (dir-read-ahead.ts), which an open takes over (adopt) within two seconds of
// its fetch. Within an open file, random reads of a working set up
// to the budget cost one fetch per block instead of one per read. Eviction is least recently used
// across all scopes; closing a file drops its entries at once.
//
// Whole-block buffers are recycled: a cold sequential read through a mount allocated a fresh 1 MiB
// buffer per block, and that stream of external memory made V8 run a major collection every ~13
// MiB (39 in a 512 MiB read), whose concurrent marking cost ~2 ms of CPU per MiB on helper
// threads. A buffer goes back to the pool only when its entry has left the cache and no reader
// holds it (see hold()), so a recycled buffer is never visible through an old reference.
import { BufferPool } from '../common/buffer-pool.js';

interface Entry {
  /** scope:hash, changed when the entry moves to another scope (adopt). */
  key: string;
  scope: number;
  bytes: Promise<Buffer>;
  /** Counted against the budget: a block size until the fetch resolves, then its real size. */
  size: number;
  /** Readers between hold() and release(). */
  holds: number;
  /** Still in the cache (a reader may take a new hold). */
  cached: boolean;
  recycled: boolean;
}

/** A reader's claim on a cached block: its bytes stay unchanged until release(). */
export interface HeldBlock {
  bytes: Promise<Buffer>;
  release(): void;
  /** The bytes are the cache's verified copy, which nobody writes to: they may be lent out, not copied. */
  immutable?: boolean;
}

/** Idle whole-block buffers kept for reuse (beyond those the cache holds). */
const SPARE_BUFFERS = 32;

export class BlockCache {
  /** Where fetches for this cache take their whole-block buffers (BufferPool ignores others). */
  readonly buffers: BufferPool;
  private readonly entries = new Map<string, Entry>();
  private readonly byScope = new Map<number, Set<string>>();
  private totalBytes = 0;
  private nextScope = 1;

  constructor(readonly budgetBytes: number, private readonly blockSizeBytes: number) {
    this.buffers = new BufferPool(blockSizeBytes, SPARE_BUFFERS);
  }

  /** A new scope for one open file. */
  open(): number {
    return this.nextScope++;
  }

  /** Holds the entry (most recently used now), or undefined if it is not cached. */
  hold(scope: number, hash: string): HeldBlock | undefined {
    const key = keyOf(scope, hash);
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.entries.set(key, e);
    e.holds++;
    let released = false;
    return {
      bytes: e.bytes,
      immutable: true,
      release: () => {
        if (released) return;
        released = true;
        e.holds--;
        this.recycle(e);
      },
    };
  }

  has(scope: number, hash: string): boolean {
    return this.entries.has(keyOf(scope, hash));
  }

  /** Keeps a fetch (or bytes known already); a fetch that fails removes itself. */
  set(scope: number, hash: string, bytes: Promise<Buffer>): void {
    const key = keyOf(scope, hash);
    this.remove(key);
    const e: Entry = { key, scope, bytes, size: this.blockSizeBytes, holds: 0, cached: true, recycled: false };
    this.link(e);
    this.totalBytes += e.size;
    bytes.then((b) => {
      if (this.entries.get(e.key) !== e) return;
      this.totalBytes += b.length - e.size;
      e.size = b.length;
    }, () => {
      if (this.entries.get(e.key) === e) this.remove(e.key);
    });
    this.evict();
  }

  /**
   * Moves an entry to another scope, as the most recently used (a block read ahead for a file that
   * is now open); false if it is not cached there.
   */
  adopt(from: number, to: number, hash: string): boolean {
    const key = keyOf(from, hash);
    const e = this.entries.get(key);
    if (!e) return false;
    const toKey = keyOf(to, hash);
    this.remove(toKey);
    this.entries.delete(key);
    this.byScope.get(from)?.delete(key);
    e.scope = to;
    e.key = toKey;
    this.link(e);
    return true;
  }

  /** Files the entry under its key, as the most recently used, and in its scope's set. */
  private link(e: Entry): void {
    this.entries.set(e.key, e);
    let keys = this.byScope.get(e.scope);
    if (!keys) this.byScope.set(e.scope, (keys = new Set()));
    keys.add(e.key);
  }

  /** Drops one entry (a sequential reader has passed it). */
  drop(scope: number, hash: string): void {
    this.remove(keyOf(scope, hash));
  }

  /** Drops everything of one scope (its file was closed). */
  close(scope: number): void {
    for (const key of this.byScope.get(scope) ?? []) this.remove(key, false);
    this.byScope.delete(scope);
  }

  get usedBytes(): number {
    return this.totalBytes;
  }

  private evict(): void {
    // The newest entry always stays, even if a single block exceeds a tiny budget.
    while (this.totalBytes > this.budgetBytes && this.entries.size > 1) {
      this.remove(this.entries.keys().next().value!);
    }
  }

  private remove(key: string, unlinkScope = true): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.totalBytes -= e.size;
    if (unlinkScope) this.byScope.get(e.scope)?.delete(key);
    e.cached = false;
    this.recycle(e);
  }

  private recycle(e: Entry): void {
    if (e.cached || e.holds > 0 || e.recycled) return;
    e.recycled = true;
    e.bytes.then((b) => this.buffers.give(b), () => undefined);
  }
}

function keyOf(scope: number, hash: string): string {
  return `${scope}:${hash}`;
}
