// The data server's connection to the metadata server (only with --meta): heartbeats, and fault
// reports from the scrubber and from requests that met a corrupt copy. Reports are queued (bounded)
// and sent in batches, so a slow or restarting metadata server never blocks a read or the scrubber.
import { Pool } from 'undici';
import { authValue, type Heartbeat } from '../common/protocol.js';
import type { Logger } from '../common/log.js';
import type { BlockFault, FaultReason } from '../meta/api.js';

/** Heartbeats and reports are tiny; a metadata server slower than this is treated as unreachable. */
const REQUEST_TIMEOUT_MS = 5_000;
/**
 * Faults waiting to be reported. Dropping beyond this is safe: a quarantined copy is gone from the
 * inventory, so the metadata server's reconciliation finds it missing anyway.
 */
const MAX_PENDING_FAULTS = 10_000;
/** Per request, well under the metadata server's body limit. */
const MAX_FAULTS_PER_REPORT = 1_000;
/** A failed report is retried after this long (the queue keeps it meanwhile). */
const REPORT_RETRY_MS = 2_000;

export class MetaLink {
  private readonly pool: Pool;
  private readonly auth: string;
  private readonly pending = new Map<string, BlockFault>();
  private flushing = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private dropped = 0;

  constructor(readonly metaUrl: string, secret: string, private readonly serverIndex: number, private readonly logger: Logger) {
    this.auth = authValue(secret);
    this.pool = new Pool(metaUrl, {
      connections: 2,
      connectTimeout: REQUEST_TIMEOUT_MS,
      headersTimeout: REQUEST_TIMEOUT_MS,
      bodyTimeout: REQUEST_TIMEOUT_MS,
      keepAliveTimeout: 30_000,
    });
  }

  heartbeat(hb: Heartbeat): Promise<void> {
    return this.post('/v1/admin/heartbeat', hb);
  }

  /** Queues a report of this server's copy of hash; sent as soon as possible, never awaited by callers. */
  reportFault(hash: string, reason: FaultReason): void {
    if (this.pending.size >= MAX_PENDING_FAULTS && !this.pending.has(hash)) {
      if (this.dropped++ % 1000 === 0) this.logger.warn({ dropped: this.dropped }, 'fault report queue full; dropping reports (reconciliation will find the copies)');
      return;
    }
    this.pending.set(hash, { hash, server: this.serverIndex, reason });
    void this.flush();
  }

  get pendingFaults(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.pool.destroy();
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.retryTimer) return;
    this.flushing = true;
    try {
      while (this.pending.size > 0) {
        const batch = [...this.pending.values()].slice(0, MAX_FAULTS_PER_REPORT);
        await this.post('/v1/meta/reportFaults', { faults: batch });
        for (const f of batch) if (this.pending.get(f.hash) === f) this.pending.delete(f.hash);
        this.logger.info({ faults: batch.length, reasons: [...new Set(batch.map((f) => f.reason))] }, 'reported faults to the metadata server');
      }
    } catch (err) {
      this.logger.warn({ err: errText(err), pending: this.pending.size }, 'could not report faults; will retry');
      this.retryTimer = setTimeout(() => {
        this.retryTimer = null;
        void this.flush();
      }, REPORT_RETRY_MS);
      this.retryTimer.unref();
    } finally {
      this.flushing = false;
    }
  }

  private async post(path: string, body: unknown): Promise<void> {
    const res = await this.pool.request({
      method: 'POST',
      path,
      body: JSON.stringify(body),
      headers: { authorization: this.auth, 'content-type': 'application/json' },
    });
    const text = await res.body.text();
    if (res.statusCode < 200 || res.statusCode >= 300) {
      let msg = `HTTP ${res.statusCode}`;
      try {
        const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
        if (e) msg = `${e.code ?? ''} ${e.message ?? ''}`.trim();
      } catch {
        // not our error body
      }
      throw new Error(`metadata server refused ${path}: ${msg}`);
    }
  }
}

export function errText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.message ?? e?.code ?? String(err);
}
