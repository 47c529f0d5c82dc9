// One mounted connection: the INIT handshake, then every request decoded, dispatched to its
// handler (ops-names.ts, ops-files.ts) and answered exactly once. Handlers run concurrently; the
// kernel serialises what must be (a directory's entries, one file's writes).
import type { Logger } from '../../common/log.js';
import { ErrnoError, errnoOf, type FuseOps, type FuseStat } from '../adapter.js';
import { errno } from '../errno.js';
import { BufferPool } from '../../common/buffer-pool.js';
import { notifyDevice, type FuseDevice, type RequestHandler } from './device.js';
import { DirHandles } from './dir-handles.js';
import { NodeTable, StaleNodeError, type Node } from './nodes.js';
import * as names from './ops-names.js';
import * as files from './ops-files.js';
import {
  ENTRY_OUT_BYTES, ATTR_OUT_BYTES, FUSE_KERNEL_VERSION, FUSE_MAX_KNOWN_MINOR, FUSE_MIN_MINOR, IN_HEADER_BYTES, InitFlag, InitFlag2, Op,
  OUT_HEADER_BYTES, initOut, readInitIn, readU64, writeAttrOut, writeEntryOut, writeI64, writeOutHeader, type InHeader, type Timeouts,
} from './protocol.js';

const ENOSYS = 38;
/** fuse_notify_code: FUSE_NOTIFY_INVAL_INODE, FUSE_NOTIFY_INVAL_ENTRY. */
const NOTIFY_INVAL_INODE = 2;
const NOTIFY_INVAL_ENTRY = 3;
/**
 * Added to the entry time the kernel was told when we note until when it may use an entry: it
 * starts counting when the looking-up task takes the reply, a little after we wrote it.
 */
const ENTRY_TIME_SLACK_MS = 1_000;
const EPROTO = 71;
/** WRITE requests above this size keep their read buffer instead of being copied out of it. */
const KEEP_BUFFER_ABOVE_BYTES = 64 * 1024;
const PAGE_BYTES = 4096;
/** The kernel's bound on max_pages (fs.fuse.max_pages_limit defaults to 256). */
const MAX_PAGES_LIMIT = 256;
/**
 * Timestamps are kept in milliseconds, but the kernel gets 1 ns: it truncates times to the
 * granularity before it sends them, and utimes(2) callers (libuv among them) pass 0.678 s as
 * 677999999 ns. We round to the nearest millisecond instead (readSetattrIn).
 */
const TIME_GRAN_NS = 1;

export interface SessionConfig {
  timeouts: Timeouts;
  maxWriteBytes: number;
  maxReadBytes: number;
  /** Largest read-ahead we accept; the kernel's offer is the upper bound. */
  maxReadaheadBytes: number;
  /** Extra INIT flags to ask for (measured options: WRITEBACK_CACHE, DO_READDIRPLUS...). */
  extraFlags: number;
  /**
   * Answer some opens for writing with FOPEN_DIRECT_IO (ops-files.ts, bypassesPageCache), if the
   * kernel also lets such files be mapped shared (DIRECT_IO_ALLOW_MMAP); see handleInit.
   */
  directWrites: boolean;
  maxBackground: number;
  opTimeoutMs: number;
  debug: boolean;
}

export interface InitResult {
  kernelMinor: number;
  minor: number;
  flags: number;
  flags2: number;
  maxWrite: number;
  maxReadahead: number;
  /** Some opens for writing may bypass the page cache (FOPEN_DIRECT_IO; see bypassesPageCache). */
  directWrites: boolean;
}

/** One request. `done` turns true when it was answered (or timed out); later answers are dropped. */
export interface Req extends Omit<InHeader, 'len'> {
  body: Buffer;
  /** The read buffer this request lives in, returned to the pool when the handler is finished. */
  pooled: Buffer | null;
  startedMs: number;
  done: boolean;
  /** KernelCoherence.generation() when the request came in. */
  gen: number;
}

type Handler = (s: Session, req: Req) => Promise<void> | void;

