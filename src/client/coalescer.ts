// Group commit for small RPCs: calls made while one batch is on the wire ride together in the next,
// so a writer with many blocks in flight pays about one round trip per batch, not one per block.

export class Coalescer<T, R = void> {
  private pending: Array<{ item: T; resolve: (r: R) => void; reject: (err: unknown) => void }> = [];
  private running = false;

  constructor(private readonly send: (items: T[]) => Promise<R>, private readonly maxBatch = 1024) {}

  /** Resolves with the answer to the batch holding `item` once it was sent; rejects with that batch's error. */
  add(item: T): Promise<R> {
    return this.addAll([item])[0]!;
  }

  /** Adds several items at once, so that they can ride in one batch; one promise per item, as add(). */
  addAll(items: T[]): Array<Promise<R>> {
    const out = items.map((item) => new Promise<R>((resolve, reject) => this.pending.push({ item, resolve, reject })));
    if (!this.running && this.pending.length) void this.drain();
    return out;
  }

  private async drain(): Promise<void> {
    this.running = true;
    try {
      while (this.pending.length) {
        const batch = this.pending.splice(0, this.maxBatch);
        try {
          const r = await this.send(batch.map((p) => p.item));
          for (const p of batch) p.resolve(r);
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
