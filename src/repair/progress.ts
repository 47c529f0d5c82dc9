// Progress of refilling a server (a blank rebuild, or catching up after being away): blocks and
// bytes done of total, rate and ETA, for GET /v1/admin/status and the log. The queue is the truth:
// done = total - what is still queued for that server, so skipped, deduplicated and retried repairs
// all count correctly and nothing depends on counting events. Bytes are summed exactly at the start
// and estimated from the block count while running (blocks are nearly all full size), so a sample
// is one index-only count, not a lookup per queued block.
import type { Logger } from '../common/log.js';
import type { MetaStore } from '../meta/api.js';
import type { RecoveryStatus } from './status-types.js';

/** Samples kept for the rate: the last ~10 s at one sample per 500 ms tick. */
const RATE_WINDOW_SAMPLES = 20;
/** Finished recoveries stay visible in status this long, so an operator sees how it ended. */
const KEEP_FINISHED_MS = 5 * 60_000;

interface Recovery extends RecoveryStatus {
  samples: Array<{ ms: number; doneBytes: number }>;
}

export class RecoveryTracker {
  private readonly byServer = new Map<number, Recovery>();

  constructor(private readonly store: MetaStore, private readonly logger: Logger) {}

  /** Starts tracking server's queue (after its faults were queued); a rebuild replaces a catch-up. */
  async start(server: number, kind: 'rebuild' | 'catch-up'): Promise<void> {
    const q = await this.store.serverQueue({ server, withBytes: true });
    const cur = this.byServer.get(server);
    if (cur && cur.finishedAtMs === null && !(kind === 'rebuild' && cur.kind !== 'rebuild')) {
      // Already tracking: the new faults just widen the total.
      cur.totalBlocks = Math.max(cur.totalBlocks, cur.doneBlocks + q.blocks);
      cur.totalBytes = Math.max(cur.totalBytes, cur.doneBytes + q.bytes);
      return;
    }
    if (q.blocks === 0) return;
    const now = Date.now();
    this.byServer.set(server, {
      server, kind, startedAtMs: now, finishedAtMs: null, totalBlocks: q.blocks, doneBlocks: 0, totalBytes: q.bytes, doneBytes: 0,
      rateBytesPerS: 0, etaMs: null, samples: [{ ms: now, doneBytes: 0 }],
    });
    this.logger.info({ server, kind, blocks: q.blocks, bytes: q.bytes }, kind === 'rebuild' ? 'rebuild started' : 'catch-up started');
  }

  /** Refreshes every unfinished recovery from the queue; called on the engine's tick. */
  async sample(): Promise<void> {
    const now = Date.now();
    for (const r of this.byServer.values()) {
      if (r.finishedAtMs !== null) {
        if (now - r.finishedAtMs > KEEP_FINISHED_MS) this.byServer.delete(r.server);
        continue;
      }
      const q = await this.store.serverQueue({ server: r.server, withBytes: false });
      // New faults for the server (writes it missed meanwhile) widen the total instead of undoing progress.
      const bytesPerBlock = r.totalBlocks > 0 ? r.totalBytes / r.totalBlocks : 0;
      if (r.doneBlocks + q.blocks > r.totalBlocks) {
        r.totalBlocks = r.doneBlocks + q.blocks;
        r.totalBytes = Math.round(r.totalBlocks * bytesPerBlock);
      }
      r.doneBlocks = r.totalBlocks - q.blocks;
      r.doneBytes = q.blocks === 0 ? r.totalBytes : Math.round(r.doneBlocks * bytesPerBlock);
      r.samples.push({ ms: now, doneBytes: r.doneBytes });
      if (r.samples.length > RATE_WINDOW_SAMPLES) r.samples.shift();
      const first = r.samples[0]!;
      const windowS = (now - first.ms) / 1000;
      r.rateBytesPerS = windowS >= 1 ? (r.doneBytes - first.doneBytes) / windowS : r.doneBytes / Math.max(0.001, (now - r.startedAtMs) / 1000);
      r.etaMs = r.rateBytesPerS > 0 ? Math.round(((r.totalBytes - r.doneBytes) / r.rateBytesPerS) * 1000) : null;
      if (q.blocks === 0) this.finish(r, now);
    }
  }

  list(): RecoveryStatus[] {
    return [...this.byServer.values()].map(({ samples: _samples, ...r }) => ({ ...r }));
  }

  /** One log line per unfinished recovery (the engine calls this every few seconds). */
  logProgress(): void {
    for (const r of this.byServer.values()) {
      if (r.finishedAtMs === null) this.logger.info({ ...this.publicOf(r), line: describeRecovery(r) }, 'recovery progress');
    }
  }

  private finish(r: Recovery, now: number): void {
    r.finishedAtMs = now;
    r.etaMs = 0;
    const seconds = Math.max(0.001, (now - r.startedAtMs) / 1000);
    // The average over the whole recovery is the throughput worth reporting.
    r.rateBytesPerS = r.doneBytes / seconds;
    this.logger.info({
      server: r.server, kind: r.kind, blocks: r.doneBlocks, bytes: r.doneBytes, seconds: +seconds.toFixed(2),
      mbPerS: +(r.doneBytes / 1e6 / seconds).toFixed(1),
    }, r.kind === 'rebuild' ? 'rebuild finished' : 'catch-up finished');
  }

  private publicOf(r: Recovery): RecoveryStatus {
    const { samples: _samples, ...rest } = r;
    return rest;
  }
}

const MIB = 1024 * 1024;

/** "rebuilding 812/2048 blocks, 203.0/512.0 MiB, 41.2 MiB/s, ETA 7s" (also used by `quorumfs status`). */
export function describeRecovery(r: RecoveryStatus): string {
  const verb = r.kind === 'rebuild' ? 'rebuilding' : 'catching up';
  const eta = r.etaMs === null ? 'ETA unknown' : `ETA ${Math.ceil(r.etaMs / 1000)}s`;
  return `${verb} ${r.doneBlocks}/${r.totalBlocks} blocks, ${(r.doneBytes / MIB).toFixed(1)}/${(r.totalBytes / MIB).toFixed(1)} MiB, `
    + `${(r.rateBytesPerS / MIB).toFixed(1)} MiB/s, ${eta}`;
}
