// Requests about names and attributes: LOOKUP and FORGET, GETATTR/SETATTR, the operations that
// create or remove names, RENAME, LINK, STATFS, ACCESS. Each turns a nodeid into a path, calls
// FuseOps, and keeps the node table in step with what the kernel was told.
import type { TimeSpec } from '../adapter.js';
import { errno } from '../errno.js';
import { joinPath } from '../../meta/api.js';
import type { Node } from './nodes.js';
import {
  Fattr, FUSE_GETATTR_FH, OUT_HEADER_BYTES, RENAME_NOREPLACE, readCString, readSetattrIn, readU64, statfsOut,
} from './protocol.js';
import type { Req, Session } from './session.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const ENOENT = errno('ENOENT').errno;

function name(req: Req, off = 0): string {
  return readCString(req.body, off).s;
}

function isEnoent(err: unknown): boolean {
  return (err as { errno?: number } | null)?.errno === ENOENT;
}

export async function lookup(s: Session, req: Req): Promise<void> {
  const parent = s.node(req);
  const n = name(req);
  const path = await s.nodes.childPath(parent, n);
  let st;
  try {
    st = await s.ops.getattr(path);
  } catch (err) {
    // With an entry timeout the kernel may cache the absence too (as negative_timeout does in libfuse).
    if (isEnoent(err) && s.config.timeouts.entryS > 0) return s.replyNegativeEntry(req);
    throw err;
  }
  s.replyEntry(req, parent, n, st);
}

export function forget(s: Session, req: Req): void {
  s.nodes.forget(req.nodeid, readU64(req.body, 0));
}

export function batchForget(s: Session, req: Req): void {
  const count = req.body.readUInt32LE(0);
  for (let i = 0, off = 8; i < count && off + 16 <= req.body.length; i++, off += 16) {
    s.nodes.forget(readU64(req.body, off), readU64(req.body, off + 8));
  }
}

export async function getattr(s: Session, req: Req): Promise<void> {
  const node = s.node(req);
  const flags = req.body.length >= 16 ? req.body.readUInt32LE(0) : 0;
  if (flags & FUSE_GETATTR_FH) {
    const st = await s.ops.fgetattr(await s.loosePath(node), readU64(req.body, 8));
    // A read handle's version (or a writer's size) becomes the kernel's size of the inode: the next
    // open must look the name up again rather than append at that size.
    if (st.volatile) s.forgetName(node);
    return s.replyAttr(req, st);
  }
  const st = await s.ops.getattr(await s.path(node));
  if (node !== s.nodes.root && node.hiddenPath === null && (st.mode & S_IFMT) !== node.typeBits) {
    // Another mount put a different kind of file under this name: the kernel would call its inode
    // bad (EIO). Saying it is gone makes the kernel look the name up again and get a new node.
    s.nodes.detach(node);
    throw errno('ENOENT');
  }
  s.replyAttr(req, st);
}

export async function setattr(s: Session, req: Req): Promise<void> {
  const node = s.node(req);
  await s.entriesSettled(node.ino);
  const a = readSetattrIn(req.body);
  const v = a.valid;
  const withFh = (v & Fattr.FH) !== 0;
  let atime: TimeSpec;
  let mtime: TimeSpec;
  if (v & Fattr.ATIME) atime = v & Fattr.ATIME_NOW ? 'now' : a.atimeMs;
  if (v & Fattr.MTIME) mtime = v & Fattr.MTIME_NOW ? 'now' : a.mtimeMs;
  // truncate(2) asks for mtime = now with the size: the truncation sets it already when it is
  // committed, and a utimens here would commit an open file's writes early.
  if (v & Fattr.SIZE && mtime === 'now' && atime === undefined) mtime = undefined;
  const byPath = (v & (Fattr.MODE | Fattr.UID | Fattr.GID)) !== 0 || atime !== undefined || mtime !== undefined ||
    ((v & Fattr.SIZE) !== 0 && !withFh);
  // Changes through a handle work on a file whose name is gone; the others need the name.
  const path = byPath || !withFh ? await s.path(node) : await s.loosePath(node);
  if (v & Fattr.MODE) await s.ops.chmod(path, a.mode);
  if (v & (Fattr.UID | Fattr.GID)) {
    await s.ops.chown(path, v & Fattr.UID ? a.uid : 0xffffffff, v & Fattr.GID ? a.gid : 0xffffffff);
  }
  if (v & Fattr.SIZE) {
    if (withFh) await s.ops.ftruncate(path, a.fh, a.size);
    else await s.ops.truncate(path, a.size);
  }
  if (atime !== undefined || mtime !== undefined) await s.ops.utimens(path, atime, mtime);
  const st = withFh ? await s.ops.fgetattr(path, a.fh) : await s.ops.getattr(path);
  s.replyAttr(req, st);
}

export async function readlink(s: Session, req: Req): Promise<void> {
  const target = Buffer.from(await s.ops.readlink(await s.path(s.node(req))), 'utf8');
  const b = s.msg(target.length);
  target.copy(b, OUT_HEADER_BYTES);
  s.ok(req, b);
}

export async function symlink(s: Session, req: Req): Promise<void> {
  const parent = s.node(req);
  const entry = readCString(req.body, 0);
  const target = readCString(req.body, entry.next).s;
  const path = await s.nodes.childPath(parent, entry.s);
  await s.ops.symlink(target, path);
  s.replyEntry(req, parent, entry.s, await s.ops.getattr(path));
}