const HANDLERS: Array<Handler | undefined> = [];
HANDLERS[Op.LOOKUP] = names.lookup;
HANDLERS[Op.FORGET] = names.forget;
HANDLERS[Op.BATCH_FORGET] = names.batchForget;
HANDLERS[Op.GETATTR] = names.getattr;
HANDLERS[Op.SETATTR] = names.setattr;
HANDLERS[Op.READLINK] = names.readlink;
HANDLERS[Op.SYMLINK] = names.symlink;
HANDLERS[Op.MKNOD] = names.mknod;
HANDLERS[Op.MKDIR] = names.mkdir;
HANDLERS[Op.UNLINK] = names.unlink;
HANDLERS[Op.RMDIR] = names.rmdir;
HANDLERS[Op.RENAME] = names.rename;
HANDLERS[Op.RENAME2] = names.rename2;
HANDLERS[Op.LINK] = names.link;
HANDLERS[Op.STATFS] = names.statfs;
HANDLERS[Op.ACCESS] = names.access;
HANDLERS[Op.OPEN] = files.open;
HANDLERS[Op.READ] = files.read;
HANDLERS[Op.WRITE] = files.write;
HANDLERS[Op.RELEASE] = files.release;
HANDLERS[Op.FSYNC] = files.fsync;
HANDLERS[Op.FLUSH] = files.flush;
HANDLERS[Op.CREATE] = files.create;
HANDLERS[Op.OPENDIR] = files.opendir;
HANDLERS[Op.READDIR] = files.readdir;
HANDLERS[Op.READDIRPLUS] = files.readdirplus;
HANDLERS[Op.RELEASEDIR] = files.releasedir;
HANDLERS[Op.FSYNCDIR] = files.fsyncdir;
HANDLERS[Op.DESTROY] = (s, req) => void s.ok(req);
// INTERRUPT: our operations cannot be cancelled half-way; the kernel gets the answer when it comes.
HANDLERS[Op.INTERRUPT] = () => undefined;

/** Requests that never get an answer. */
const NO_REPLY = new Set<number>([Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT]);

export class Session {
  readonly nodes = new NodeTable();
  readonly dirs = new DirHandles();
  readonly requestBuffers: BufferPool;
  readonly initialized: Promise<InitResult>;
  /** Answers for the kernel's INIT; set once negotiated. */
  init: InitResult | null = null;
  private resolveInit!: (r: InitResult) => void;
  private rejectInit!: (e: Error) => void;
  private readonly inflight = new Map<number, Req>();
  private readonly sweep: NodeJS.Timeout;
  /** Entry invalidations on their way, by st_ino (forgetName). */
  private readonly entryInvals = new Map<number, Promise<unknown>>();

  constructor(
    readonly dev: FuseDevice,
    readonly ops: FuseOps,
    readonly config: SessionConfig,
    readonly logger: Logger,
  ) {
    this.initialized = new Promise((res, rej) => { this.resolveInit = res; this.rejectInit = rej; });
    this.initialized.catch(() => undefined);
    // A request needs its header, the largest write_in and max_write bytes of data.
    this.requestBuffers = new BufferPool(config.maxWriteBytes + PAGE_BYTES, 16);
    // Left referenced on purpose: it keeps the process alive until close(), also after the kernel
    // ended the connection, so that the mount's owner can notice and commit what is open.
    this.sweep = setInterval(() => this.expire(), Math.min(5_000, Math.max(100, config.opTimeoutMs / 4)));
    ops.coherence?.onChanges((changes) => this.forgetChanged(changes));
  }

  /**
   * How long the metadata lease still vouches for an answer to req (seconds; 0: no lease, or
   * changes made elsewhere arrived while req was answered: its answer may be older than they are,
   * and their invalidations went out before it could be cached).
   */
  private leaseLeftFor(req: Req): number {
    const c = this.ops.coherence;
    if (!c || c.generation() !== req.gen) return 0;
    return c.leaseLeftMs() / 1000;
  }

