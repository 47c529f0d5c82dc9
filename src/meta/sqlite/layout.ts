// File layouts: reading a file's block list, committing a new one, reserving blocks before upload.
import { FsError } from '../../common/errors.js';
import type { CommitRequest, CommitResult, ReserveResult, FileLayout, FileType, Ino } from '../api.js';
import { guardCommit, guardReserve } from './gc.js';
import { applyRefDeltas, countBlob } from './refs.js';
import { getAttr } from './resolve.js';
import { checkHash, decodeBlocks, encodeBlocks, hashToBuf } from './rows.js';
import type { SqlContext } from './sql-context.js';

interface LayoutRow {
  type: FileType;
  size: number;
  blocks: Buffer | null;
  version: number;
}

function fileRow(ctx: SqlContext, ino: Ino): LayoutRow {
  const row = ctx.stmt('SELECT type, size, blocks, version FROM inodes WHERE ino = ?').get(ino) as LayoutRow | undefined;
  if (!row) throw new FsError('ENOENT', `no inode ${ino} (deleted?)`);
  if (row.type === 'dir') throw new FsError('EISDIR', `inode ${ino} is a directory`);
  if (row.type !== 'file') throw new FsError('EINVAL', `inode ${ino} is not a regular file`);
  return row;
}

export function getLayout(ctx: SqlContext, ino: Ino, blockSizeBytes: number): FileLayout {
  const row = fileRow(ctx, ino);
  return { ino, size: row.size, blockSizeBytes, blocks: decodeBlocks(row.blocks), version: row.version };
}

/** Checks a commit's shape before any row is touched, so a refused commit changes nothing. */
function checkCommit(req: CommitRequest, blockSizeBytes: number): void {
  if (!Number.isSafeInteger(req.size) || req.size < 0) throw new FsError('EINVAL', `file size must be a whole number >= 0, got ${req.size}`);
  if (!Array.isArray(req.blocks)) throw new FsError('EINVAL', 'blocks must be an array');
  const maxBlocks = Math.ceil(req.size / blockSizeBytes);
  if (req.blocks.length > maxBlocks) {
    throw new FsError('EINVAL', `block list has ${req.blocks.length} entries but a file of ${req.size} bytes has at most ${maxBlocks} blocks of ${blockSizeBytes} bytes`);
  }
  for (const b of req.blocks) if (b !== null) checkHash(b);
  for (const b of req.unreserved ?? []) checkHash(b);
  for (const [hash, sizeBytes] of Object.entries(req.blockSizes ?? {})) {
    if (!Number.isInteger(sizeBytes) || sizeBytes < 1 || sizeBytes > blockSizeBytes) {
      throw new FsError('EINVAL', `size of block ${hash} must be 1..${blockSizeBytes} bytes, got ${sizeBytes}`);
    }
  }
  if (req.mtimeMs !== undefined && !Number.isFinite(req.mtimeMs)) throw new FsError('EINVAL', 'mtimeMs must be a finite number');
  if (req.expectVersion !== undefined && !Number.isSafeInteger(req.expectVersion)) throw new FsError('EINVAL', 'expectVersion must be a whole number');
}

/**
 * Replaces size and block list in one transaction and moves reference counts by the net
 * difference, so a block kept by the new list is never seen unreferenced, not even inside.
 */
export function commit(ctx: SqlContext, req: CommitRequest, blockSizeBytes: number): CommitResult {
  checkCommit(req, blockSizeBytes);
  const sizes = req.blockSizes ?? {};
  return ctx.tx(() => {
    const row = fileRow(ctx, req.ino);
    if (req.expectVersion !== undefined && row.version !== req.expectVersion) {
      throw new FsError('ESTALE', `inode ${req.ino} is at version ${row.version}, not ${req.expectVersion}: another writer committed first`);
    }
    const deltas = countBlob(row.blocks, -1);
    const inOld = new Set(deltas.keys());
    for (const h of req.blocks) {
      if (h === null) continue;
      if (!inOld.has(h) && sizes[h] === undefined) throw new FsError('EINVAL', `block ${h} is new to inode ${req.ino} but blockSizes has no size for it`);
      deltas.set(h, (deltas.get(h) ?? 0) + 1);
    }
    // Garbage collection may be deleting a block this commit starts to use (src/meta/sqlite/gc.ts).
    const unreserved = new Set(req.unreserved ?? []);
    for (const [h, delta] of deltas) if (delta > 0 && !inOld.has(h)) guardCommit(ctx, h, !unreserved.has(h));
    const now = ctx.nowMs();
    applyRefDeltas(ctx, deltas, sizes, now);
    ctx
      .stmt('UPDATE inodes SET size = ?, blocks = ?, mtime_ms = ?, ctime_ms = ?, version = version + 1 WHERE ino = ?')
      .run(req.size, encodeBlocks(req.blocks), req.mtimeMs ?? now, now, req.ino);
    return { ...getAttr(ctx, req.ino), version: row.version + 1 };
  });
}

/**
 * Starts (or restarts) the GC grace period of blocks about to be committed; refs stay as they are.
 * A block marked for deletion but not yet being deleted is saved (the mark is cleared); one whose
 * deletes are in flight is refused with EAGAIN (see src/meta/sqlite/gc.ts).
 */
export function reserveBlocks(ctx: SqlContext, hashes: string[], nowMs: number): ReserveResult {
  for (const h of hashes) checkHash(h);
  // Not fsync'd: writers reserve while they upload (all but a small write's one block, see gc.ts),
  // and a flush per reservation would be one more on their path. Losing a reservation to a power
  // loss is safe: the writer's commit (fully synced, after its upload) still finds the block
  // unreferenced-but-present (state 0/1: the commit claims it), or mid-deletion / tombstoned
  // (EAGAIN), or without any row (a fresh orphan, which GC only touches after the grace period):
  // never a row that hides a deletion (see gc.ts).
  const reupload: string[] = [];
  ctx.txUnsynced(() => {
    const up = ctx.stmt(
      `INSERT INTO blocks (hash, refs, size, touched_ms) VALUES (?, 0, NULL, ?)
       ON CONFLICT(hash) DO UPDATE SET touched_ms = excluded.touched_ms, deleting = 0`,
    );
    for (const h of hashes) {
      if (guardReserve(ctx, h)) reupload.push(h);
      up.run(hashToBuf(h), nowMs);
    }
  });
  return { reupload };
}
