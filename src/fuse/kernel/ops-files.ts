// Requests on open files and directories: CREATE/OPEN, READ/WRITE, FLUSH/FSYNC, RELEASE, and the
// directory handles (OPENDIR, READDIR[PLUS], RELEASEDIR). Handles are FuseOps' own numbers.
import { constants } from 'node:fs';
import { O_ACCMODE, type FuseStat } from '../adapter.js';
import { dropHidden } from './ops-names.js';
import { joinPath } from '../../meta/api.js';
import type { Node } from './nodes.js';
import type { DirListing } from './dir-handles.js';
import {
  ENTRY_OUT_BYTES, FOPEN_DIRECT_IO, FUSE_FSYNC_FDATASYNC, OPEN_OUT_BYTES, OUT_HEADER_BYTES, WRITE_IN_BYTES,
  direntBytes, direntType, direntplusBytes, readCString, readIoIn, readU64, writeDirent, writeOpenOut,
} from './protocol.js';
import type { Req, Session } from './session.js';

/** d_ino of names we have no node for (libfuse's FUSE_UNKNOWN_INO): never 0, which readdir(3) skips. */
const UNKNOWN_INO = 0xffffffff;
const DT_DIR = 4;

/**
 * Whether a handle bypasses the page cache (FOPEN_DIRECT_IO, when INIT allowed that: see
 * Session.handleInit): if it can only write, or if the file held no bytes for it to read when it
 * was opened (created, truncated or empty), so that what it reads it wrote itself, which the mount
 * still holds. Other read-write handles keep the cache, since a direct one sends every read to the
 * mount: 4 KiB reads of a 64 MiB file through an O_RDWR handle ran at 62-75 MiB/s direct, 774-864
 * MiB/s through the page cache (a database opened read-write is read in pages of that size). fio's
 * write jobs count as empty: fio lays the file out first, which here leaves it empty (fallocate is
 * not supported), and then reopens it O_RDWR.
 */
export function bypassesPageCache(flags: number, startsEmpty: boolean): boolean {
  const mode = flags & O_ACCMODE;
  return mode === constants.O_WRONLY || (mode === constants.O_RDWR && (startsEmpty || (flags & constants.O_TRUNC) !== 0));
}

/** FOPEN_* flags of an open's answer. Never KEEP_CACHE: every open drops the page cache (close-to-open). */
function openFlags(s: Session, flags: number, fh: number, created: boolean): number {
  if (!s.init?.directWrites) return 0;
  return bypassesPageCache(flags, created || (s.ops.isEmptyFile?.(fh) ?? false)) ? FOPEN_DIRECT_IO : 0;
}

async function releaseQuietly(s: Session, path: string, fh: number): Promise<void> {
  await s.ops.release(path, fh).catch((err: unknown) => s.logger.warn({ path, fh, err: String(err) }, 'releasing a handle the kernel never got'));
}

/** One open handle of node fewer; the last one of a hidden node takes its hidden name along. */
async function closed(s: Session, node: Node): Promise<void> {
  if (node.opens > 0 && --node.opens === 0) {
    if (node.hiddenPath !== null) await dropHidden(s, node);
    s.nodes.dropIfUnused(node);
  }
}

export async function open(s: Session, req: Req): Promise<void> {
  const node = s.node(req);
  const path = await s.path(node);
  // Counted from the start: an UNLINK arriving while the open is on its way must hide the file,
  // not remove it from under the handle about to exist (the kernel does not order the two).
  node.opens++;
  let fh: number;
  try {
    await s.entriesSettled(node.ino);
    fh = await s.ops.open(path, req.body.readUInt32LE(0));
  } catch (err) {
    await closed(s, node);
    throw err;
  }
  const b = s.msg(OPEN_OUT_BYTES);
  writeOpenOut(b, OUT_HEADER_BYTES, fh, openFlags(s, req.body.readUInt32LE(0), fh, false));
  if (!s.ok(req, b)) {
    await releaseQuietly(s, path, fh);
    await closed(s, node);
  }
}

