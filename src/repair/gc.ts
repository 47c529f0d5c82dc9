// Garbage collection: blocks no file references (refs = 0) and nobody reserved for gcGraceMs are
// deleted from every data server, then their rows dropped. Blocks that servers hold with no row at
// all (leaked by a crash between upload and commit, or left on a server that was down during a
// deletion) are found by inventory scans and deleted once first seen gcGraceMs ago. The race with
// commits reusing a block is closed in the store (src/meta/sqlite/gc.ts); this loop follows its
// mark -> begin -> send -> finish protocol.
import type { Logger } from '../common/log.js';
import type { MetaStore } from '../meta/api.js';
import type { Membership } from './membership.js';
import { mayStillHappen, type PeerClient } from './peer-client.js';
import type { GcStatus } from './status-types.js';

/** Candidates taken per pass; the rest wait for the next pass. */
const BATCH_BLOCKS = 1_000;
/** Blocks deleted at once (each is one DELETE per server). */
const DELETE_CONCURRENCY = 8;
/**
 * A DELETE the server gets to later than this after it was sent is refused (see sendDeletes):
 * one normally takes milliseconds, and a refused one is only left to the orphan scan. Shorter
 * than the request timeout, so that a timed-out DELETE needs no further wait.
 */
const DELETE_DEADLINE_MS = 2_000;
/** Clocks of the metadata server's and the data servers' machines agree within this (NTP). */
const CLOCK_MARGIN_MS = 5_000;
/** A tombstone outlives any plausible write (reserve -> commit); a bounded table. */
const TOMBSTONE_RETENTION_MS = 24 * 3600_000;

export interface GcOptions {
  store: MetaStore;
  membership: Membership;
  peers: PeerClient;
  graceMs: number;
  /** Pause between passes. */
  intervalMs: number;
  /** Pause between inventory scans for orphans (each fetches every up server's inventory). */
  orphanScanIntervalMs: number;
  logger: Logger;
}

export class GarbageCollector {
  private readonly deleting = new Map<string, Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private lastOrphanScanMs = 0;
  private readonly stats = { passes: 0, lastPassAtMs: null as number | null, deletedBlocks: 0, orphansDeleted: 0, rescued: 0 };

  constructor(private readonly o: GcOptions) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  status(): GcStatus {
    return { graceMs: this.o.graceMs, ...this.stats, deletingNow: this.deleting.size };
  }

  /** Resolves once none of hashes is being deleted by this process, or after timeoutMs. */
  async waitDeleted(hashes: string[], timeoutMs: number): Promise<void> {
    const pending = hashes.map((h) => this.deleting.get(h)).filter((p): p is Promise<void> => p !== undefined);
    if (pending.length === 0) return;
    let t: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(pending), new Promise<void>((resolve) => { t = setTimeout(resolve, timeoutMs); })]);
    clearTimeout(t);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.pass().catch((err: unknown) => this.o.logger.error({ err }, 'garbage collection pass failed')).finally(() => this.schedule());
    }, this.o.intervalMs);
    this.timer.unref();
  }

  private async pass(): Promise<void> {
    // Right after a restart not every server has been heard from; deleting then would leave copies
    // on servers not yet known up. Waiting a heartbeat or two costs nothing.
    if (!this.o.membership.settled() || this.o.membership.upServers().length === 0) return;
    const now = Date.now();
    const cutoffMs = now - this.o.graceMs;
    // Deletions a crash interrupted come first: their rows refuse reservations until finished.
    await this.deleteAll(await this.o.store.listDeleting({ limit: BATCH_BLOCKS }), cutoffMs, false);
    await this.deleteAll(await this.o.store.listGcCandidates({ cutoffMs, limit: BATCH_BLOCKS }), cutoffMs, false);
    if (now - this.lastOrphanScanMs >= this.o.orphanScanIntervalMs) {
      this.lastOrphanScanMs = now;
      await this.scanOrphans(now, cutoffMs);
    }
    await this.o.store.pruneTombstones({ beforeMs: now - TOMBSTONE_RETENTION_MS });
    this.stats.passes++;
    this.stats.lastPassAtMs = Date.now();
  }

  private async scanOrphans(now: number, cutoffMs: number): Promise<void> {
    for (const s of this.o.membership.upServers()) {
      try {
        const inv = await this.o.peers.inventory(s.url);
        const due = await this.o.store.noteOrphans({ server: s.index, hashes: inv.blocks.map(([h]) => h), nowMs: now, cutoffMs });
        await this.deleteAll(due, cutoffMs, true);
      } catch (err) {
        this.o.logger.warn({ server: s.index, err: err instanceof Error ? err.message : String(err) }, 'orphan scan of a server failed');
      }
    }
  }

  private async deleteAll(hashes: string[], cutoffMs: number, orphans: boolean): Promise<void> {
    let next = 0;
    const worker = async () => {
      while (next < hashes.length && !this.stopped) await this.deleteOne(hashes[next++]!, cutoffMs, orphans);
    };
    await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, hashes.length) }, worker));
  }

  /** mark -> begin -> DELETE on every up server -> finish; any step may find the block claimed again. */
  private async deleteOne(hash: string, cutoffMs: number, orphan: boolean): Promise<void> {
    if (this.deleting.has(hash)) return;
    const row = await this.o.store.getBlock({ hash });
    if (row?.deleting !== 2) {
      if (!(await this.o.store.markDeleting({ hash, cutoffMs, nowMs: Date.now() }))) return;
      // The window between mark and begin is where a reservation may still rescue the block.
      if (!(await this.o.store.beginDeleting({ hash }))) {
        this.stats.rescued++;
        return;
      }
    }
    const done = this.sendDeletes(hash).then(() => this.o.store.finishDeleting({ hash, nowMs: Date.now() }));
    this.deleting.set(hash, done);
    try {
      await done;
      if (orphan) this.stats.orphansDeleted++;
      else this.stats.deletedBlocks++;
    } finally {
      this.deleting.delete(hash);
    }
  }

  /**
   * Servers down now keep their copy; it has no row after finish, so the orphan scan deletes it
   * once they are back. A failed DELETE on an up server ends the same way.
   *
   * A DELETE whose answer never came (a timeout, a stopped server) may still be carried out later,
   * after finish, when a writer may have uploaded the same bytes again under a new reservation.
   * Each DELETE therefore carries a deadline the server checks before it unlinks, and finish waits
   * until that deadline (plus a margin for clock differences between machines) has passed. Not
   * after a refused connection or a dead one: nothing can arrive late then, and meanwhile the
   * block's row refuses reservations (a chaos soak met that as EAGAIN when every failure waited).
   */
  private async sendDeletes(hash: string): Promise<void> {
    const beforeMs = Date.now() + DELETE_DEADLINE_MS;
    let unsure = false;
    await Promise.all(this.o.membership.upServers().map(async (s) => {
      try {
        await this.o.peers.delete(s.url, hash, beforeMs);
      } catch (err) {
        if (mayStillHappen(err)) unsure = true;
        this.o.logger.warn({ hash, server: s.index, err: err instanceof Error ? err.message : String(err) }, 'delete failed; the orphan scan will retry');
      }
    }));
    const wait = beforeMs + CLOCK_MARGIN_MS - Date.now();
    if (unsure && wait > 0 && !this.stopped) await new Promise((r) => setTimeout(r, wait));
  }
}
