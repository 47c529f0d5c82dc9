// Our own narrow view of a FUSE binding, so the kernel glue can be swapped (another binding, a
// libfuse3 one, a low-level one) without touching the file system operations in ops.ts.
//
// The only implementation today wraps @cocalc/fuse-native 2.4 (libfuse2 high-level API: path
// based, one thread per in-flight request, callbacks may overlap). Its quirks are handled here:
//  - it has no option for big_writes/max_write/use_ino/atomic_o_trunc: we extend its option string;
//  - its utimens passes atime in both slots: we read mtime from the request's native struct;
//  - its fgetattr calls ops.getattr: we route it to ops.fgetattr with the handle;
//  - its unmount is always lazy (`fusermount -uz`): we unmount strictly first, lazily only on request;
//  - read/write answer with a byte count in the error slot (negative = errno).
import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { ANSWER_CODES } from '../common/errors.js';

/** The access-mode bits of open(2)'s flags (O_RDONLY, O_WRONLY, O_RDWR); node:fs does not export it. */
export const O_ACCMODE = 3;

const execFileP = promisify(execFile);
const require = createRequire(import.meta.url);

/** Attributes as the kernel sees them. Times are Dates (the binding carries milliseconds). */
export interface FuseStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  ino: number;
  blocks: number;
  blksize: number;
  atime: Date;
  mtime: Date;
  ctime: Date;
  /**
   * Not for the kernel to cache: a size and times that only this mount's open writer has, or one
   * read handle's version of the file (see QuorumOps.fgetattr). Other answers are the namespace's.
   */
  volatile?: boolean;
}

export interface FuseStatfs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  fsid: number;
  flag: number;
  namemax: number;
}

/** Which of atime/mtime to set; undefined = leave as is, 'now' = the server's clock. */
export type TimeSpec = number | 'now' | undefined;

/**
 * The operations a binding calls. Every method resolves with its result or rejects with an
 * ErrnoError (anything else is answered EIO by the adapter). Handles are 32-bit, never 0.
 */
/**
 * Lets the kernel cache names and attributes under the client's metadata lease
 * (src/client/meta-cache.ts): a binding gives the kernel nothing for longer than leaseLeftMs(), and
 * makes it forget what changes made elsewhere make stale before those changes are acknowledged.
 */
export interface KernelCoherence {
  leaseLeftMs(): number;
  /** Changes when changes made elsewhere arrive: an answer read before may be older than they are. */
  generation(): number;
  onChanges(listener: (changes: Array<{ paths: string[]; subtrees: string[]; inos: number[] }>) => Promise<void>): void;
}

/**
 * A name in a directory listing with what readdir(3) reports beside it: d_ino and d_type (mode
 * holds the type bits). Without them, tools that walk trees (`rm -r`, `find`, `du`) stat every
 * name just to learn whether it is a directory.
 */
export interface DirName {
  name: string;
  ino?: number;
  mode?: number;
}

/** A read's bytes in order, valid until release(). */
export interface ReadParts {
  parts: Buffer[];
  release(): void;
}

