// Read-only namespace operations: lookup, readdir, readlink.
import { FsError } from '../../common/errors.js';
import type { Attr, DirEntry } from '../api.js';
import { getAttr, resolvePath } from './resolve.js';
import { ATTR_COLUMNS, rowToAttr, type AttrRow } from './rows.js';
import type { SqlContext } from './sql-context.js';

const ENTRY_COLUMNS = ATTR_COLUMNS.split(', ').map((c) => `i.${c}`).join(', ');

export function lookup(ctx: SqlContext, path: string): Attr {
  return getAttr(ctx, resolvePath(ctx, path).ino);
}

/** Entries in name order (the primary key's order, so no sort); '.' and '..' are the mount's job. */
export function readdir(ctx: SqlContext, path: string): DirEntry[] {
  const dir = resolvePath(ctx, path);
  if (dir.type !== 'dir') throw new FsError('ENOTDIR', `not a directory: ${path}`);
  const rows = ctx
    .stmt(`SELECT d.name AS name, ${ENTRY_COLUMNS} FROM dentries d JOIN inodes i ON i.ino = d.ino WHERE d.parent = ? ORDER BY d.name`)
    .all(dir.ino) as Array<AttrRow & { name: string }>;
  return rows.map((r) => ({ name: r.name, attr: rowToAttr(r) }));
}

export function readlink(ctx: SqlContext, path: string): string {
  const f = resolvePath(ctx, path);
  if (f.type !== 'symlink') throw new FsError('EINVAL', `not a symbolic link: ${path}`);
  const row = ctx.stmt('SELECT target FROM inodes WHERE ino = ?').get(f.ino) as { target: string };
  return row.target;
}