  /**
   * Writes an entry reply's body for node with attributes st. Under a metadata lease names are
   * cached for as long as the lease still runs: a change elsewhere reaches forgetChanged() before it
   * is acknowledged, and an unrenewed lease runs out no later than what the kernel was told. A
   * file's name is cached only as long as its attributes: the kernel refreshes a file's size only
   * when it looks the name up again or needs attributes it does not have, and an O_APPEND write
   * needs none (it writes at the size it last heard). A name's absence is not cached: a create
   * elsewhere names no node here to forget.
   */
  writeEntry(b: Buffer, off: number, req: Req, node: Node, st: FuseStat): void {
    const t = this.config.timeouts;
    const attrS = this.attrValidFor(req, st);
    const entryS = isDirMode(st.mode) ? Math.max(t.dirEntryS, this.leaseLeftFor(req)) : attrS > 0 ? Math.max(t.entryS, attrS) : t.entryS;
    if (entryS > 0) node.entryUntilMs = Math.max(node.entryUntilMs, Date.now() + entryS * 1000 + ENTRY_TIME_SLACK_MS);
    writeEntryOut(b, off, node.id, st, { ...t, entryS, dirEntryS: entryS }, attrS, this.blksize);
  }

  /** INVAL_ENTRY for n's name (null for a node without one). */
  private invalidateEntry(n: Node): Promise<boolean> | null {
    if (!n.parent || n.detached) return null;
    n.entryUntilMs = 0;
    return notifyDevice(this.dev, invalEntryMessage(n.parent.id, n.name));
  }

  /**
   * Makes the kernel look a file's name up again before its next use of it (writeEntry says why),
   * for what the change feed does not bring: this mount's own changes that reach the kernel under
   * another node. Not awaited: the invalidation waits for the directory's lock, which the request
   * being answered may hold; OPEN and SETATTR of the inode wait for it instead (entriesSettled).
   */
  forgetName(n: Node): void {
    // A file's entry: nothing hangs below it, so one the kernel no longer holds needs no message.
    if (n.entryUntilMs <= Date.now()) return;
    const done = this.invalidateEntry(n);
    if (!done) return;
    const before = this.entryInvals.get(n.ino);
    const all: Promise<unknown> = before ? Promise.all([before, done]) : done;
    this.entryInvals.set(n.ino, all);
    void all.then(() => {
      if (this.entryInvals.get(n.ino) === all) this.entryInvals.delete(n.ino);
    });
  }

  /** Resolves once the entry invalidations of an inode's names (forgetName) reached the kernel. */
  async entriesSettled(ino: number): Promise<void> {
    await this.entryInvals.get(ino);
  }

  /**
   * A new name for an inode (this mount's LINK): the names the kernel knew it by cached its
   * attributes as a file with one name, and a change through the new name would not reach them.
   */
  async forgetOtherNames(ino: number): Promise<void> {
    const others = [...this.nodes.withIno(ino)];
    for (const n of others) this.forgetName(n);
    // Attributes only: no lock is taken, so the reply can wait for it.
    await Promise.all(others.map((n) => notifyDevice(this.dev, invalInodeAttrsMessage(n.id))));
  }

  /**
   * Makes the kernel forget the names and attributes that changes made elsewhere replaced, removed
   * or changed, before those changes are acknowledged.
   */
  private async forgetChanged(changes: Array<{ paths: string[]; subtrees: string[]; inos: number[] }>): Promise<void> {
    const seen = new Set<string>();
    const namesGone = new Set<Node>();
    const attrsOf = new Set<Node>();
    const pending: Array<Promise<boolean>> = [];
    // Also entries whose time ran out: a directory's invalidation takes the entries below it along.
    const forgetName = (n: Node) => {
      if (namesGone.has(n)) return;
      namesGone.add(n);
      const done = this.invalidateEntry(n);
      if (done) pending.push(done);
    };
    for (const c of changes) {
      for (const p of [...c.paths, ...c.subtrees]) {
        if (seen.has(p)) continue;
        seen.add(p);
        const node = this.nodes.at(p);
        if (!node) continue;
        // The root has no entry to forget; its children's entries take everything below along.
        const targets = node.parent ? [node] : [...(node.children?.values() ?? [])];
        for (const n of targets) forgetName(n);
        attrsOf.add(node);
      }
      // A commit names the inode: every name of it the kernel knows.
      for (const ino of c.inos) for (const n of this.nodes.withIno(ino >>> 0)) attrsOf.add(n);
    }
    for (const n of attrsOf) {
      if (this.nodes.isDir(n)) continue;
      // Forgetting the attributes does not change the size the kernel holds (see writeEntry): the
      // name goes too, so that the next open looks it up. An open file keeps its inode after its
      // name is forgotten, and fstat must not see old attributes: those go as well.
      forgetName(n);
      pending.push(notifyDevice(this.dev, invalInodeAttrsMessage(n.id)));
    }
    await Promise.all(pending);
  }

