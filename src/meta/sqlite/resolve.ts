// Path resolution and the small inode helpers every namespace operation shares.
// Each step is one primary-key lookup on dentries joined to inodes: O(depth), independent of
// directory size.
import { FsError } from '../../common/errors.js';
import { ROOT_INO, type Attr, type FileType, type Ino } from '../api.js';
import { splitPath } from './paths.js';
import { ATTR_COLUMNS, rowToAttr, type AttrRow } from './rows.js';
import type { SqlContext } from './sql-context.js';

export interface Found {
  ino: Ino;
  type: FileType;
}

/** Guards the ancestor walk against a (corrupt) cycle; far deeper than any real tree. */
const MAX_DEPTH = 100_000;

export function child(ctx: SqlContext, parent: Ino, name: string): Found | undefined {
  return ctx
    .stmt('SELECT d.ino AS ino, i.type AS type FROM dentries d JOIN inodes i ON i.ino = d.ino WHERE d.parent = ? AND d.name = ?')
    .get(parent, name) as Found | undefined;
}

/** Resolves components that must all be directories (the parent chain of a path). */
export function walkDirs(ctx: SqlContext, parts: string[], path: string): Ino {
  let ino = ROOT_INO;
  for (let i = 0; i < parts.length; i++) {
    const f = child(ctx, ino, parts[i]!);
    const sofar = '/' + parts.slice(0, i + 1).join('/');
    if (!f) throw new FsError('ENOENT', `no such file or directory: ${sofar}${sofar === path ? '' : ` (resolving ${path})`}`);
    // Symlinks are not followed here: the kernel resolves them before a FUSE call reaches us.
    if (f.type !== 'dir') throw new FsError('ENOTDIR', `not a directory: ${sofar}${sofar === path ? '' : ` (resolving ${path})`}`);
    ino = f.ino;
  }
  return ino;
}

/** Resolves a whole path to an inode of any type. */
export function resolvePath(ctx: SqlContext, path: string): Found {
  const parts = splitPath(path);
  if (parts.length === 0) return { ino: ROOT_INO, type: 'dir' };
  const parent = walkDirs(ctx, parts.slice(0, -1), path);
  const f = child(ctx, parent, parts[parts.length - 1]!);
  if (!f) throw new FsError('ENOENT', `no such file or directory: ${path}`);
  return f;
}

export interface ParentRef {
  parent: Ino;
  name: string;
}

/** Resolves the directory a path's last component lives in; null for the root itself. */
export function resolveParent(ctx: SqlContext, path: string): ParentRef | null {
  const parts = splitPath(path);
  if (parts.length === 0) return null;
  return { parent: walkDirs(ctx, parts.slice(0, -1), path), name: parts[parts.length - 1]! };
}

export function getAttr(ctx: SqlContext, ino: Ino): Attr {
  const row = ctx.stmt(`SELECT ${ATTR_COLUMNS} FROM inodes WHERE ino = ?`).get(ino) as AttrRow | undefined;
  if (!row) throw new FsError('ENOENT', `no inode ${ino}`);
  return rowToAttr(row);
}

/** A directory's entries changed: mtime and ctime move, nlink follows added or removed subdirectories. */
export function touchDir(ctx: SqlContext, ino: Ino, nowMs: number, nlinkDelta = 0): void {
  ctx.stmt('UPDATE inodes SET mtime_ms = ?, ctime_ms = ?, nlink = nlink + ? WHERE ino = ?').run(nowMs, nowMs, nlinkDelta, ino);
}

/** True if `ino` is `ancestor` or lies below it; walks parent links up to the root. */
export function isSelfOrDescendant(ctx: SqlContext, ino: Ino, ancestor: Ino): boolean {
  let cur = ino;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (cur === ancestor) return true;
    if (cur === ROOT_INO) return false;
    const up = ctx.stmt('SELECT parent FROM dentries WHERE ino = ? LIMIT 1').get(cur) as { parent: Ino } | undefined;
    if (!up) throw new FsError('EIO', `directory inode ${cur} has no parent entry (metadata damaged; run fsck)`);
    cur = up.parent;
  }
  throw new FsError('EIO', `directory chain above inode ${ino} deeper than ${MAX_DEPTH} (cycle? run fsck)`);
}
