// Drains the durable repair queue (the faults table) with a bounded number of workers. Woken at
// once when faults are reported (read repair should finish within a second, server side), and
// polling otherwise for entries whose backoff ran out. A failed repair stays queued with an
// exponential, capped backoff; a server coming back makes its entries due again.
// Due rows are read in batches and kept in memory, so a worker finishing does not cost a query
// before the next one starts: in a rebuild that query ran once per block. News from outside
// (faults reported, a server up again) drops the batch, so reported faults still jump the queue.
import type { Logger } from '../common/log.js';
import type { BlockFault, MetaStore, QueuedFault } from '../meta/api.js';
import type { Membership } from './membership.js';
import type { RepairContext } from './repair-one.js';
import { repairOne } from './repair-one.js';
import { sleep } from './rate-limiter.js';

/** Backoff after the first failure; doubles per attempt up to the cap. */
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_CAP_MS = 60_000;
/** Without a wake-up, the queue is looked at this often (backoffs expiring, servers coming up). */
const POLL_INTERVAL_MS = 1_000;
/** Rows read per look, per worker slot: enough that most slots are filled from memory. */
const FETCH_FACTOR = 4;
/** The membership list is re-read at most this often while the queue drains (heartbeats refresh it too). */
const MEMBERSHIP_REFRESH_MS = 500;
/** A store error (disk full, locked) pauses the scheduler this long instead of spinning. */
const ERROR_PAUSE_MS = 2_000;

export interface SchedulerOptions {
  store: MetaStore;
  membership: Membership;
  concurrency: number;
  ctx: RepairContext;
  logger: Logger;
}

export interface RepairCounters {
  repairedBlocks: number;
  repairedBytes: number;
  skipped: number;
  failedAttempts: number;
}

export class RepairScheduler {
  private readonly inFlight = new Set<string>();
  /** Due rows read ahead, in queue order; dropped by wake(). */
  private batch: QueuedFault[] = [];
  private lastRefreshMs = 0;
  private wakeUp: (() => void) | null = null;
  private woken = false;
  private stopped = false;
  readonly counters: RepairCounters = { repairedBlocks: 0, repairedBytes: 0, skipped: 0, failedAttempts: 0 };

  constructor(private readonly o: SchedulerOptions) {
    if (!Number.isInteger(o.concurrency) || o.concurrency < 1) throw new Error(`repair concurrency must be a whole number >= 1, got ${o.concurrency}`);
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.wake();
  }

  /** Something changed (faults reported, a server came up): look at the queue now. */
  wake(): void {
    this.batch = [];
    this.slotFreed();
  }

  get inFlightCount(): number {
    return this.inFlight.size;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      this.woken = false;
      try {
        await this.fill();
      } catch (err) {
        this.o.logger.error({ err }, 'repair scheduler could not read the queue');
        await sleep(ERROR_PAUSE_MS);
      }
      if (!this.woken) await this.idle(POLL_INTERVAL_MS);
    }
  }

  private slotFreed(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  private async fill(): Promise<void> {
    let free = this.o.concurrency - this.inFlight.size;
    if (free <= 0) return;
    // Fresh membership: a fault must never be judged against a list not yet read (after a restart
    // every target would look unknown) or one that changed since.
    if (!this.o.membership.loaded || Date.now() - this.lastRefreshMs >= MEMBERSHIP_REFRESH_MS) {
      await this.o.membership.refresh();
      this.lastRefreshMs = Date.now();
    }
    if (!this.o.membership.loaded) return;
    let queried = false;
    while (free > 0) {
      if (this.batch.length === 0) {
        if (queried) return; // everything due is running
        queried = true;
        this.batch = await this.o.store.listDueFaults({
          nowMs: Date.now(), limit: this.inFlight.size + this.o.concurrency * FETCH_FACTOR, excludeServers: this.o.membership.notUp(),
        });
        continue;
      }
      const f = this.batch.shift()!;
      const key = faultKey(f);
      // Read before its target went down: it stays queued and is due again when the target returns.
      if (this.inFlight.has(key) || !this.o.membership.isUp(f.server)) continue;
      this.inFlight.add(key);
      free--;
      void this.run(f).finally(() => {
        this.inFlight.delete(key);
        // A row read while it ran is done (or deferred) now, not due.
        this.batch = this.batch.filter((b) => faultKey(b) !== key);
        this.slotFreed();
      });
    }
  }

  private async run(f: QueuedFault): Promise<void> {
    const fault: BlockFault = { hash: f.hash, server: f.server, reason: f.reason };
    try {
      const outcome = await repairOne(fault, this.o.ctx);
      if (outcome.kind === 'repaired') {
        this.counters.repairedBlocks++;
        this.counters.repairedBytes += outcome.bytes;
        await this.o.store.clearFault(fault);
        this.o.logger.debug({ ...fault, from: outcome.from, bytes: outcome.bytes }, 'repaired');
        return;
      }
      if (outcome.kind === 'skipped') {
        this.counters.skipped++;
        await this.o.store.clearFault(fault);
        return;
      }
      await this.defer(f, outcome.error);
    } catch (err) {
      await this.defer(f, err instanceof Error ? err.message : String(err)).catch((e: unknown) => {
        this.o.logger.error({ err: e, ...fault }, 'could not record a failed repair');
      });
    }
  }

  private async defer(f: QueuedFault, error: string): Promise<void> {
    this.counters.failedAttempts++;
    // Jitter spreads retries of a whole batch that failed together (a server that went away).
    const delayMs = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** Math.min(f.attempts, 16)) * (0.75 + Math.random() * 0.5);
    await this.o.store.deferFault({ hash: f.hash, server: f.server, nextTryMs: Date.now() + Math.round(delayMs), error });
    // First failure and then at powers of two: a block that stays broken does not flood the log.
    const n = f.attempts + 1;
    if ((n & (n - 1)) === 0) {
      this.o.logger.warn({ hash: f.hash, server: f.server, reason: f.reason, attempts: n, retryInMs: Math.round(delayMs), error }, 'repair failed; will retry');
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = null;
        done();
      };
    });
  }
}

function faultKey(f: { hash: string; server: number }): string {
  return `${f.hash}:${f.server}`;
}
