// The store's invariants, checked by full scans (fsck and tests, never on a per-operation path).
import { ROOT_INO, type FileType, type IntegrityReport } from '../api.js';
import { readConfig } from './cluster.js';
import { countBlob } from './refs.js';
import { HASH_BYTES } from './rows.js';
import type { SqlContext } from './sql-context.js';

/** Enough to diagnose; a damaged store should not produce a report of gigabytes. */
const MAX_PROBLEMS = 1000;

class Problems {
  readonly list: string[] = [];
  private extra = 0;
  add(p: string): void {
    if (this.list.length < MAX_PROBLEMS) this.list.push(p);
    else this.extra++;
  }
  report(): IntegrityReport {
    const problems = this.extra ? [...this.list, `... and ${this.extra} more problems`] : this.list;
    return { ok: problems.length === 0, problems };
  }
}

export function checkIntegrity(ctx: SqlContext): IntegrityReport {
  const p = new Problems();
  // One read transaction: the checks see a single snapshot even if a writer commits meanwhile.
  ctx.db.transaction(() => {
    checkEntries(ctx, p);
    checkLinks(ctx, p);
    checkReachable(ctx, p);
    checkBlocks(ctx, p);
  })();
  return p.report();
}

function checkEntries(ctx: SqlContext, p: Problems): void {
  const root = ctx.stmt('SELECT type FROM inodes WHERE ino = ?').get(ROOT_INO) as { type: FileType } | undefined;
  if (!root || root.type !== 'dir') p.add(`root inode ${ROOT_INO} is missing or not a directory`);
  const bad = ctx.stmt(
    `SELECT d.parent, d.name, d.ino, i.ino AS target, pi.type AS parent_type FROM dentries d
     LEFT JOIN inodes i ON i.ino = d.ino LEFT JOIN inodes pi ON pi.ino = d.parent
     WHERE i.ino IS NULL OR pi.ino IS NULL OR pi.type != 'dir' OR d.ino = ?`,
  ).all(ROOT_INO) as Array<{ parent: number; name: string; ino: number; target: number | null; parent_type: string | null }>;
  for (const d of bad) {
    if (d.target === null) p.add(`entry "${d.name}" in directory ${d.parent} points to missing inode ${d.ino}`);
    if (d.parent_type !== 'dir') p.add(`entry "${d.name}" lives in inode ${d.parent}, which is ${d.parent_type ?? 'missing'}, not a directory`);
    if (d.ino === ROOT_INO) p.add(`entry "${d.name}" in directory ${d.parent} links to the root`);
  }
}

function checkLinks(ctx: SqlContext, p: Problems): void {
  const rows = ctx.stmt(
    `SELECT i.ino, i.type, i.nlink, i.target, i.blocks IS NULL AS no_blocks,
       (SELECT count(*) FROM dentries d WHERE d.ino = i.ino) AS names,
       (SELECT count(*) FROM dentries d JOIN inodes c ON c.ino = d.ino WHERE d.parent = i.ino AND c.type = 'dir') AS subdirs
     FROM inodes i`,
  ).iterate() as IterableIterator<{ ino: number; type: FileType; nlink: number; target: string | null; no_blocks: number; names: number; subdirs: number }>;
  for (const r of rows) {
    if (r.type === 'dir') {
      const wantNames = r.ino === ROOT_INO ? 0 : 1;
      if (r.names !== wantNames) p.add(`directory ${r.ino} has ${r.names} names, expected ${wantNames}`);
      if (r.nlink !== 2 + r.subdirs) p.add(`directory ${r.ino} has nlink ${r.nlink}, expected ${2 + r.subdirs} (2 + ${r.subdirs} subdirectories)`);
    } else {
      if (r.names === 0) p.add(`${r.type} inode ${r.ino} has no name (unreachable)`);
      if (r.nlink !== r.names) p.add(`${r.type} inode ${r.ino} has nlink ${r.nlink} but ${r.names} names`);
    }
    if (r.type === 'symlink' && r.target === null) p.add(`symlink ${r.ino} has no target`);
    if (r.type === 'file' && r.no_blocks) p.add(`file ${r.ino} has no block list`);
    if (r.type !== 'file' && !r.no_blocks) p.add(`${r.type} inode ${r.ino} has a block list`);
  }
}

/** Walks the tree from the root; a directory not reached is cut off (e.g. a cycle of parents). */
function checkReachable(ctx: SqlContext, p: Problems): void {
  const reached = new Set<number>([ROOT_INO]);
  const queue = [ROOT_INO];
  const subdirs = ctx.stmt(`SELECT d.ino FROM dentries d JOIN inodes i ON i.ino = d.ino WHERE d.parent = ? AND i.type = 'dir'`).pluck();
  while (queue.length > 0) {
    for (const ino of subdirs.all(queue.pop()) as number[]) {
      if (reached.has(ino)) continue;
      reached.add(ino);
      queue.push(ino);
    }
  }
  const dirs = ctx.stmt(`SELECT ino FROM inodes WHERE type = 'dir'`).pluck().iterate() as IterableIterator<number>;
  for (const ino of dirs) if (!reached.has(ino)) p.add(`directory ${ino} is not reachable from the root`);
  const parents = ctx.stmt('SELECT DISTINCT parent FROM dentries').pluck().iterate() as IterableIterator<number>;
  for (const parent of parents) if (!reached.has(parent)) p.add(`entries of directory ${parent} are not reachable from the root`);
}

function checkBlocks(ctx: SqlContext, p: Problems): void {
  const blockSizeBytes = readConfig(ctx)?.blockSizeBytes;
  const counts = new Map<string, number>();
  const files = ctx.stmt(`SELECT ino, size, blocks FROM inodes WHERE type = 'file'`).iterate() as IterableIterator<{ ino: number; size: number; blocks: Buffer | null }>;
  for (const f of files) {
    if (!f.blocks) continue;
    if (f.blocks.length % HASH_BYTES !== 0) {
      p.add(`file ${f.ino} has a block list of ${f.blocks.length} bytes, not a multiple of ${HASH_BYTES}`);
      continue;
    }
    const entries = f.blocks.length / HASH_BYTES;
    if (blockSizeBytes && entries > Math.ceil(f.size / blockSizeBytes)) {
      p.add(`file ${f.ino} of ${f.size} bytes lists ${entries} blocks, more than ${Math.ceil(f.size / blockSizeBytes)}`);
    }
    countBlob(f.blocks, 1, counts);
  }
  const rows = ctx.stmt('SELECT hash, refs, size FROM blocks').iterate() as IterableIterator<{ hash: Buffer; refs: number; size: number | null }>;
  for (const b of rows) {
    const hex = b.hash.toString('hex');
    const want = counts.get(hex) ?? 0;
    counts.delete(hex);
    if (b.refs !== want) p.add(`block ${hex} has refs ${b.refs} but is listed ${want} times`);
    if (want > 0 && b.size === null) p.add(`block ${hex} is referenced but has no recorded size`);
  }
  for (const [hex, n] of counts) p.add(`block ${hex} is listed ${n} times but has no blocks row`);
}
