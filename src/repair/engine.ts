// The self-healing engine of the metadata server: membership from heartbeats, the repair queue and
// its workers, refills of blank or returning servers with progress, and garbage collection.
// One instance per metadata server process; everything it needs to resume is in the store.
import { DEFAULT_CONFIG } from '../common/config.js';
import type { Logger } from '../common/log.js';
import type { Heartbeat } from '../common/protocol.js';
import type { BlockFault, MetaStore } from '../meta/api.js';
import { GarbageCollector } from './gc.js';
import { withHealing } from './healing-store.js';
import { Membership, type MembershipEvent } from './membership.js';
import { PeerClient } from './peer-client.js';
import { RecoveryTracker } from './progress.js';
import { RateLimiter } from './rate-limiter.js';
import { reconcile } from './reconcile.js';
import { RepairScheduler } from './repair-scheduler.js';
import { buildStatus } from './status-report.js';
import type { HealStatus } from './status-types.js';

export interface HealingOptions {
  store: MetaStore;
  secret: string;
  logger: Logger;
  repairConcurrency: number;
  /** Bandwidth repair may use, in MB/s; 0: unlimited. */
  repairRateMbPerS: number;
  downAfterMs: number;
  gcGraceMs: number;
}

export const HEALING_DEFAULTS = {
  repairConcurrency: 4,
  repairRateMbPerS: 64,
  downAfterMs: 5_000,
  gcGraceMs: 10 * 60_000,
} as const;

/** Down detection and progress sampling. */
const TICK_MS = 500;
/** Progress lines in the log while a refill runs. */
const PROGRESS_LOG_MS = 5_000;

export class HealingEngine {
  readonly membership: Membership;
  private readonly peers: PeerClient;
  private readonly scheduler: RepairScheduler;
  private readonly gc: GarbageCollector;
  private readonly recoveries: RecoveryTracker;
  /** Per server: the event being handled, and at most one waiting behind it (later ones coalesce). */
  private readonly running = new Set<number>();
  private readonly waiting = new Map<number, MembershipEvent>();
  private ticker: NodeJS.Timeout | null = null;
  private lastProgressLogMs = 0;

  constructor(private readonly o: HealingOptions) {
    for (const [name, v] of Object.entries({ downAfterMs: o.downAfterMs, gcGraceMs: o.gcGraceMs, repairRateMbPerS: o.repairRateMbPerS })) {
      if (!(Number.isFinite(v) && v >= 0)) throw new Error(`${name} must be a number >= 0, got ${v}`);
    }
    const log = o.logger;
    this.peers = new PeerClient(o.secret);
    this.membership = new Membership({ store: o.store, downAfterMs: o.downAfterMs, logger: log, onEvent: (e) => this.onEvent(e) });
    this.recoveries = new RecoveryTracker(o.store, log);
    this.scheduler = new RepairScheduler({
      store: o.store,
      membership: this.membership,
      concurrency: o.repairConcurrency,
      logger: log,
      ctx: {
        store: o.store,
        membership: this.membership,
        peers: this.peers,
        limiter: new RateLimiter(o.repairRateMbPerS),
        blockSizeBytes: DEFAULT_CONFIG.blockSizeBytes,
        onDiscovered: (faults) => void this.report(faults),
      },
    });
    // Passes often enough that a block is collected soon after its grace, never more than once a second
    // nor less than once a minute; inventories (heavier) at most every half grace.
    const intervalMs = clamp(o.gcGraceMs / 4, 1_000, 60_000);
    this.gc = new GarbageCollector({
      store: o.store, membership: this.membership, peers: this.peers, graceMs: o.gcGraceMs, intervalMs,
      orphanScanIntervalMs: clamp(o.gcGraceMs / 2, 1_000, 10 * 60_000), logger: log,
    });
  }

  /** The store for the HTTP API: reported faults wake the workers; reservations wait out deletions. */
  apiStore(): MetaStore {
    return withHealing(this.o.store, {
      faultsReported: () => this.scheduler.wake(),
      waitDeleted: (hashes, timeoutMs) => this.gc.waitDeleted(hashes, timeoutMs),
    });
  }

  start(): void {
    this.scheduler.start();
    this.gc.start();
    this.ticker = setInterval(() => void this.tick(), TICK_MS);
    this.ticker.unref();
    this.o.logger.info({
      repairConcurrency: this.o.repairConcurrency, repairRateMbPerS: this.o.repairRateMbPerS, downAfterMs: this.o.downAfterMs, gcGraceMs: this.o.gcGraceMs,
    }, 'self-healing engine started');
  }

  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.scheduler.stop();
    this.gc.stop();
    await this.peers.close();
  }

  heartbeat(hb: Heartbeat): Promise<void> {
    return this.membership.heartbeat(hb);
  }

  status(): Promise<HealStatus> {
    return buildStatus({
      store: this.o.store, membership: this.membership, recoveries: this.recoveries, scheduler: this.scheduler, gc: this.gc,
      downAfterMs: this.o.downAfterMs, repairConcurrency: this.o.repairConcurrency, repairRateMbPerS: this.o.repairRateMbPerS,
    });
  }

  private async report(faults: BlockFault[]): Promise<void> {
    try {
      await this.o.store.reportFaults({ faults });
      this.scheduler.wake();
    } catch (err) {
      this.o.logger.error({ err, faults: faults.length }, 'could not queue faults found during repair');
    }
  }

  private async tick(): Promise<void> {
    this.membership.tick();
    try {
      await this.recoveries.sample();
    } catch (err) {
      this.o.logger.warn({ err }, 'could not sample recovery progress');
    }
    if (Date.now() - this.lastProgressLogMs >= PROGRESS_LOG_MS) {
      this.lastProgressLogMs = Date.now();
      this.recoveries.logProgress();
    }
  }

  private onEvent(e: MembershipEvent): void {
    const queued = this.waiting.get(e.index);
    // A rebuild is never downgraded to a reconciliation by a later event.
    if (!queued || e.kind === 'blank') this.waiting.set(e.index, e);
    void this.drain(e.index);
  }

  private async drain(index: number): Promise<void> {
    if (this.running.has(index)) return;
    this.running.add(index);
    try {
      for (let e = this.waiting.get(index); e; e = this.waiting.get(index)) {
        this.waiting.delete(index);
        await this.handle(e).catch((err: unknown) => {
          this.o.logger.warn({ server: e!.index, kind: e!.kind, err: err instanceof Error ? err.message : String(err) }, 'could not reconcile or rebuild a data server; will try when it next returns');
        });
      }
    } finally {
      this.running.delete(index);
    }
  }

  private async handle(e: MembershipEvent): Promise<void> {
    // Whatever it missed while away may be retried now instead of waiting out its backoff.
    await this.o.store.retryServerFaults({ server: e.index });
    if (e.kind === 'blank') {
      await this.o.store.enqueueAllReferenced({ server: e.index });
      await this.recoveries.start(e.index, 'rebuild');
    } else {
      const r = await reconcile({ index: e.index, url: e.url }, this.o.store, this.peers, this.o.logger);
      if (r.queuedMissing > 0) await this.recoveries.start(e.index, 'catch-up');
    }
    this.scheduler.wake();
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
