// Namespace changes other than rename: create, mkdir, symlink, link, unlink, rmdir, setattr.
// Each runs in one transaction; errno choices follow what Linux on ext4 returns.
import { FsError } from '../../common/errors.js';
import { ROOT_INO, parentOf, type Attr, type FileType, type Ino, type Owner, type UnlinkEntry, type UnlinkManyResult } from '../api.js';
import { dropLink } from './refs.js';
import { child, getAttr, resolveParent, resolvePath, touchDir } from './resolve.js';
import type { SqlContext } from './sql-context.js';

/** Linux limits a symlink target to PATH_MAX - 1 bytes. */
const MAX_SYMLINK_BYTES = 4095;
const PERM_BITS = 0o7777;

interface NewInode {
  type: FileType;
  mode: number;
  owner: Owner;
  size: number;
  nlink: number;
  target: string | null;
  blocks: Buffer | null;
}

function insertInode(ctx: SqlContext, n: NewInode, nowMs: number): Ino {
  const info = ctx
    .stmt(
      `INSERT INTO inodes (type, mode, uid, gid, size, nlink, atime_ms, mtime_ms, ctime_ms, version, target, blocks)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?)`,
    )
    .run(n.type, n.mode & PERM_BITS, n.owner.uid, n.owner.gid, n.size, n.nlink, nowMs, nowMs, nowMs, n.target, n.blocks);
  return Number(info.lastInsertRowid);
}

function insertDentry(ctx: SqlContext, parent: Ino, name: string, ino: Ino): void {
  ctx.stmt('INSERT INTO dentries (parent, name, ino) VALUES (?, ?, ?)').run(parent, name, ino);
}

function deleteDentry(ctx: SqlContext, parent: Ino, name: string): void {
  ctx.stmt('DELETE FROM dentries WHERE parent = ? AND name = ?').run(parent, name);
}

export function create(ctx: SqlContext, a: { path: string; mode: number; owner: Owner; exclusive: boolean }): Attr {
  return ctx.txNamespace(() => {
    const at = resolveParent(ctx, a.path);
    const existing = at ? child(ctx, at.parent, at.name) : { ino: ROOT_INO, type: 'dir' as const };
    if (existing) {
      if (a.exclusive) throw new FsError('EEXIST', `file exists: ${a.path}`);
      if (existing.type === 'dir') throw new FsError('EISDIR', `is a directory: ${a.path}`);
      if (existing.type !== 'file') throw new FsError('EEXIST', `exists and is not a regular file: ${a.path}`);
      return getAttr(ctx, existing.ino);
    }
    const now = ctx.nowMs();
    const ino = insertInode(ctx, { type: 'file', mode: a.mode, owner: a.owner, size: 0, nlink: 1, target: null, blocks: Buffer.alloc(0) }, now);
    insertDentry(ctx, at!.parent, at!.name, ino);
    touchDir(ctx, at!.parent, now);
    return getAttr(ctx, ino);
  });
}

export function mkdir(ctx: SqlContext, a: { path: string; mode: number; owner: Owner }): Attr {
  return ctx.txNamespace(() => {
    const at = resolveParent(ctx, a.path);
    if (!at || child(ctx, at.parent, at.name)) throw new FsError('EEXIST', `file exists: ${a.path}`);
    const now = ctx.nowMs();
    const ino = insertInode(ctx, { type: 'dir', mode: a.mode, owner: a.owner, size: 0, nlink: 2, target: null, blocks: null }, now);
    insertDentry(ctx, at.parent, at.name, ino);
    touchDir(ctx, at.parent, now, +1); // the new directory's '..' links to its parent
    return getAttr(ctx, ino);
  });
}

export function symlink(ctx: SqlContext, a: { path: string; target: string; owner: Owner }): Attr {
  const targetBytes = Buffer.byteLength(a.target);
  if (targetBytes === 0) throw new FsError('ENOENT', 'symlink target is empty');
  if (targetBytes > MAX_SYMLINK_BYTES) throw new FsError('ENAMETOOLONG', `symlink target longer than ${MAX_SYMLINK_BYTES} bytes`);
  if (a.target.includes('\0')) throw new FsError('EINVAL', 'symlink target contains a NUL byte');
  return ctx.txNamespace(() => {
    const at = resolveParent(ctx, a.path);
    if (!at || child(ctx, at.parent, at.name)) throw new FsError('EEXIST', `file exists: ${a.path}`);
    const now = ctx.nowMs();
    const ino = insertInode(ctx, { type: 'symlink', mode: 0o777, owner: a.owner, size: targetBytes, nlink: 1, target: a.target, blocks: null }, now);
    insertDentry(ctx, at.parent, at.name, ino);
    touchDir(ctx, at.parent, now);
    return getAttr(ctx, ino);
  });
}