export interface FuseOps {
  /** Present when the kernel may cache under a lease (see KernelCoherence). */
  readonly coherence?: KernelCoherence;
  getattr(path: string): Promise<FuseStat>;
  /**
   * What getattr would answer, when that is known without waiting (a cache hit); undefined
   * otherwise, and the caller then calls getattr. READDIRPLUS asks it for every name it lists.
   */
  getattrNow?(path: string): FuseStat | undefined;
  fgetattr(path: string, fh: number): Promise<FuseStat>;
  readdir(path: string): Promise<DirName[]>;
  create(path: string, mode: number): Promise<number>;
  open(path: string, flags: number): Promise<number>;
  /**
   * True when the file had no bytes when this handle was opened (and it has written none yet):
   * what it reads, it wrote itself. The kernel binding then lets it bypass the page cache.
   */
  isEmptyFile?(fh: number): boolean;
  read(path: string, fh: number, buf: Buffer, length: number, position: number): Promise<number>;
  /**
   * read() without the copy into the binding's buffer, for the kernel binding: the pieces are
   * written to the kernel as they are, then released. (libfuse's binding hands us its buffer: read().)
   */
  readParts(path: string, fh: number, length: number, position: number): Promise<ReadParts>;
  write(path: string, fh: number, buf: Buffer, length: number, position: number): Promise<number>;
  truncate(path: string, size: number): Promise<void>;
  ftruncate(path: string, fh: number, size: number): Promise<void>;
  flush(path: string, fh: number): Promise<void>;
  fsync(path: string, fh: number, dataSync: boolean): Promise<void>;
  /** fsync of a directory: its entries (creates, renames, unlinks) become durable. */
  fsyncdir(path: string): Promise<void>;
  release(path: string, fh: number): Promise<void>;
  unlink(path: string): Promise<void>;
  rename(from: string, to: string): Promise<void>;
  mkdir(path: string, mode: number): Promise<void>;
  rmdir(path: string): Promise<void>;
  chmod(path: string, mode: number): Promise<void>;
  chown(path: string, uid: number, gid: number): Promise<void>;
  utimens(path: string, atime: TimeSpec, mtime: TimeSpec): Promise<void>;
  symlink(target: string, path: string): Promise<void>;
  readlink(path: string): Promise<string>;
  link(existing: string, newPath: string): Promise<void>;
  statfs(path: string): Promise<FuseStatfs>;
  access(path: string, mode: number): Promise<void>;
}

const ERRNO = constants.errno as Record<string, number>;
/** The errno numbers of ANSWER_CODES: made without a stack trace, as FsError makes them. */
const ANSWER_ERRNOS: ReadonlySet<number> = new Set([...ANSWER_CODES].map((code) => ERRNO[code]!));

/** A rejection carrying a positive errno number (os.constants.errno). */
export class ErrnoError extends Error {
  readonly errno: number;
  constructor(errno: number, message = `errno ${errno}`) {
    const stackLimit = Error.stackTraceLimit;
    if (ANSWER_ERRNOS.has(errno)) Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackLimit;
    this.name = 'ErrnoError';
    this.errno = errno;
  }
}

export interface MountOptions {
  /** Kernel attribute/entry cache in seconds; 0 = ask us every time (strict close-to-open). */
  attrTimeoutS: number;
  entryTimeoutS: number;
  /** Without big_writes the kernel sends every write in 4 KiB requests (kept switchable to measure). */
  bigWrites: boolean;
  /** Largest write request the kernel sends (needs big_writes); 128 KiB is libfuse2's ceiling. */
  maxWriteBytes: number;
  maxReadBytes: number;
  /** Let other users in (needs user_allow_other in /etc/fuse.conf unless root); the kernel then checks modes. */
  allowOther: boolean;
  /** Shown as the source in /proc/mounts; we put our pid there to recognise a dead owner. */
  fsname: string;
  /** Upper bound of one operation inside the binding; our own waits (quorum) are bounded below it. */
  opTimeoutMs: number;
  debug: boolean;
}

export interface MountedFs {
  /** Strict unmount (fails with EBUSY while in use) unless lazy is set. */
  unmount(opts?: { lazy?: boolean }): Promise<void>;
  /** Frees the binding's side after the kernel mount went away by other means. */
  release(): Promise<void>;
}

export interface FuseBinding {
  mount(mountpoint: string, ops: FuseOps, options: MountOptions): Promise<MountedFs>;
}

// ---- @cocalc/fuse-native ----------------------------------------------------------------------

type Cb = (...args: unknown[]) => void;
interface NativeFuse {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}
type NativeFuseCtor = {
  new (mnt: string, ops: Record<string, Cb>, opts: Record<string, unknown>): NativeFuse;
  unmount(mnt: string, cb: (err: Error | null) => void): void;
  prototype: Record<string, unknown>;
};

/**
 * Offsets of `atime` and `mtime` (uint64 milliseconds) in fuse-native's fuse_thread_locals_t on
 * 64-bit Linux (checked with offsetof against the struct in fuse-native.c 2.4.3). The request's
 * struct arrives in JS as a Buffer (the first handler argument), so mtime can be read even though
 * the binding forwards atime twice. Read only when the atime slot matches what the binding passed.
 */
