// POSIX rename in one transaction: either the whole move (including replacing the target) is
// visible or nothing is. Error precedence follows Linux's renameat2.
import { FsError } from '../../common/errors.js';
import { splitPath } from './paths.js';
import { dropLink } from './refs.js';
import { child, isSelfOrDescendant, touchDir, walkDirs, type Found } from './resolve.js';
import { hasEntries } from './namespace-write.js';
import type { SqlContext } from './sql-context.js';

export function rename(ctx: SqlContext, a: { from: string; to: string }): void {
  const fromParts = splitPath(a.from);
  const toParts = splitPath(a.to);
  ctx.txNamespace(() => {
    // Linux answers EBUSY for the root; EINVAL is the closest code the API carries.
    if (fromParts.length === 0 || toParts.length === 0) throw new FsError('EINVAL', 'cannot rename the root directory');
    const srcParent = walkDirs(ctx, fromParts.slice(0, -1), a.from);
    const srcName = fromParts[fromParts.length - 1]!;
    const src = child(ctx, srcParent, srcName);
    if (!src) throw new FsError('ENOENT', `no such file or directory: ${a.from}`);
    const dstParent = walkDirs(ctx, toParts.slice(0, -1), a.to);
    const dstName = toParts[toParts.length - 1]!;
    if (srcParent === dstParent && srcName === dstName) return;

    if (src.type === 'dir' && isSelfOrDescendant(ctx, dstParent, src.ino)) {
      throw new FsError('EINVAL', `cannot move a directory into itself: ${a.from} -> ${a.to}`);
    }
    const dst = child(ctx, dstParent, dstName);
    // Two names of one file: POSIX says rename does nothing and succeeds.
    if (dst && dst.ino === src.ino) return;
    // A target that is an ancestor of the source is never empty; Linux says so before type checks.
    if (dst && dst.type === 'dir' && isSelfOrDescendant(ctx, srcParent, dst.ino)) {
      throw new FsError('ENOTEMPTY', `directory not empty: ${a.to} (it contains ${a.from})`);
    }

    const now = ctx.nowMs();
    if (dst) removeTarget(ctx, src, dst, dstParent, dstName, a.to, now);
    ctx.stmt('UPDATE dentries SET parent = ?, name = ? WHERE parent = ? AND name = ?').run(dstParent, dstName, srcParent, srcName);
    // A moved directory takes its '..' link from the old parent to the new one.
    const movedDirLinks = src.type === 'dir' && srcParent !== dstParent ? 1 : 0;
    ctx.stmt('UPDATE inodes SET ctime_ms = ? WHERE ino = ?').run(now, src.ino);
    touchDir(ctx, srcParent, now, -movedDirLinks);
    if (dstParent !== srcParent) touchDir(ctx, dstParent, now, +movedDirLinks);
  });
}

/** Checks that src may replace dst and unlinks dst (file: one link less; empty dir: deleted). */
function removeTarget(ctx: SqlContext, src: Found, dst: Found, dstParent: number, dstName: string, to: string, nowMs: number): void {
  if (src.type === 'dir' && dst.type !== 'dir') throw new FsError('ENOTDIR', `not a directory: ${to}`);
  if (src.type !== 'dir' && dst.type === 'dir') throw new FsError('EISDIR', `is a directory: ${to}`);
  if (dst.type === 'dir' && hasEntries(ctx, dst.ino)) throw new FsError('ENOTEMPTY', `directory not empty: ${to}`);
  ctx.stmt('DELETE FROM dentries WHERE parent = ? AND name = ?').run(dstParent, dstName);
  if (dst.type === 'dir') {
    ctx.stmt('DELETE FROM inodes WHERE ino = ?').run(dst.ino);
    touchDir(ctx, dstParent, nowMs, -1);
  } else {
    dropLink(ctx, dst.ino, nowMs);
  }
}
