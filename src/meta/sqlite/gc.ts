// Garbage collection's SQL and the guards that keep it from deleting a block a commit relies on.
//
// The race: blocks are shared by name, so while GC deletes an unreferenced block X from the data
// servers, a writer may be uploading identical bytes and about to commit X. The rule, per row of
// `blocks` (column deleting):
//   0 -> 1  markDeleting: in one transaction that re-checks refs = 0 and the grace period (or, for
//           an orphan with no row, inserts the row); nothing has been sent yet.
//   1 -> 2  beginDeleting: only if still marked, again in a transaction; from here DELETEs go out.
//   2 -> gone  finishDeleting: the row is dropped and a tombstone records the deletion.
// - reserveBlocks on a row in state 1 clears the mark (no delete was sent, the bytes are intact:
//   beginDeleting then finds no mark and GC gives up). In state 2 it fails with EAGAIN: deletes are
//   in flight and may land after the writer's upload, so the writer must wait until the deletion
//   finishes (the metadata server waits for it, bounded) and reserve again, then upload.
// - commit of a block new to the file: state 1 clears the mark as reserve does; state 2, or no row
//   but a tombstone (the block was collected after the writer's reservation, e.g. a writer slower
//   than the grace period), fails with EAGAIN: the uploaded bytes may be gone, so the file must not
//   point at them. reserveBlocks removes the tombstone: a fresh reservation precedes a fresh upload.
// - A writer may upload while its reservation is on the wire. States 0 and 1 cannot have sent a
//   delete and state 2 is refused, so the one case that can hit such an upload is a deletion that
//   finished before the reservation: the tombstone says so, and the writer uploads again.
// - The one block of a small write is uploaded with no reservation and committed at once
//   (src/client/quorum.ts upload), its commit naming it `unreserved`. A deletion that can meet that
//   upload has sent its deletes: when the commit comes it is in state 2, or finished and left a
//   tombstone, or a later reservation (another writer's) replaced that tombstone with a row of
//   refs = 0 whose writer may not have uploaded yet. The commit of an unreserved block refuses all
//   three (a row with refs = 0 may also be an ordinary unreferenced block: refused all the same);
//   the writer then reserves and uploads again. refs > 0 is safe: some commit since the last
//   deletion had the bytes durable. No row and no tombstone is safe: no deletion ended recently.
import { FsError } from '../../common/errors.js';
import { checkHash, hashToBuf } from './rows.js';
import type { SqlContext } from './sql-context.js';

const BLOCK_HEX_RE = /^[0-9a-f]{64}$/;
const HOLE_HEX = '0'.repeat(64);
/** Orphans returned per inventory scan; the rest wait for the next scan. */
const MAX_DUE_ORPHANS = 10_000;

/**
 * Called inside reserveBlocks' transaction, before the row is touched. True when the block's
 * deletion had finished (a tombstone): an upload made alongside this reservation must be redone.
 */
export function guardReserve(ctx: SqlContext, hash: string): boolean {
  const row = ctx.stmt('SELECT deleting FROM blocks WHERE hash = ?').get(hashToBuf(hash)) as { deleting: number } | undefined;
  if (row?.deleting === 2) throw new FsError('EAGAIN', `block ${hash.slice(0, 12)} is being garbage-collected; retry once the deletion finished`);
  return ctx.stmt('DELETE FROM gc_tombstones WHERE hash = ?').run(hashToBuf(hash)).changes > 0;
}

/**
 * Called inside commit's transaction for every block new to the file. `reserved`: the writer
 * reserved it before or while uploading it (see the rule at the top for an unreserved one).
 */
export function guardCommit(ctx: SqlContext, hash: string, reserved: boolean): void {
  const buf = hashToBuf(hash);
  const row = ctx.stmt('SELECT refs, deleting FROM blocks WHERE hash = ?').get(buf) as { refs: number; deleting: number } | undefined;
  if (row?.deleting === 2) throw new FsError('EAGAIN', `block ${hash.slice(0, 12)} was being garbage-collected before this commit; write the data again`);
  if (!reserved && row && row.refs === 0) {
    throw new FsError('EAGAIN', `block ${hash.slice(0, 12)} was uploaded unreserved and is unreferenced here (collected and reserved again since?); write it again under a reservation`);
  }
  if (row?.deleting === 1) {
    ctx.stmt('UPDATE blocks SET deleting = 0 WHERE hash = ?').run(buf);
    return;
  }
  if (!row && ctx.stmt('SELECT 1 FROM gc_tombstones WHERE hash = ?').get(buf)) {
    throw new FsError('EAGAIN', `block ${hash.slice(0, 12)} was garbage-collected before this commit could claim it; write the data again`);
  }
}