const LOCALS_ATIME_OFFSET = 104;
const LOCALS_MTIME_OFFSET = 112;
/** What UTIME_NOW (and UTIME_OMIT) become once the binding converts timespecs to ms. */
const UTIME_SPECIAL_MS = Math.floor(((1 << 30) - 1) / 1e6);

let cachedCtor: NativeFuseCtor | null = null;

function nativeClass(): NativeFuseCtor {
  if (cachedCtor) return cachedCtor;
  const Base = require('@cocalc/fuse-native') as NativeFuseCtor;

  // The binding's own _close runs `fusermount -uz` (always lazy) through the static Fuse.unmount,
  // looked up by name. The kernel side is ours (unmountPath: strict unless asked, and never a
  // mount that someone else has put on the same path since), so that step becomes a no-op.
  Base.unmount = (_mnt: string, cb: (err: Error | null) => void) => cb(null);

  // The request struct of the call being dispatched right now (set and read synchronously).
  let dispatchingLocals: Buffer | null = null;

  const baseProto = Base.prototype as Record<string, (...a: unknown[]) => unknown>;
  class QuorumNativeFuse extends (Base as unknown as new (...a: unknown[]) => Record<string, unknown>) {
    _fuseOptions(): string {
      const base = baseProto._fuseOptions!.call(this) as string;
      const extra = (this.opts as { extraOptions?: string[] }).extraOptions ?? [];
      if (!extra.length) return base;
      return base ? `${base},${extra.join(',')}` : `-o${extra.join(',')}`;
    }

    _makeHandlerArray(): unknown[] {
      const handlers = baseProto._makeHandlerArray!.call(this) as Array<Cb | undefined>;
      return handlers.map((h) => h && ((nativeHandler: unknown, ...rest: unknown[]) => {
        dispatchingLocals = Buffer.isBuffer(nativeHandler) ? nativeHandler : null;
        try {
          return h(nativeHandler, ...rest);
        } finally {
          dispatchingLocals = null;
        }
      }));
    }

    _op_fgetattr(signal: Cb, path: string, fd: number): void {
      const ops = this.ops as Record<string, Cb>;
      ops.fgetattr!(path, fd, (err: unknown, stat: unknown) => {
        if (err) return signal(err);
        return signal(0, getStatArray(stat as FuseStat));
      });
    }

    _op_utimens(signal: Cb, path: string, aLow: number, aHigh: number): void {
      const atime = aLow + aHigh * 4294967296;
      let mtime = atime;
      const locals = dispatchingLocals;
      if (locals && locals.length >= LOCALS_MTIME_OFFSET + 8 && Number(locals.readBigUInt64LE(LOCALS_ATIME_OFFSET)) === atime) {
        mtime = Number(locals.readBigUInt64LE(LOCALS_MTIME_OFFSET));
      }
      const ops = this.ops as Record<string, Cb>;
      ops.utimens!(path, atime, mtime, (err: unknown) => signal(err));
    }
  }
  cachedCtor = QuorumNativeFuse as unknown as NativeFuseCtor;
  return cachedCtor;
}

/** The binding's stat layout (see getStatArray in fuse-native/index.js). */
function getStatArray(stat: FuseStat): Uint32Array {
  const ints = new Uint32Array(18);
  const set64 = (i: number, n: number) => {
    ints[i] = n % 4294967296;
    ints[i + 1] = Math.floor(n / 4294967296);
  };
  ints[0] = stat.mode;
  ints[1] = stat.uid;
  ints[2] = stat.gid;
  set64(3, stat.size);
  ints[5] = 0;
  ints[6] = stat.nlink || 1;
  ints[7] = stat.ino;
  ints[8] = 0;
  ints[9] = stat.blksize;
  set64(10, stat.blocks);
  set64(12, stat.atime.getTime());
  set64(14, stat.mtime.getTime());
  set64(16, stat.ctime.getTime());
  return ints;
}

function toTimeSpec(ms: number): TimeSpec {
  // libfuse2 calls utimens only when both times are set (a setattr of one alone, as from
  // `touch -m -d`, is dropped before it reaches us), so the special value means UTIME_NOW.
  return ms === UTIME_SPECIAL_MS ? 'now' : ms;
}

