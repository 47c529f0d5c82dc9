// The kernel FUSE protocol (include/uapi/linux/fuse.h, protocol 7.x): opcodes, flags and the
// binary layout of the structs we read and write. Little-endian, 64-bit aligned, as the kernel
// lays them out on x86-64 and arm64. Only what the binding uses is here.
import type { FuseStat, FuseStatfs } from '../adapter.js';

export const FUSE_KERNEL_VERSION = 7;
/**
 * The newest minor we know the structs of. Every change after 7.31 that we could meet is gated by
 * an INIT flag we do not set (the two we do, INIT_EXT and DIRECT_IO_ALLOW_MMAP, change no struct
 * we use), so replying with the kernel's minor (up to this) is safe.
 */
export const FUSE_MAX_KNOWN_MINOR = 45;
/** 7.28 brought max_pages (1 MiB requests); older kernels get the protocol of libfuse2. */
export const FUSE_MIN_MINOR = 28;
export const FUSE_ROOT_ID = 1;

export const enum Op {
  LOOKUP = 1,
  FORGET = 2,
  GETATTR = 3,
  SETATTR = 4,
  READLINK = 5,
  SYMLINK = 6,
  MKNOD = 8,
  MKDIR = 9,
  UNLINK = 10,
  RMDIR = 11,
  RENAME = 12,
  LINK = 13,
  OPEN = 14,
  READ = 15,
  WRITE = 16,
  STATFS = 17,
  RELEASE = 18,
  FSYNC = 20,
  SETXATTR = 21,
  GETXATTR = 22,
  LISTXATTR = 23,
  REMOVEXATTR = 24,
  FLUSH = 25,
  INIT = 26,
  OPENDIR = 27,
  READDIR = 28,
  RELEASEDIR = 29,
  FSYNCDIR = 30,
  ACCESS = 34,
  CREATE = 35,
  INTERRUPT = 36,
  DESTROY = 38,
  BATCH_FORGET = 42,
  READDIRPLUS = 44,
  RENAME2 = 45,
}

/** INIT flags (fuse_init_in.flags / fuse_init_out.flags, the low 32 bits). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  ATOMIC_O_TRUNC: 1 << 3,
  EXPORT_SUPPORT: 1 << 4,
  BIG_WRITES: 1 << 5,
  AUTO_INVAL_DATA: 1 << 12,
  DO_READDIRPLUS: 1 << 13,
  READDIRPLUS_AUTO: 1 << 14,
  WRITEBACK_CACHE: 1 << 16,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
  CACHE_SYMLINKS: 1 << 23,
  /** The flags2 word exists in INIT (7.36). */
  INIT_EXT: 1 << 30,
} as const;

/** INIT flags of the second word (flags2: bit n here is bit 32 + n of the kernel's 64-bit flags). */
export const InitFlag2 = {
  /** Shared mmap of files opened with FOPEN_DIRECT_IO (7.39, Linux 6.6). */
  DIRECT_IO_ALLOW_MMAP: 1 << (36 - 32),
} as const;

/** fuse_open_out.open_flags: reads and writes through this handle bypass the page cache. */
export const FOPEN_DIRECT_IO = 1 << 0;

/** fuse_setattr_in.valid */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
} as const;

export const FUSE_GETATTR_FH = 1 << 0;
export const FUSE_FSYNC_FDATASYNC = 1 << 0;
export const RENAME_NOREPLACE = 1 << 0;

/** Notification codes, sent as the error field of an unsolicited message (unique 0). */
export const NOTIFY_INVAL_INODE = 2;

export const IN_HEADER_BYTES = 40;
export const OUT_HEADER_BYTES = 16;
const ATTR_BYTES = 88;
export const ENTRY_OUT_BYTES = 40 + ATTR_BYTES;
export const ATTR_OUT_BYTES = 16 + ATTR_BYTES;
export const OPEN_OUT_BYTES = 16;
const STATFS_OUT_BYTES = 80;
const INIT_OUT_BYTES = 64;
export const DIRENT_BASE_BYTES = 24;
export const WRITE_IN_BYTES = 40;

const TWO32 = 4294967296;

// ---- numbers ---------------------------------------------------------------------------------

/** u64 fields that we (or the kernel, for uniques) keep far below 2^53. */
export function readU64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * TWO32;
}

/** s64 fields (times): the high word is signed. */
function readS64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readInt32LE(off + 4) * TWO32;
}

/** Writes an integer in [-2^53, 2^53] as a two's-complement 64-bit field. */
export function writeI64(b: Buffer, n: number, off: number): void {
  b.writeUInt32LE(n >>> 0, off);
  b.writeInt32LE(Math.floor(n / TWO32) | 0, off + 4);
}