  get pending(): number {
    return this.inflight.size;
  }

  close(): void {
    clearInterval(this.sweep);
  }

  // ---- requests in -------------------------------------------------------------------------

  readonly onRequest: RequestHandler = (buf, n) => {
    try {
      return this.accept(buf, n);
    } catch (err) {
      // A request we cannot even decode must not stop the others (nor take the process down).
      this.logger.error({ err: err instanceof Error ? err.stack : String(err), bytes: n }, 'cannot take a FUSE request');
      return false;
    }
  };

  private accept(buf: Buffer, n: number): boolean {
    if (n < IN_HEADER_BYTES) {
      this.logger.error({ bytes: n }, 'short FUSE request ignored');
      return false;
    }
    const opcode = buf.readUInt32LE(4);
    const keep = opcode === Op.WRITE && n > KEEP_BUFFER_ABOVE_BYTES;
    let b = buf;
    if (!keep) {
      b = Buffer.allocUnsafe(n);
      buf.copy(b, 0, 0, n);
    }
    const req: Req = {
      opcode,
      unique: readU64(b, 8),
      nodeid: readU64(b, 16),
      uid: b.readUInt32LE(24),
      gid: b.readUInt32LE(28),
      pid: b.readUInt32LE(32),
      body: b.subarray(IN_HEADER_BYTES, Math.min(n, b.readUInt32LE(0))),
      pooled: keep ? buf : null,
      startedMs: 0,
      done: false,
      gen: this.ops.coherence?.generation() ?? 0,
    };
    if (opcode === Op.INIT) this.handleInit(req);
    else this.dispatch(req);
    return keep;
  }

  private dispatch(req: Req): void {
    const handler = HANDLERS[req.opcode];
    if (this.config.debug) this.logger.debug({ op: req.opcode, unique: req.unique, nodeid: req.nodeid }, 'fuse request');
    if (!handler) {
      if (!NO_REPLY.has(req.opcode)) this.error(req, -ENOSYS);
      return;
    }
    const noReply = NO_REPLY.has(req.opcode);
    if (!noReply) {
      req.startedMs = Date.now();
      this.inflight.set(req.unique, req);
    }
    let p: Promise<void> | void;
    try {
      p = handler(this, req);
    } catch (err) {
      this.failed(req, err);
      this.finished(req);
      return;
    }
    if (p) p.then(() => this.finished(req), (err: unknown) => { this.failed(req, err); this.finished(req); });
    else this.finished(req);
  }

  private finished(req: Req): void {
    if (req.pooled) {
      this.requestBuffers.give(req.pooled);
      req.pooled = null;
    }
    if (!req.done && !NO_REPLY.has(req.opcode)) {
      this.logger.error({ op: req.opcode }, 'FUSE handler finished without an answer; answering EIO');
      this.error(req, -5);
    }
  }

  private failed(req: Req, err: unknown): void {
    if (req.done) return;
    if (err instanceof StaleNodeError) return this.error(req, -errno('ENOENT').errno);
    if (!(err instanceof ErrnoError)) this.logger.error({ op: req.opcode, err: err instanceof Error ? err.stack : String(err) }, 'FUSE request failed unexpectedly; answering EIO');
    this.error(req, errnoOf(err));
  }