/** The negative errno a binding answers for a rejection: ErrnoError's own, anything else EIO. */
export function errnoOf(err: unknown): number {
  const e = (err as { errno?: unknown } | null)?.errno;
  return err instanceof ErrnoError && typeof e === 'number' && e > 0 ? -e : -5; // EIO
}

/** Adapts promise-returning FuseOps to the binding's callbacks. */
function callbackOps(ops: FuseOps): Record<string, Cb> {
  const fail = (cb: Cb) => (err: unknown) => cb(errnoOf(err));
  return {
    getattr: (path, cb) => void ops.getattr(path as string).then((st) => (cb as Cb)(0, st), fail(cb as Cb)),
    fgetattr: (path, fh, cb) => void ops.fgetattr(path as string, fh as number).then((st) => (cb as Cb)(0, st), fail(cb as Cb)),
    readdir: (path, cb) => void ops.readdir(path as string).then((names) => (cb as Cb)(0, names.map((n) => n.name)), fail(cb as Cb)),
    create: (path, mode, cb) => void ops.create(path as string, mode as number).then((fh) => (cb as Cb)(0, fh), fail(cb as Cb)),
    open: (path, flags, cb) => void ops.open(path as string, flags as number).then((fh) => (cb as Cb)(0, fh), fail(cb as Cb)),
    read: (path, fh, buf, len, pos, cb) =>
      void ops.read(path as string, fh as number, buf as Buffer, len as number, pos as number).then((n) => (cb as Cb)(n), fail(cb as Cb)),
    write: (path, fh, buf, len, pos, cb) =>
      void ops.write(path as string, fh as number, buf as Buffer, len as number, pos as number).then((n) => (cb as Cb)(n), fail(cb as Cb)),
    truncate: (path, size, cb) => void ops.truncate(path as string, size as number).then(() => (cb as Cb)(0), fail(cb as Cb)),
    ftruncate: (path, fh, size, cb) => void ops.ftruncate(path as string, fh as number, size as number).then(() => (cb as Cb)(0), fail(cb as Cb)),
    flush: (path, fh, cb) => void ops.flush(path as string, fh as number).then(() => (cb as Cb)(0), fail(cb as Cb)),
    fsync: (path, dataSync, fh, cb) => void ops.fsync(path as string, fh as number, !!dataSync).then(() => (cb as Cb)(0), fail(cb as Cb)),
    fsyncdir: (path, _dataSync, _fh, cb) => void ops.fsyncdir(path as string).then(() => (cb as Cb)(0), fail(cb as Cb)),
    release: (path, fh, cb) => void ops.release(path as string, fh as number).then(() => (cb as Cb)(0), fail(cb as Cb)),
    unlink: (path, cb) => void ops.unlink(path as string).then(() => (cb as Cb)(0), fail(cb as Cb)),
    rename: (from, to, cb) => void ops.rename(from as string, to as string).then(() => (cb as Cb)(0), fail(cb as Cb)),
    mkdir: (path, mode, cb) => void ops.mkdir(path as string, mode as number).then(() => (cb as Cb)(0), fail(cb as Cb)),
    rmdir: (path, cb) => void ops.rmdir(path as string).then(() => (cb as Cb)(0), fail(cb as Cb)),
    chmod: (path, mode, cb) => void ops.chmod(path as string, mode as number).then(() => (cb as Cb)(0), fail(cb as Cb)),
    chown: (path, uid, gid, cb) => void ops.chown(path as string, uid as number, gid as number).then(() => (cb as Cb)(0), fail(cb as Cb)),
    utimens: (path, atime, mtime, cb) =>
      void ops.utimens(path as string, toTimeSpec(atime as number), toTimeSpec(mtime as number))
        .then(() => (cb as Cb)(0), fail(cb as Cb)),
    // The binding passes (target, linkpath) in symlink(2)'s order.
    symlink: (target, path, cb) => void ops.symlink(target as string, path as string).then(() => (cb as Cb)(0), fail(cb as Cb)),
    readlink: (path, cb) => void ops.readlink(path as string).then((t) => (cb as Cb)(0, t), fail(cb as Cb)),
    link: (existing, newPath, cb) => void ops.link(existing as string, newPath as string).then(() => (cb as Cb)(0), fail(cb as Cb)),
    statfs: (path, cb) => void ops.statfs(path as string).then((s) => (cb as Cb)(0, s), fail(cb as Cb)),
    access: (path, mode, cb) => void ops.access(path as string, mode as number).then(() => (cb as Cb)(0), fail(cb as Cb)),
    // No xattr ops on purpose: with getxattr implemented the kernel asks for security.capability
    // before every write; unimplemented (ENOSYS) it stops asking after the first time.
  };
}