export function align8(n: number): number {
  return (n + 7) & ~7;
}

// ---- requests --------------------------------------------------------------------------------

export interface InHeader {
  len: number;
  opcode: number;
  unique: number;
  nodeid: number;
  uid: number;
  gid: number;
  pid: number;
}

/** fuse_out_header: the whole message's length, 0 or a negative errno (or a notify code), unique (0 for a notification). */
export function writeOutHeader(b: Buffer, len: number, error: number, unique: number): void {
  b.writeUInt32LE(len, 0);
  b.writeInt32LE(error, 4);
  writeI64(b, unique, 8);
}

export function readInHeader(b: Buffer): InHeader {
  return {
    len: b.readUInt32LE(0),
    opcode: b.readUInt32LE(4),
    unique: readU64(b, 8),
    nodeid: readU64(b, 16),
    uid: b.readUInt32LE(24),
    gid: b.readUInt32LE(28),
    pid: b.readUInt32LE(32),
  };
}

/** NUL-terminated names; the kernel always terminates them. */
export function readCString(b: Buffer, off: number): { s: string; next: number } {
  let end = b.indexOf(0, off);
  if (end < 0) end = b.length;
  return { s: b.toString('utf8', off, end), next: end + 1 };
}

export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
  /** Meaningful only when flags has INIT_EXT. */
  flags2: number;
}

export function readInitIn(body: Buffer): InitIn {
  const flags = body.readUInt32LE(12);
  const flags2 = flags & InitFlag.INIT_EXT && body.length >= 20 ? body.readUInt32LE(16) : 0;
  return { major: body.readUInt32LE(0), minor: body.readUInt32LE(4), maxReadahead: body.readUInt32LE(8), flags, flags2 };
}

export interface SetattrIn {
  valid: number;
  fh: number;
  size: number;
  atimeMs: number;
  mtimeMs: number;
  mode: number;
  uid: number;
  gid: number;
}

export function readSetattrIn(b: Buffer): SetattrIn {
  // Nearest millisecond: 677999999 ns is what a caller meant as .678 s.
  const ms = (secOff: number, nsecOff: number) => readS64(b, secOff) * 1000 + Math.round(b.readUInt32LE(nsecOff) / 1e6);
  return {
    valid: b.readUInt32LE(0),
    fh: readU64(b, 8),
    size: readU64(b, 16),
    // lock_owner at 24
    atimeMs: ms(32, 56),
    mtimeMs: ms(40, 60),
    // ctime at 48, ctimensec at 64
    mode: b.readUInt32LE(68),
    uid: b.readUInt32LE(76),
    gid: b.readUInt32LE(80),
  };
}

/** fuse_read_in and fuse_write_in share their first fields. */
export interface IoIn {
  fh: number;
  offset: number;
  size: number;
}

export function readIoIn(b: Buffer): IoIn {
  return { fh: readU64(b, 0), offset: readU64(b, 8), size: b.readUInt32LE(16) };
}

// ---- replies ---------------------------------------------------------------------------------

export interface Timeouts {
  entryS: number;
  /**
   * Entry time of directories, at least entryS. Every path walk revalidates each directory on
   * the way with a LOOKUP while it is 0; requests stay path-based either way (see binding.ts).
   */
  dirEntryS: number;
  attrS: number;
}

function writeValid(b: Buffer, seconds: number, secOff: number, nsecOff: number): void {
  const whole = Math.floor(seconds);
  writeI64(b, whole, secOff);
  b.writeUInt32LE(Math.round((seconds - whole) * 1e9) % 1e9, nsecOff);
}

function writeTime(b: Buffer, d: Date, secOff: number, nsecOff: number): void {
  const ms = d.getTime();
  const sec = Math.floor(ms / 1000);
  writeI64(b, sec, secOff);
  b.writeUInt32LE(Math.round((ms - sec * 1000) * 1e6), nsecOff);
}

/**
 * struct fuse_attr at off. The kernel shows ino as st_ino; blocks are 512-byte units. blksize
 * (st_blksize, the I/O size programs such as cp use) may be raised to the largest request.
 */