  /** Answers EIO to requests past the operation bound (only a bug or a hung dependency gets there). */
  private expire(): void {
    const now = Date.now();
    for (const req of this.inflight.values()) {
      if (now - req.startedMs < this.config.opTimeoutMs) continue;
      this.logger.error({ op: req.opcode, unique: req.unique, ms: now - req.startedMs }, 'FUSE request exceeded the operation bound; answering EIO');
      this.error(req, -5);
    }
  }

  // ---- INIT ----------------------------------------------------------------------------------

  private handleInit(req: Req): void {
    if (this.init) return this.error(req, -EPROTO);
    const k = readInitIn(req.body);
    if (k.major > FUSE_KERNEL_VERSION) {
      // The kernel retries with our major: answer with it and nothing else.
      const b = this.msg(8);
      b.writeUInt32LE(FUSE_KERNEL_VERSION, OUT_HEADER_BYTES);
      b.writeUInt32LE(FUSE_MAX_KNOWN_MINOR, OUT_HEADER_BYTES + 4);
      this.ok(req, b);
      return;
    }
    if (k.major < FUSE_KERNEL_VERSION || k.minor < FUSE_MIN_MINOR) {
      this.error(req, -EPROTO);
      this.rejectInit(new Error(`kernel FUSE protocol ${k.major}.${k.minor} is older than the ${FUSE_KERNEL_VERSION}.${FUSE_MIN_MINOR} this binding needs`));
      return;
    }
    const c = this.config;
    // ASYNC_READ: read-ahead in parallel requests. ATOMIC_O_TRUNC: O_TRUNC reaches OPEN (one commit
    // for `echo x > f`). BIG_WRITES + MAX_PAGES: 1 MiB requests. PARALLEL_DIROPS: lookups in one
    // directory run concurrently. CACHE_SYMLINKS: a target never changes, inode numbers are never
    // reused (meta schema), and a name that shows another inode gets a new node, so a cached
    // target cannot go stale. Not EXPORT_SUPPORT (no lookups of "." and ".." by nodeid), not
    // WRITEBACK_CACHE (the kernel would then trust its own file sizes over the other mounts').
    const want = InitFlag.ASYNC_READ | InitFlag.ATOMIC_O_TRUNC | InitFlag.BIG_WRITES | InitFlag.MAX_PAGES |
      InitFlag.PARALLEL_DIROPS | InitFlag.CACHE_SYMLINKS | c.extraFlags;
    // Direct writes: some opens for writing are answered FOPEN_DIRECT_IO (ops-files.ts), so the
    // kernel hands the writer's own pages to WRITE instead of copying them into the page cache
    // first and sending the copy. How much that copy costs depends on the memory it lands in: in a
    // profile of a 1 GiB sequential write taken right after large deletions it was 21% of all CPU
    // samples on the machine (fio's pwrite in copy_folio_from_iter_atomic: on these VMs freed
    // memory goes back to the host, and the first touch of it again is slow; block-store.ts writes
    // with O_DIRECT for the same reason), in a settled machine about 1%. The cache gave a writer
    // nothing to keep: every open drops it (close-to-open). The kernel drops the written range from
    // the cache itself, so readers holding the file open still see the new bytes. Only with
    // DIRECT_IO_ALLOW_MMAP (Linux 6.6): without it a shared mapping of such a file fails with
    // ENODEV, which breaks SQLite's WAL index among others; older kernels keep write-through.
    const direct = c.directWrites && (k.flags & InitFlag.INIT_EXT) !== 0 && (k.flags2 & InitFlag2.DIRECT_IO_ALLOW_MMAP) !== 0;
    const flags = (want | (direct ? InitFlag.INIT_EXT : 0)) & k.flags;
    const flags2 = direct ? InitFlag2.DIRECT_IO_ALLOW_MMAP : 0;
    const bigWrites = (flags & InitFlag.BIG_WRITES) !== 0;
    const maxPages = flags & InitFlag.MAX_PAGES
      ? Math.min(MAX_PAGES_LIMIT, Math.ceil(Math.max(c.maxWriteBytes, c.maxReadBytes) / PAGE_BYTES))
      : 32;
    const maxWrite = bigWrites ? Math.min(c.maxWriteBytes, maxPages * PAGE_BYTES) : PAGE_BYTES;
    const result: InitResult = {
      kernelMinor: k.minor,
      minor: Math.min(k.minor, FUSE_MAX_KNOWN_MINOR),
      flags,
      flags2,
      maxWrite,
      maxReadahead: Math.min(k.maxReadahead, c.maxReadaheadBytes),
      directWrites: direct,
    };
    const out = initOut({
      minor: result.minor,
      maxReadahead: result.maxReadahead,
      flags,
      flags2,
      maxBackground: c.maxBackground,
      congestionThreshold: Math.max(1, Math.floor((c.maxBackground * 3) / 4)),
      maxWrite,
      timeGranNs: TIME_GRAN_NS,
      maxPages,
    });
    const b = this.msg(out.length);
    out.copy(b, OUT_HEADER_BYTES);
    this.init = result;
    if (!this.ok(req, b)) {
      this.rejectInit(new Error('the kernel did not take our INIT answer'));
      return;
    }
    this.resolveInit(result);
  }