function mountOptionList(o: MountOptions): string[] {
  const list = [
    ...(o.bigWrites ? ['big_writes', `max_write=${o.maxWriteBytes}`] : []),
    `max_read=${o.maxReadBytes}`,
    // st_ino from our inode numbers (hard links share one; cp -a and find rely on it).
    'use_ino',
    'readdir_ino',
    // O_TRUNC reaches open() instead of a separate truncate first: `echo x > f` replaces the
    // content in one commit, so other mounts never see the empty file in between.
    'atomic_o_trunc',
    `attr_timeout=${o.attrTimeoutS}`,
    `entry_timeout=${o.entryTimeoutS}`,
    `negative_timeout=${o.entryTimeoutS}`,
    `fsname=${o.fsname}`,
    'subtype=quorumfs',
  ];
  if (o.allowOther) list.push('allow_other', 'default_permissions');
  if (o.debug) list.push('debug');
  return list;
}

export class FuseNativeBinding implements FuseBinding {
  async mount(mountpoint: string, ops: FuseOps, options: MountOptions): Promise<MountedFs> {
    const Ctor = nativeClass();
    const fuse = new Ctor(mountpoint, callbackOps(ops), {
      timeout: options.opTimeoutMs,
      extraOptions: mountOptionList(options),
    });
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
    let released = false;
    const release = async () => {
      if (released) return;
      released = true;
      await new Promise<void>((resolve) => fuse.unmount(() => resolve()));
    };
    return {
      unmount: async (opts) => {
        if (released) return;
        await unmountPath(mountpoint, { lazy: opts?.lazy ?? false });
        await release();
      },
      release,
    };
  }
}

// ---- mount table helpers (shared with mount.ts and the CLI) -------------------------------------

export interface MountEntry {
  source: string;
  target: string;
  fstype: string;
}

/** /proc/mounts escapes space, tab, newline and backslash as octal. */
function unescapeMountField(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export async function readMounts(): Promise<MountEntry[]> {
  const text = await readFile('/proc/mounts', 'utf8');
  return text.split('\n').filter(Boolean).map((line) => {
    const [source = '', target = '', fstype = ''] = line.split(' ');
    return { source: unescapeMountField(source), target: unescapeMountField(target), fstype };
  });
}

export async function findMount(mountpoint: string): Promise<MountEntry | undefined> {
  const all = await readMounts();
  // The last entry wins when mounts are stacked.
  return all.filter((m) => m.target === mountpoint).pop();
}

export async function isMounted(mountpoint: string): Promise<boolean> {
  return (await findMount(mountpoint)) !== undefined;
}

/**
 * fusermount -u (strict: EBUSY while files are open or a process has its cwd inside), or with
 * lazy: detach now and let the kernel finish when the last user goes. Falls back to umount(8),
 * which root can use even where fusermount refuses.
 */
export async function unmountPath(mountpoint: string, opts: { lazy: boolean }): Promise<void> {
  const attempts: Array<[string, string[]]> = opts.lazy
    ? [['fusermount', ['-u', '-z', mountpoint]], ['umount', ['-l', mountpoint]]]
    : [['fusermount', ['-u', mountpoint]], ['umount', [mountpoint]]];
  let lastErr = '';
  for (const [cmd, args] of attempts) {
    try {
      await execFileP(cmd, args, { timeout: 30_000 });
      return;
    } catch (err) {
      lastErr = ((err as { stderr?: string }).stderr ?? (err as Error).message).trim().split('\n').pop() ?? '';
      if (!(await isMounted(mountpoint))) return;
    }
  }
  throw new Error(`cannot unmount ${mountpoint}: ${lastErr}`);
}