function writeAttr(b: Buffer, off: number, st: FuseStat, blksize: number): void {
  writeI64(b, st.ino, off);
  writeI64(b, st.size, off + 8);
  writeI64(b, st.blocks, off + 16);
  writeTime(b, st.atime, off + 24, off + 48);
  writeTime(b, st.mtime, off + 32, off + 52);
  writeTime(b, st.ctime, off + 40, off + 56);
  b.writeUInt32LE(st.mode >>> 0, off + 60);
  b.writeUInt32LE((st.nlink || 1) >>> 0, off + 64);
  b.writeUInt32LE(st.uid >>> 0, off + 68);
  b.writeUInt32LE(st.gid >>> 0, off + 72);
  // rdev (76) and flags (84) stay 0
  b.writeUInt32LE(Math.max(st.blksize, blksize) >>> 0, off + 80);
}

/** struct fuse_entry_out at off; nodeid 0 is a negative entry (cached absence). */
export function writeEntryOut(b: Buffer, off: number, nodeid: number, st: FuseStat | null, t: Timeouts, attrS = t.attrS, blksize = 0): void {
  writeI64(b, nodeid, off);
  // generation (8) stays 0: nodeids are never reused while we run
  writeValid(b, st && (st.mode & 0o170000) === 0o040000 ? Math.max(t.entryS, t.dirEntryS) : t.entryS, off + 16, off + 32);
  writeValid(b, attrS, off + 24, off + 36);
  if (st) writeAttr(b, off + 40, st, blksize);
}

export function writeAttrOut(b: Buffer, off: number, st: FuseStat, attrS: number, blksize = 0): void {
  writeValid(b, attrS, off, off + 8);
  writeAttr(b, off + 16, st, blksize);
}

export function writeOpenOut(b: Buffer, off: number, fh: number, openFlags: number): void {
  writeI64(b, fh, off);
  b.writeUInt32LE(openFlags, off + 8);
}

export function statfsOut(s: FuseStatfs): Buffer {
  const b = Buffer.alloc(STATFS_OUT_BYTES);
  writeI64(b, s.blocks, 0);
  writeI64(b, s.bfree, 8);
  writeI64(b, s.bavail, 16);
  writeI64(b, s.files, 24);
  writeI64(b, s.ffree, 32);
  b.writeUInt32LE(s.bsize >>> 0, 40);
  b.writeUInt32LE(s.namemax >>> 0, 44);
  b.writeUInt32LE((s.frsize || s.bsize) >>> 0, 48);
  return b;
}

export interface InitOut {
  minor: number;
  maxReadahead: number;
  flags: number;
  /** Sent only when flags has INIT_EXT. */
  flags2: number;
  maxBackground: number;
  congestionThreshold: number;
  maxWrite: number;
  timeGranNs: number;
  maxPages: number;
}

export function initOut(o: InitOut): Buffer {
  const b = Buffer.alloc(INIT_OUT_BYTES);
  b.writeUInt32LE(FUSE_KERNEL_VERSION, 0);
  b.writeUInt32LE(o.minor, 4);
  b.writeUInt32LE(o.maxReadahead, 8);
  b.writeUInt32LE(o.flags >>> 0, 12);
  b.writeUInt16LE(o.maxBackground, 16);
  b.writeUInt16LE(o.congestionThreshold, 18);
  b.writeUInt32LE(o.maxWrite, 20);
  b.writeUInt32LE(o.timeGranNs, 24);
  b.writeUInt16LE(o.maxPages, 28);
  b.writeUInt32LE(o.flags2 >>> 0, 32);
  // map_alignment, max_stack_depth, request_timeout: 0
  return b;
}

/** d_type from a mode's type bits (DT_UNKNOWN = 0 when we do not know). */
export function direntType(mode: number): number {
  return (mode >>> 12) & 0o17;
}

/**
 * Appends a struct fuse_dirent (ino, offset of the next entry, name) at off if it fits in limit;
 * returns the new end, or -1 if it does not fit.
 */
export function writeDirent(b: Buffer, off: number, limit: number, ino: number, nextOff: number, type: number, name: Buffer): number {
  const size = direntBytes(name.length);
  if (off + size > limit) return -1;
  writeI64(b, ino, off);
  writeI64(b, nextOff, off + 8);
  b.writeUInt32LE(name.length, off + 16);
  b.writeUInt32LE(type, off + 20);
  name.copy(b, off + DIRENT_BASE_BYTES);
  b.fill(0, off + DIRENT_BASE_BYTES + name.length, off + size);
  return off + size;
}

/** Size of a fuse_dirent record. */
export function direntBytes(nameBytes: number): number {
  return align8(DIRENT_BASE_BYTES + nameBytes);
}

/** Size of a fuse_direntplus record (entry_out, then the dirent). */
export function direntplusBytes(nameBytes: number): number {
  return align8(ENTRY_OUT_BYTES + DIRENT_BASE_BYTES + nameBytes);
}
