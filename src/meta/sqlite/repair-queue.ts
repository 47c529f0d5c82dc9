// The repair queue's SQL: the faults table is the durable queue (one row per copy to repair), with
// a priority, an attempt count and a next-try time for backoff. Workers live in src/repair/.
import type { BlockFault, BlockRow, FaultCount, FaultReason, QueuedFault } from '../api.js';
import { checkHash, hashToBuf } from './rows.js';
import type { SqlContext } from './sql-context.js';

/** Reported by a reader, writer or scrubber: someone met the problem, repair it first. */
export const PRIORITY_REPORTED = 0;
/** Found by reconciliation or a rebuild: may be many, must not delay reported ones. */
export const PRIORITY_BULK = 1;
/** Rows per transaction when queueing in bulk, so one rebuild never holds the write lock for long. */
const BULK_CHUNK_ROWS = 5_000;

interface FaultRow {
  hash: Buffer;
  server: number;
  reason: FaultReason;
  attempts: number;
  next_try_ms: number;
  created_ms: number;
}

export function listDueFaults(ctx: SqlContext, nowMs: number, limit: number, excludeServers: number[]): QueuedFault[] {
  const rows = ctx.stmt(
    `SELECT hash, server, reason, attempts, next_try_ms, created_ms FROM faults
     WHERE next_try_ms <= ? AND server NOT IN (SELECT value FROM json_each(?))
     ORDER BY priority, next_try_ms, created_ms LIMIT ?`,
  ).all(nowMs, JSON.stringify(excludeServers), Math.max(0, Math.floor(limit))) as FaultRow[];
  return rows.map((r) => ({
    hash: r.hash.toString('hex'), server: r.server, reason: r.reason, attempts: r.attempts, nextTryMs: r.next_try_ms, createdMs: r.created_ms,
  }));
}

export function enqueueBulkFaults(ctx: SqlContext, faults: BlockFault[], nowMs: number): number {
  for (const f of faults) checkHash(f.hash);
  let added = 0;
  const ins = ctx.stmt(
    `INSERT OR IGNORE INTO faults (hash, server, reason, created_ms, priority) VALUES (?, ?, ?, ?, ${PRIORITY_BULK})`,
  );
  for (let i = 0; i < faults.length; i += BULK_CHUNK_ROWS) {
    ctx.tx(() => {
      for (const f of faults.slice(i, i + BULK_CHUNK_ROWS)) added += ins.run(hashToBuf(f.hash), f.server, f.reason, nowMs).changes;
    });
  }
  return added;
}

/** One statement: SQLite copies the referenced set itself, however large. */
export function enqueueAllReferenced(ctx: SqlContext, server: number, nowMs: number): void {
  ctx.tx(() => {
    ctx.stmt(
      `INSERT OR IGNORE INTO faults (hash, server, reason, created_ms, priority)
       SELECT hash, ?, 'missing', ?, ${PRIORITY_BULK} FROM blocks WHERE refs > 0`,
    ).run(server, nowMs);
  });
}

export function deferFault(ctx: SqlContext, hash: string, server: number, nextTryMs: number, error: string): void {
  ctx.stmt('UPDATE faults SET attempts = attempts + 1, next_try_ms = ?, last_error = ? WHERE hash = ? AND server = ?')
    .run(nextTryMs, error.slice(0, 500), hashToBuf(checkHash(hash)), server);
}

export function retryServerFaults(ctx: SqlContext, server: number): number {
  return ctx.stmt('UPDATE faults SET next_try_ms = 0 WHERE server = ? AND next_try_ms > 0').run(server).changes;
}

export function countFaults(ctx: SqlContext, nowMs: number): FaultCount[] {
  return ctx.stmt(
    `SELECT server, reason, count(*) AS count, sum(next_try_ms <= ?) AS due FROM faults GROUP BY server, reason ORDER BY server, reason`,
  ).all(nowMs) as FaultCount[];
}

export function serverQueue(ctx: SqlContext, server: number, withBytes: boolean): { blocks: number; bytes: number } {
  if (!withBytes) {
    // Index-only count: cheap enough to run every progress tick even with a million faults queued.
    return { blocks: ctx.stmt('SELECT count(*) FROM faults WHERE server = ?').pluck().get(server) as number, bytes: 0 };
  }
  return ctx.stmt(
    `SELECT count(*) AS blocks, COALESCE(sum(b.size), 0) AS bytes FROM faults f LEFT JOIN blocks b ON b.hash = f.hash WHERE f.server = ?`,
  ).get(server) as { blocks: number; bytes: number };
}

export function getBlock(ctx: SqlContext, hash: string): BlockRow | null {
  const row = ctx.stmt('SELECT refs, size, deleting FROM blocks WHERE hash = ?').get(hashToBuf(checkHash(hash))) as BlockRow | undefined;
  return row ?? null;
}
