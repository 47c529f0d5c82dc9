// Small concurrency primitives for the block store and the server; no dependency pulls its weight here.

/**
 * Serialises work per key (a block name). Writers of one block (put's rename, quarantine, delete,
 * sync) must not interleave: e.g. a quarantine must never move a fresh good copy that a concurrent
 * put just renamed into place, and a sync must not report a name durable while a concurrent put
 * swaps an unsynced file under it.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => { release = resolve; });
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      // Drop the entry once nobody queued behind us, so the map does not grow with every block ever touched.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Holds the locks of all keys; taken in sorted order so two multi-key holders cannot deadlock. */
  async runAll<T>(keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(keys)].sort();
    const step = (i: number): Promise<T> => (i === sorted.length ? fn() : this.run(sorted[i]!, () => step(i + 1)));
    return step(0);
  }

  /** Number of keys currently locked or waited on (for tests). */
  get size(): number {
    return this.tails.size;
  }
}

/** Counting semaphore: bounds how many request bodies are buffered at once. */
export class Semaphore {
  private available: number;
  private readonly waiters: Array<() => void> = [];

  constructor(permits: number) {
    if (!Number.isInteger(permits) || permits < 1) throw new Error(`semaphore needs at least 1 permit, got ${permits}`);
    this.available = permits;
  }

  async acquire(): Promise<() => void> {
    if (this.available > 0) {
      this.available--;
    } else {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.releaser();
  }

  /** A permit now, or null when there is none (nobody queued ahead is overtaken: they would hold one). */
  tryAcquire(): (() => void) | null {
    if (this.available === 0) return null;
    this.available--;
    return this.releaser();
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next();
      else this.available++;
    };
  }
}

/** Runs fn over items with at most `limit` in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
