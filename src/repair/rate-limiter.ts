// A token bucket in bytes per second, shared by everyone who moves bulk data in the background
// (repair workers, the scrubber), so that healing never starves the foreground traffic of disk or
// network bandwidth. The bucket holds a tenth of a second of credit: with a whole second, every
// rebuild that followed an idle spell began with 64 MB unpaced at the default cap (a 200 MiB rebuild
// measured 74 MiB/s against a 61 MiB/s cap), which is the burst the cap exists to prevent.

export const BYTES_PER_MB = 1_000_000;
/** Credit that may build up while nobody takes any. */
const BURST_SECONDS = 0.1;

export class RateLimiter {
  private readonly rateBytesPerS: number;
  private readonly burstBytes: number;
  private tokens: number;
  private lastRefillMs: number;
  /** Takers queue in order, so one large request cannot be overtaken forever by small ones. */
  private tail: Promise<void> = Promise.resolve();

  /** rateMbPerS <= 0 means unlimited. */
  constructor(rateMbPerS: number) {
    this.rateBytesPerS = rateMbPerS > 0 ? rateMbPerS * BYTES_PER_MB : Infinity;
    this.burstBytes = this.rateBytesPerS * BURST_SECONDS;
    this.tokens = 0;
    this.lastRefillMs = performance.now();
  }

  get unlimited(): boolean {
    return this.rateBytesPerS === Infinity;
  }

  /**
   * Resolves once `bytes` may be moved. The wait is bounded by bytes / rate (a block is at most
   * 64 MiB, so even at 1 MB/s it is about a minute).
   */
  take(bytes: number): Promise<void> {
    if (this.unlimited || bytes <= 0) return Promise.resolve();
    const mine = this.tail.then(() => this.waitFor(bytes));
    this.tail = mine.catch(() => undefined);
    return mine;
  }

  private async waitFor(bytes: number): Promise<void> {
    this.refill();
    // Debt is allowed: a request larger than the burst proceeds once the bucket is full and leaves
    // it negative, so the average rate still holds.
    const needed = Math.min(bytes, this.burstBytes);
    if (this.tokens < needed) {
      const waitMs = Math.ceil(((needed - this.tokens) / this.rateBytesPerS) * 1000);
      await sleep(waitMs);
      this.refill();
    }
    this.tokens -= bytes;
  }

  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.lastRefillMs) / 1000) * this.rateBytesPerS);
    this.lastRefillMs = now;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