  // ---- answers -------------------------------------------------------------------------------

  /** A reply buffer with room for the header and `bytes` of payload (zeroed). */
  msg(bytes: number): Buffer {
    return Buffer.alloc(OUT_HEADER_BYTES + bytes);
  }

  /**
   * Sends b (header filled in here) as the successful answer to req; an empty answer without b.
   * Returns false if the kernel did not take it (interrupted, or already answered by expire()).
   */
  ok(req: Req, b: Buffer = Buffer.alloc(OUT_HEADER_BYTES), len = b.length): boolean {
    if (!this.claim(req)) return false;
    writeOutHeader(b, len, 0, req.unique);
    return this.send(0, () => this.dev.write(b, len));
  }

  /** ok() with the payload in pieces after the header (see FuseDevice.writev). */
  okParts(req: Req, parts: Buffer[]): boolean {
    if (!this.claim(req)) return false;
    // The length the kernel checks against what writev delivers: counted here, not taken on trust.
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    const h = Buffer.allocUnsafe(OUT_HEADER_BYTES);
    writeOutHeader(h, OUT_HEADER_BYTES + bytes, 0, req.unique);
    return this.send(0, () => this.dev.writev([h, ...parts]));
  }

  /** Answers req with a negative errno. */
  error(req: Req, negErrno: number): void {
    if (!this.claim(req)) return;
    const b = Buffer.alloc(OUT_HEADER_BYTES);
    const code = negErrno < 0 ? negErrno : -5;
    writeOutHeader(b, OUT_HEADER_BYTES, code, req.unique);
    this.send(code, () => this.dev.write(b, OUT_HEADER_BYTES));
  }

  /** Takes req as answered from here on; false if it already was (or was given up by expire()). */
  private claim(req: Req): boolean {
    if (req.done) return false;
    req.done = true;
    this.inflight.delete(req.unique);
    return true;
  }

  /** Delivers one reply (errno: its error field, for the log); false if the kernel did not take it. */
  private send(errno: number, deliver: () => boolean): boolean {
    try {
      return deliver();
    } catch (err) {
      this.logger.error({ err: String(err), op: errno }, 'the kernel refused a FUSE reply');
      return false;
    }
  }

  /**
   * st_blksize reported at least as large as one request: FuseOps sizes it for libfuse2's 128 KiB,
   * and cp, cat and friends write and read in pieces of st_blksize.
   */
  get blksize(): number {
    return this.init?.maxWrite ?? 0;
  }