export async function create(s: Session, req: Req): Promise<void> {
  const parent = s.node(req);
  const flags = req.body.readUInt32LE(0);
  const mode = req.body.readUInt32LE(4);
  const n = readCString(req.body, 16).s;
  const path = await s.nodes.childPath(parent, n);
  const fh = await s.ops.create(path, mode);
  let st: FuseStat;
  try {
    st = await s.ops.fgetattr(path, fh);
  } catch (err) {
    await releaseQuietly(s, path, fh);
    throw err;
  }
  const node = s.replyEntry(req, parent, n, st, (b, off) => writeOpenOut(b, off, fh, openFlags(s, flags, fh, true)), OPEN_OUT_BYTES);
  if (node) node.opens++;
  else await releaseQuietly(s, path, fh);
}

export async function read(s: Session, req: Req): Promise<void> {
  const node = s.node(req);
  const { fh, offset, size } = readIoIn(req.body);
  // The cached blocks' own bytes go to the kernel, which copies them into the reader's pages.
  const r = await s.ops.readParts(await s.loosePath(node), fh, size, offset);
  try {
    s.okParts(req, r.parts);
  } finally {
    r.release();
  }
}

export async function write(s: Session, req: Req): Promise<void> {
  const node = s.node(req);
  const { fh, offset, size } = readIoIn(req.body);
  const data = req.body.subarray(WRITE_IN_BYTES, WRITE_IN_BYTES + size);
  const n = await s.ops.write(await s.loosePath(node), fh, data, data.length, offset);
  const b = s.msg(8);
  b.writeUInt32LE(n, OUT_HEADER_BYTES);
  s.ok(req, b);
}

export async function flush(s: Session, req: Req): Promise<void> {
  await s.ops.flush(await s.loosePath(s.node(req)), readU64(req.body, 0));
  s.ok(req);
}

export async function fsync(s: Session, req: Req): Promise<void> {
  const dataSync = (req.body.readUInt32LE(8) & FUSE_FSYNC_FDATASYNC) !== 0;
  await s.ops.fsync(await s.loosePath(s.node(req)), readU64(req.body, 0), dataSync);
  s.ok(req);
}

export async function release(s: Session, req: Req): Promise<void> {
  const node = s.nodes.get(req.nodeid);
  const fh = readU64(req.body, 0);
  const path = node ? await s.loosePath(node) : `/.quorumfs-detached-${req.nodeid}`;
  try {
    await s.ops.release(path, fh);
  } finally {
    if (node) await closed(s, node);
  }
  s.ok(req);
}

export async function opendir(s: Session, req: Req): Promise<void> {
  const node = s.node(req);
  await s.path(node);
  const fh = s.dirs.allocate(node.id);
  const b = s.msg(OPEN_OUT_BYTES);
  writeOpenOut(b, OUT_HEADER_BYTES, fh, 0);
  if (!s.ok(req, b)) s.dirs.release(fh);
}

export function releasedir(s: Session, req: Req): void {
  s.dirs.release(readU64(req.body, 0));
  s.ok(req);
}

/** Namespace changes are visible at once but made durable in groups: fsync of a directory waits for it. */
export async function fsyncdir(s: Session, req: Req): Promise<void> {
  await s.ops.fsyncdir(await s.loosePath(s.node(req)));
  s.ok(req);
}

async function listingFor(s: Session, node: Node, fh: number, offset: number) {
  return s.dirs.listing(fh, offset, async () => s.ops.readdir(await s.path(node)));
}

/** d_ino and d_type of listing entry i in dir: from the listing, else as far as the node table knows them. */
function direntOf(s: Session, dir: Node, listing: DirListing, i: number): { ino: number; type: number } {
  const { name, ino, mode } = listing.entries[i]!;
  if (name === '.') return { ino: dir.ino, type: DT_DIR };
  if (name === '..') return { ino: dir.parent?.ino ?? dir.ino, type: DT_DIR };
  if (ino !== undefined && mode !== undefined) return { ino, type: direntType(mode) };
  const child = s.nodes.child(dir, name);
  return child ? { ino: child.ino, type: direntType(child.typeBits) } : { ino: UNKNOWN_INO, type: 0 };
}