export function listGcCandidates(ctx: SqlContext, cutoffMs: number, limit: number): string[] {
  // deleting = 1 is included: a mark left by a crash before any delete was sent is simply redone.
  return (ctx.stmt('SELECT hash FROM blocks WHERE refs = 0 AND touched_ms <= ? AND deleting < 2 ORDER BY touched_ms LIMIT ?')
    .pluck().all(cutoffMs, limit) as Buffer[]).map((b) => b.toString('hex'));
}

export function listDeleting(ctx: SqlContext, limit: number): string[] {
  return (ctx.stmt('SELECT hash FROM blocks WHERE deleting = 2 LIMIT ?').pluck().all(limit) as Buffer[]).map((b) => b.toString('hex'));
}

export function markDeleting(ctx: SqlContext, hash: string, cutoffMs: number, nowMs: number): boolean {
  const buf = hashToBuf(checkHash(hash));
  return ctx.tx(() => {
    const exists = ctx.stmt('SELECT 1 FROM blocks WHERE hash = ?').get(buf) !== undefined;
    if (exists) {
      return ctx.stmt('UPDATE blocks SET deleting = 1 WHERE hash = ? AND refs = 0 AND deleting < 2 AND touched_ms <= ?').run(buf, cutoffMs).changes === 1;
    }
    // An orphan (no row at all): the row is created already marked, so reservations see it from now on.
    const firstSeen = ctx.stmt('SELECT min(first_seen_ms) FROM orphans WHERE hash = ?').pluck().get(buf) as number | null;
    if (firstSeen === null || firstSeen > cutoffMs) return false;
    ctx.stmt('INSERT INTO blocks (hash, refs, size, touched_ms, deleting) VALUES (?, 0, NULL, ?, 1)').run(buf, nowMs);
    return true;
  });
}

export function beginDeleting(ctx: SqlContext, hash: string): boolean {
  return ctx.stmt('UPDATE blocks SET deleting = 2 WHERE hash = ? AND deleting = 1 AND refs = 0').run(hashToBuf(checkHash(hash))).changes === 1;
}

export function finishDeleting(ctx: SqlContext, hash: string, nowMs: number): void {
  const buf = hashToBuf(checkHash(hash));
  ctx.tx(() => {
    // refs cannot have moved in state 2 (reserve and commit refuse), so the condition is a pair assertion.
    const gone = ctx.stmt('DELETE FROM blocks WHERE hash = ? AND deleting = 2 AND refs = 0').run(buf).changes === 1;
    if (!gone) return;
    ctx.stmt('INSERT OR REPLACE INTO gc_tombstones (hash, deleted_ms) VALUES (?, ?)').run(buf, nowMs);
    ctx.stmt('DELETE FROM orphans WHERE hash = ?').run(buf);
    ctx.stmt('DELETE FROM faults WHERE hash = ?').run(buf);
  });
}

/**
 * Compares one server's inventory with the rows: blocks without a row are recorded with the time
 * first seen; records for blocks that gained a row or left the server are dropped.
 */
export function noteOrphans(ctx: SqlContext, server: number, hashes: string[], nowMs: number, cutoffMs: number): string[] {
  // A stray file name on a server (all zeros is a hole) is no block: skipped, not an error for the scan.
  const valid = hashes.filter((h) => BLOCK_HEX_RE.test(h) && h !== HOLE_HEX);
  ctx.db.exec('CREATE TEMP TABLE IF NOT EXISTS inventory_scan (hash BLOB PRIMARY KEY) WITHOUT ROWID');
  return ctx.tx(() => {
    ctx.stmt('DELETE FROM temp.inventory_scan').run();
    const ins = ctx.stmt('INSERT OR IGNORE INTO temp.inventory_scan (hash) VALUES (?)');
    for (const h of valid) ins.run(hashToBuf(h));
    ctx.stmt(
      `DELETE FROM orphans WHERE server = ?
       AND (hash NOT IN (SELECT hash FROM temp.inventory_scan) OR hash IN (SELECT hash FROM blocks))`,
    ).run(server);
    ctx.stmt(
      `INSERT OR IGNORE INTO orphans (hash, server, first_seen_ms)
       SELECT i.hash, ?, ? FROM temp.inventory_scan i WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.hash = i.hash)`,
    ).run(server, nowMs);
    ctx.stmt('DELETE FROM temp.inventory_scan').run();
    return (ctx.stmt('SELECT hash FROM orphans WHERE server = ? AND first_seen_ms <= ? LIMIT ?')
      .pluck().all(server, cutoffMs, MAX_DUE_ORPHANS) as Buffer[]).map((b) => b.toString('hex'));
  });
}

export function pruneTombstones(ctx: SqlContext, beforeMs: number): number {
  return ctx.stmt('DELETE FROM gc_tombstones WHERE deleted_ms < ?').run(beforeMs).changes;
}