  /**
   * The attribute cache time of one answer. Files are cached under the metadata lease like names
   * (forgetChanged() invalidates them), except:
   *  - hard-linked files: each name is its own node (and kernel inode), so a write through one
   *    name would leave the others' cached size stale;
   *  - answers only this mount has (FuseStat.volatile): an open writer's size, a read handle's
   *    version; no change elsewhere would ever correct them;
   *  - directories: every create or unlink inside changes their times and link count, and a
   *    change names the child, not the directory.
   */
  attrValidFor(req: Req, st: FuseStat): number {
    const attrS = this.config.timeouts.attrS;
    if (st.volatile) return 0;
    if (isDirMode(st.mode)) return attrS;
    if (st.nlink > 1) return 0;
    return Math.max(attrS, this.leaseLeftFor(req));
  }

  /** Entry answer for parent/name with attributes st; the lookup count rises only if the kernel got it. */
  replyEntry(req: Req, parent: Node, name: string, st: FuseStat, extra?: (b: Buffer, off: number) => void, extraBytes = 0): Node | null {
    if (req.done) return null;
    const node = this.nodes.remember(parent, name, st.ino, st.mode);
    const b = this.msg(ENTRY_OUT_BYTES + extraBytes);
    this.writeEntry(b, OUT_HEADER_BYTES, req, node, st);
    extra?.(b, OUT_HEADER_BYTES + ENTRY_OUT_BYTES);
    if (!this.ok(req, b)) {
      this.nodes.unref(node);
      return null;
    }
    return node;
  }

  replyNegativeEntry(req: Req): void {
    const b = this.msg(ENTRY_OUT_BYTES);
    writeEntryOut(b, OUT_HEADER_BYTES, 0, null, this.config.timeouts);
    this.ok(req, b);
  }

  replyAttr(req: Req, st: FuseStat): void {
    const b = this.msg(ATTR_OUT_BYTES);
    writeAttrOut(b, OUT_HEADER_BYTES, st, this.attrValidFor(req, st), this.blksize);
    this.ok(req, b);
  }

  // ---- nodes and paths -----------------------------------------------------------------------

  node(req: Req): Node {
    return this.nodeById(req.nodeid);
  }

  nodeById(id: number): Node {
    const n = this.nodes.get(id);
    if (!n) throw new StaleNodeError(id);
    return n;
  }

  /** The node's path; StaleNodeError (ENOENT) if its name is gone. */
  path(n: Node): string | Promise<string> {
    return this.nodes.pathOf(n);
  }

  /**
   * For operations on an open handle, where the path is only for logs and for re-reading
   * attributes: a node without a name gets a path that exists nowhere (lookups of it fail with
   * ENOENT, and QuorumOps then answers from the handle).
   */
  async loosePath(n: Node): Promise<string> {
    try {
      return await this.nodes.pathOf(n);
    } catch (err) {
      if (err instanceof StaleNodeError) return `/.quorumfs-detached-${n.id}`;
      throw err;
    }
  }
}

function isDirMode(mode: number): boolean {
  return (mode & 0o170000) === 0o040000;
}

/** FUSE_NOTIFY_INVAL_INODE with offset -1: the inode's attributes only, its page cache stays. */
function invalInodeAttrsMessage(nodeid: number): Buffer {
  const len = OUT_HEADER_BYTES + 24;
  const b = Buffer.alloc(len);
  writeOutHeader(b, len, NOTIFY_INVAL_INODE, 0);
  // fuse_notify_inval_inode_out: ino (the nodeid), off, len.
  writeI64(b, nodeid, OUT_HEADER_BYTES);
  writeI64(b, -1, OUT_HEADER_BYTES + 8);
  writeI64(b, 0, OUT_HEADER_BYTES + 16);
  return b;
}

function invalEntryMessage(parent: number, name: string): Buffer {
  const nameBytes = Buffer.from(name);
  const len = OUT_HEADER_BYTES + 16 + nameBytes.length + 1;
  const b = Buffer.alloc(len);
  writeOutHeader(b, len, NOTIFY_INVAL_ENTRY, 0);
  // Then fuse_notify_inval_entry_out: parent, namelen, flags.
  writeI64(b, parent, OUT_HEADER_BYTES);
  b.writeUInt32LE(nameBytes.length, OUT_HEADER_BYTES + 8);
  nameBytes.copy(b, OUT_HEADER_BYTES + 16);
  return b;
}