/**
 * Entries offset..end-1 of the listing: as many as fit in `size` bytes of records of
 * recordBytes(name length) each, and the bytes they fill. The kernel offers up to max_pages
 * (1 MiB) per request; a reply buffer of `bytes` is enough.
 */
function fitting(listing: DirListing, offset: number, size: number, recordBytes: (nameBytes: number) => number): { end: number; bytes: number } {
  let bytes = 0;
  let end = offset;
  for (; end < listing.entries.length; end++) {
    const next = bytes + recordBytes(listing.encoded[end]!.length);
    if (next > size) break;
    bytes = next;
  }
  return { end, bytes };
}

export async function readdir(s: Session, req: Req): Promise<void> {
  const node = s.node(req);
  const { fh, offset, size } = readIoIn(req.body);
  const listing = await listingFor(s, node, fh, offset);
  const { end: last, bytes } = fitting(listing, offset, size, direntBytes);
  const limit = OUT_HEADER_BYTES + bytes;
  const b = Buffer.allocUnsafe(limit);
  let off = OUT_HEADER_BYTES;
  // Entry i carries offset i + 1: the offset the kernel sends back to continue after it.
  for (let i = offset; i < last; i++) {
    const d = direntOf(s, node, listing, i);
    const end = writeDirent(b, off, limit, d.ino, i + 1, d.type, listing.encoded[i]!);
    if (end < 0) break;
    off = end;
  }
  s.ok(req, b, off);
}

/**
 * READDIR with each entry's attributes, so that `ls -l` needs no LOOKUP per name while the entry
 * timeout lasts. FuseOps has no bulk form: one getattr per name, in parallel.
 */
export async function readdirplus(s: Session, req: Req): Promise<void> {
  const node = s.node(req);
  const { fh, offset, size } = readIoIn(req.body);
  const listing = await listingFor(s, node, fh, offset);
  const dirPath = await s.path(node);
  const { end, bytes } = fitting(listing, offset, size, direntplusBytes);
  const picked = Array.from({ length: end - offset }, (_, k) => offset + k);
  // Attributes the cache has are taken at once, without getattr's promises per name (its error
  // wrapper, the cache's async lookup, a catch); the others are asked for in parallel.
  const stats: Array<FuseStat | null> = new Array<FuseStat | null>(picked.length).fill(null);
  const waits: Array<Promise<void>> = [];
  picked.forEach((i, k) => {
    const name = listing.entries[i]!.name;
    // . and .. are never linked by the kernel: they go out without attributes (nodeid 0).
    if (name === '.' || name === '..') return;
    const path = joinPath(dirPath, name);
    const now = s.ops.getattrNow?.(path);
    if (now) stats[k] = now;
    else waits.push(s.ops.getattr(path).then((st) => { stats[k] = st; }, () => undefined));
  });
  if (waits.length > 0) await Promise.all(waits);
  if (req.done) return;
  // Zeroed, and only what the picked entries fill: an entry without attributes goes out with an
  // all-zero entry_out, and zeroing the whole 1 MiB the kernel offers was a quarter of the mount's
  // time in `ls -lR` (two READDIRPLUS per directory, the second at its end).
  const b = Buffer.alloc(OUT_HEADER_BYTES + bytes);
  let off = OUT_HEADER_BYTES;
  const linked: Node[] = [];
  picked.forEach((i, k) => {
    const name = listing.entries[i]!.name;
    const st = stats[k];
    let ino: number;
    let type: number;
    if (st) {
      const child = s.nodes.remember(node, name, st.ino, st.mode);
      linked.push(child);
      s.writeEntry(b, off, req, child, st);
      ino = st.ino;
      type = direntType(st.mode);
    } else {
      ({ ino, type } = direntOf(s, node, listing, i));
    }
    const end = writeDirent(b, off + ENTRY_OUT_BYTES, off + direntplusBytes(listing.encoded[i]!.length), ino, i + 1, type, listing.encoded[i]!);
    off = end < 0 ? off + direntplusBytes(listing.encoded[i]!.length) : end;
  });
  if (!s.ok(req, b, off)) for (const child of linked) s.nodes.unref(child);
}