export function link(ctx: SqlContext, a: { path: string; newPath: string }): Attr {
  return ctx.txNamespace(() => {
    const src = resolvePath(ctx, a.path);
    const at = resolveParent(ctx, a.newPath);
    // Linux checks the new name before the source type: EEXIST wins over EPERM.
    if (!at || child(ctx, at.parent, at.name)) throw new FsError('EEXIST', `file exists: ${a.newPath}`);
    if (src.type === 'dir') throw new FsError('EPERM', `hard links to directories are not allowed: ${a.path}`);
    const now = ctx.nowMs();
    insertDentry(ctx, at.parent, at.name, src.ino);
    ctx.stmt('UPDATE inodes SET nlink = nlink + 1, ctime_ms = ? WHERE ino = ?').run(now, src.ino);
    touchDir(ctx, at.parent, now);
    return getAttr(ctx, src.ino);
  });
}

export function unlink(ctx: SqlContext, a: { path: string }): void {
  ctx.txNamespace(() => unlinkOne(ctx, a));
}

/** One transaction; each entry in a savepoint of its own, so a refused one undoes only itself. */
export function unlinkMany(ctx: SqlContext, a: { entries: UnlinkEntry[] }): UnlinkManyResult {
  const failed: UnlinkManyResult['failed'] = [];
  const parents: UnlinkManyResult['parents'] = [];
  ctx.txNamespace(() => {
    a.entries.forEach((e, index) => {
      try {
        ctx.savepoint(() => unlinkOne(ctx, e));
      } catch (err) {
        if (!(err instanceof FsError)) throw err;
        failed.push({ index, code: err.code, message: err.message });
      }
    });
    for (const path of new Set(a.entries.map((e) => parentOf(e.path)))) {
      try {
        parents.push({ path, attr: getAttr(ctx, resolvePath(ctx, path).ino) });
      } catch (err) {
        if (!(err instanceof FsError)) throw err; // a parent that is gone (or never was) has no attributes
      }
    }
  });
  return { failed, parents };
}

function unlinkOne(ctx: SqlContext, a: UnlinkEntry): void {
  const at = resolveParent(ctx, a.path);
  if (!at) throw new FsError('EISDIR', 'is a directory: /');
  const f = child(ctx, at.parent, at.name);
  if (!f) throw new FsError('ENOENT', `no such file or directory: ${a.path}`);
  if (f.type === 'dir') throw new FsError('EISDIR', `is a directory: ${a.path}`);
  if (a.ino !== undefined && f.ino !== a.ino) throw new FsError('ENOENT', `${a.path} no longer names inode ${a.ino}`);
  const now = ctx.nowMs();
  deleteDentry(ctx, at.parent, at.name);
  dropLink(ctx, f.ino, now);
  touchDir(ctx, at.parent, now);
}

export function rmdir(ctx: SqlContext, a: { path: string }): void {
  ctx.txNamespace(() => {
    const at = resolveParent(ctx, a.path);
    // Linux answers EBUSY for the root; EINVAL is the closest code the API carries.
    if (!at) throw new FsError('EINVAL', 'cannot remove the root directory');
    const f = child(ctx, at.parent, at.name);
    if (!f) throw new FsError('ENOENT', `no such file or directory: ${a.path}`);
    if (f.type !== 'dir') throw new FsError('ENOTDIR', `not a directory: ${a.path}`);
    if (hasEntries(ctx, f.ino)) throw new FsError('ENOTEMPTY', `directory not empty: ${a.path}`);
    const now = ctx.nowMs();
    deleteDentry(ctx, at.parent, at.name);
    ctx.stmt('DELETE FROM inodes WHERE ino = ?').run(f.ino);
    touchDir(ctx, at.parent, now, -1);
  });
}

export function hasEntries(ctx: SqlContext, dir: Ino): boolean {
  return ctx.stmt('SELECT 1 FROM dentries WHERE parent = ? LIMIT 1').get(dir) !== undefined;
}

export function setattr(
  ctx: SqlContext,
  a: { path: string; mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number },
): Attr {
  return ctx.txNamespace(() => {
    const f = resolvePath(ctx, a.path);
    const now = ctx.nowMs();
    // COALESCE keeps fields the caller did not mention; ctime moves on every attribute change.
    ctx
      .stmt(
        `UPDATE inodes SET mode = COALESCE(?, mode), uid = COALESCE(?, uid), gid = COALESCE(?, gid),
           atime_ms = COALESCE(?, atime_ms), mtime_ms = COALESCE(?, mtime_ms), ctime_ms = ? WHERE ino = ?`,
      )
      .run(a.mode === undefined ? null : a.mode & PERM_BITS, a.uid ?? null, a.gid ?? null, a.atimeMs ?? null, a.mtimeMs ?? null, now, f.ino);
    return getAttr(ctx, f.ino);
  });
}
