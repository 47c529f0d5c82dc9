// Background scrubbing: re-reads and re-hashes every stored block at a bounded rate, so silent
// corruption of blocks nobody reads is found before the other copies fail too. A corrupt copy is
// quarantined by the store (moved aside, never deleted) and reported 'corrupt'; a block file that
// vanished behind our back is dropped from the index by the store and reported 'missing'.
import { FsError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { FaultReason } from '../meta/api.js';
import { BYTES_PER_MB, RateLimiter, sleep } from '../repair/rate-limiter.js';
import type { BlockStore } from './block-store.js';
import { isCorruptBlockError } from './corrupt-block-error.js';

export const DEFAULT_SCRUB_RATE_MB_PER_S = 16;
/** Pause between passes; a small store would otherwise be re-hashed in a tight loop. */
export const DEFAULT_SCRUB_INTERVAL_MS = 60_000;
/**
 * The first pass waits one interval, at least this long, after startup: a restarting cluster serves
 * clients first, and a server's first minute stays free of background quarantines.
 */
const MIN_FIRST_PASS_DELAY_MS = 2_000;
/** A failed read that is neither corrupt nor missing (EIO, EMFILE) is retried after this pause. */
const ERROR_PAUSE_MS = 1_000;

export interface ScrubProgress {
  passStartedAtMs: number;
  checkedBlocks: number;
  corruptFound: number;
}

export interface ScrubberOptions {
  store: BlockStore & { has(hash: string): boolean };
  rateMbPerS: number;
  intervalMs: number;
  report: (hash: string, reason: FaultReason) => void;
  logger: Logger;
}

export class Scrubber {
  private readonly limiter: RateLimiter;
  private stopped = false;
  private current: ScrubProgress = { passStartedAtMs: 0, checkedBlocks: 0, corruptFound: 0 };
  private wake: (() => void) | null = null;

  constructor(private readonly o: ScrubberOptions) {
    if (!(o.rateMbPerS > 0)) throw new Error('the scrubber needs a rate > 0 MB/s (0 disables it: do not create one)');
    this.limiter = new RateLimiter(o.rateMbPerS);
  }

  start(): void {
    void this.run().catch((err: unknown) => this.o.logger.error({ err }, 'scrubber stopped unexpectedly'));
  }

  stop(): void {
    this.stopped = true;
    this.wake?.();
  }

  /** The pass running now; between passes, the one that finished last (so its findings stay visible). */
  progress(): ScrubProgress {
    return { ...this.current };
  }

  private async run(): Promise<void> {
    await this.pause(Math.max(MIN_FIRST_PASS_DELAY_MS, this.o.intervalMs));
    while (!this.stopped) {
      await this.pass();
      await this.pause(this.o.intervalMs);
    }
  }

  private async pass(): Promise<void> {
    const startedMs = Date.now();
    this.current = { passStartedAtMs: startedMs, checkedBlocks: 0, corruptFound: 0 };
    let bytes = 0;
    let missing = 0;
    // A snapshot: blocks stored during the pass are new and verified on arrival; they wait for the next pass.
    const snapshot = await this.o.store.inventory();
    for (const [hash, sizeBytes] of snapshot) {
      if (this.stopped) return;
      // Deleted since the snapshot (garbage collection): not a fault.
      if (!this.o.store.has(hash)) continue;
      await this.limiter.take(sizeBytes);
      const outcome = await this.check(hash);
      this.current.checkedBlocks++;
      if (outcome === 'corrupt') this.current.corruptFound++;
      if (outcome === 'missing') missing++;
      if (outcome === 'ok') bytes += sizeBytes;
    }
    const seconds = Math.max(0.001, (Date.now() - startedMs) / 1000);
    this.o.logger.info({
      checkedBlocks: this.current.checkedBlocks, corruptFound: this.current.corruptFound, missing,
      mb: +(bytes / BYTES_PER_MB).toFixed(1), mbPerS: +(bytes / BYTES_PER_MB / seconds).toFixed(1), seconds: +seconds.toFixed(1),
    }, 'scrub pass finished');
  }

  private async check(hash: string): Promise<'ok' | 'corrupt' | 'missing' | 'error'> {
    try {
      await this.o.store.verify(hash);
      return 'ok';
    } catch (err) {
      if (isCorruptBlockError(err)) {
        this.o.logger.warn({ hash, quarantinedTo: err.quarantinedTo }, 'scrub found a corrupt copy');
        // quarantinedTo null: a fresh copy replaced the bad one meanwhile, nothing left to repair.
        if (err.quarantinedTo !== null) this.o.report(hash, 'corrupt');
        return 'corrupt';
      }
      if (err instanceof FsError && err.code === 'ENOENT') {
        // Still indexed a moment ago, so not a deletion by us: the file vanished under the server.
        this.o.logger.warn({ hash }, 'scrub found a block file missing');
        this.o.report(hash, 'missing');
        return 'missing';
      }
      this.o.logger.warn({ hash, err: err instanceof Error ? err.message : String(err) }, 'scrub could not read a block');
      await this.pause(ERROR_PAUSE_MS);
      return 'error';
    }
  }

  private pause(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return Promise.race([sleep(ms), new Promise<void>((resolve) => { this.wake = resolve; })]);
  }
}