/** mknod(2) of a regular file (FIFOs and devices are not files we can store). */
export async function mknod(s: Session, req: Req): Promise<void> {
  const parent = s.node(req);
  const mode = req.body.readUInt32LE(0);
  const n = name(req, 16);
  if ((mode & S_IFMT) !== S_IFREG && (mode & S_IFMT) !== 0) throw errno('EPERM');
  const path = await s.nodes.childPath(parent, n);
  const fh = await s.ops.create(path, mode & 0o7777);
  await s.ops.release(path, fh);
  s.replyEntry(req, parent, n, await s.ops.getattr(path));
}

export async function mkdir(s: Session, req: Req): Promise<void> {
  const parent = s.node(req);
  const mode = req.body.readUInt32LE(0);
  const n = name(req, 8);
  const path = await s.nodes.childPath(parent, n);
  await s.ops.mkdir(path, mode & 0o7777);
  s.replyEntry(req, parent, n, await s.ops.getattr(path));
}

/**
 * A file unlinked while this mount has it open is renamed to a hidden name instead, which
 * QuorumOps removes from the namespace at once but keeps serving to the open handles (and
 * forgets after the last RELEASE): the same contract libfuse's high-level layer uses.
 */
async function hide(s: Session, node: Node, parentPath: string, path: string): Promise<void> {
  const hiddenPath = joinPath(parentPath, s.nodes.hiddenName(node));
  await s.ops.rename(path, hiddenPath);
  s.nodes.hide(node, hiddenPath);
  if (node.opens === 0) await dropHidden(s, node);
}

/** After the last RELEASE of a hidden node: QuorumOps forgets the hidden name. */
export async function dropHidden(s: Session, node: Node): Promise<void> {
  const hidden = node.hiddenPath;
  if (hidden === null) return;
  try {
    await s.ops.unlink(hidden);
  } catch (err) {
    s.logger.warn({ path: hidden, err: String(err) }, 'forgetting a hidden file');
  }
}

export async function unlink(s: Session, req: Req): Promise<void> {
  const parent = s.node(req);
  const n = name(req);
  const parentPath = await s.path(parent);
  const path = joinPath(parentPath, n);
  const node = s.nodes.child(parent, n);
  if (node && node.opens > 0 && !s.nodes.isDir(node)) {
    await hide(s, node, parentPath, path);
  } else {
    await s.ops.unlink(path);
    const gone = s.nodes.child(parent, n);
    if (gone) s.nodes.detach(gone);
  }
  s.ok(req);
}

export async function rmdir(s: Session, req: Req): Promise<void> {
  const parent = s.node(req);
  const n = name(req);
  await s.ops.rmdir(await s.nodes.childPath(parent, n));
  const gone = s.nodes.child(parent, n);
  if (gone) s.nodes.detach(gone);
  s.ok(req);
}

async function doRename(s: Session, req: Req, newdir: number, namesOff: number, flags: number): Promise<void> {
  // RENAME_EXCHANGE and RENAME_WHITEOUT would need support in the metadata server.
  if (flags & ~RENAME_NOREPLACE) throw errno('EINVAL');
  const oldParent = s.node(req);
  const newParent = s.nodeById(newdir);
  const from = readCString(req.body, namesOff);
  const to = readCString(req.body, from.next);
  const fromPath = await s.nodes.childPath(oldParent, from.s);
  const toParentPath = await s.path(newParent);
  const toPath = joinPath(toParentPath, to.s);
  if (flags & RENAME_NOREPLACE) {
    // Checked, then renamed: another mount may create the name in between (documented limit).
    const exists = await s.ops.getattr(toPath).then(() => true, (err: unknown) => {
      if (isEnoent(err)) return false;
      throw err;
    });
    if (exists) throw errno('EEXIST');
  }
  const src = s.nodes.child(oldParent, from.s);
  const done = src ? s.nodes.beginRename(src) : null;
  try {
    const target = s.nodes.child(newParent, to.s);
    if (target && target !== src && target.opens > 0 && !s.nodes.isDir(target)) {
      // An open file replaced by the rename goes the way of an unlinked one (see hide()), unless
      // the rename is bound to fail (a directory cannot replace a file).
      const srcIsDir = src ? s.nodes.isDir(src) : ((await s.ops.getattr(fromPath)).mode & S_IFMT) === S_IFDIR;
      if (!srcIsDir) await hide(s, target, toParentPath, toPath);
    }
    await s.ops.rename(fromPath, toPath);
    if (src) s.nodes.move(src, newParent, to.s);
    else {
      const replaced = s.nodes.child(newParent, to.s);
      if (replaced) s.nodes.detach(replaced);
    }
  } finally {
    done?.();
  }
  s.ok(req);
}

export function rename(s: Session, req: Req): Promise<void> {
  return doRename(s, req, readU64(req.body, 0), 8, 0);
}

export function rename2(s: Session, req: Req): Promise<void> {
  return doRename(s, req, readU64(req.body, 0), 16, req.body.readUInt32LE(8));
}

export async function link(s: Session, req: Req): Promise<void> {
  const newParent = s.node(req);
  const existing = s.nodeById(readU64(req.body, 0));
  const n = name(req, 8);
  const path = await s.nodes.childPath(newParent, n);
  await s.ops.link(await s.path(existing), path);
  const st = await s.ops.getattr(path);
  await s.forgetOtherNames(st.ino);
  s.replyEntry(req, newParent, n, st);
}

export async function statfs(s: Session, req: Req): Promise<void> {
  const out = statfsOut(await s.ops.statfs('/'));
  const b = s.msg(out.length);
  out.copy(b, OUT_HEADER_BYTES);
  s.ok(req, b);
}

export async function access(s: Session, req: Req): Promise<void> {
  await s.ops.access(await s.path(s.node(req)), req.body.readUInt32LE(0));
  s.ok(req);
}
