// Block reference counting. blocks.refs always equals the number of occurrences of the block in
// all files' block lists (checkIntegrity verifies it); every change goes through here, inside the
// caller's transaction.
import type { Ino } from '../api.js';
import { HASH_BYTES } from './rows.js';
import type { SqlContext } from './sql-context.js';

const HOLE_HEX = '0'.repeat(HASH_BYTES * 2);

/** Occurrences per block name in an encoded block list (holes skipped). */
export function countBlob(blob: Buffer | null, sign: 1 | -1, into = new Map<string, number>()): Map<string, number> {
  if (!blob) return into;
  for (let off = 0; off < blob.length; off += HASH_BYTES) {
    const hex = blob.toString('hex', off, off + HASH_BYTES);
    if (hex === HOLE_HEX) continue;
    into.set(hex, (into.get(hex) ?? 0) + sign);
  }
  return into;
}

/**
 * Applies net reference changes. Rows of new blocks are created with their size; rows that drop to
 * zero stay (garbage collection deletes them after the grace period that touched_ms starts).
 */
export function applyRefDeltas(ctx: SqlContext, deltas: Map<string, number>, sizes: Record<string, number>, nowMs: number): void {
  const up = ctx.stmt(
    `INSERT INTO blocks (hash, refs, size, touched_ms) VALUES (?, ?, ?, ?)
     ON CONFLICT(hash) DO UPDATE SET refs = refs + excluded.refs,
       size = COALESCE(blocks.size, excluded.size), touched_ms = excluded.touched_ms`,
  );
  const down = ctx.stmt('UPDATE blocks SET refs = refs + ?, touched_ms = ? WHERE hash = ?');
  for (const [hex, delta] of deltas) {
    if (delta > 0) up.run(Buffer.from(hex, 'hex'), delta, sizes[hex] ?? null, nowMs);
    else if (delta < 0) down.run(delta, nowMs, Buffer.from(hex, 'hex'));
  }
}

/**
 * Removes one name's hold on an inode (the dentry is deleted by the caller). The last link deletes
 * the inode and releases its blocks.
 */
export function dropLink(ctx: SqlContext, ino: Ino, nowMs: number): void {
  const row = ctx.stmt('SELECT nlink, blocks FROM inodes WHERE ino = ?').get(ino) as { nlink: number; blocks: Buffer | null } | undefined;
  if (!row) return;
  if (row.nlink > 1) {
    ctx.stmt('UPDATE inodes SET nlink = nlink - 1, ctime_ms = ? WHERE ino = ?').run(nowMs, ino);
    return;
  }
  ctx.stmt('DELETE FROM inodes WHERE ino = ?').run(ino);
  applyRefDeltas(ctx, countBlob(row.blocks, -1), {}, nowMs);
}
