// The file system operations: FUSE calls mapped onto the client library (FsClient, MetaApi,
// OpenFile). Semantics: close-to-open consistency between mounts (a file closed on one mount is seen
// whole by an open on another), POSIX behaviour between the descriptors of one mount.
import { constants as fsConstants } from 'node:fs';
import { CachingMeta } from '../client/meta-cache.js';
import type { FsClient, OpenFile } from '../client/types.js';
import type { Logger } from '../common/log.js';
import type { Attr, FileLayout, Ino } from '../meta/api.js';
import { O_ACCMODE, type DirName, type FuseOps, type FuseStat, type FuseStatfs, type KernelCoherence, type ReadParts, type TimeSpec } from './adapter.js';
import type { CapacityProbe } from './capacity.js';
import { errno, toErrnoError } from './errno.js';
import { HandleTable, type Handle, type ReaderState, type SharedWriter } from './handles.js';

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;
const O_TRUNC = fsConstants.O_TRUNC;
/** chown(2) passes -1 (as uint32) for "leave unchanged". */
const UNCHANGED_ID = 0xffffffff;
/** st_blksize: tools size their buffers by it; 128 KiB matches the largest FUSE write. */
const PREFERRED_IO_BYTES = 128 * 1024;
const STATFS_BLOCK_BYTES = 4096;
/** Reported when the data servers cannot tell (1 PiB): never blocks a write that would fit. */
const UNKNOWN_CAPACITY_BYTES = 2 ** 50;
const MAX_NAME_BYTES = 255;
/** statfs fields are 32-bit in the binding. */
const U32_MAX = 0xffffffff;

function typeBitsOf(attr: Attr): number {
  return attr.type === 'dir' ? S_IFDIR : attr.type === 'symlink' ? S_IFLNK : S_IFREG;
}

/**
 * libfuse2 (high level) does not unlink a file that is still open: it renames it to
 * `.fuse_hidden<node><counter>` and unlinks that name after the last release. The kernel sends
 * RELEASE after close(2) has returned and libfuse counts the file closed only once our release
 * answered, so even `cat f; rm f; rmdir .` can meet the hidden file (ENOTEMPTY), other mounts
 * would list it, and it would stay forever if this process died. Our handles work by inode, so we
 * unlink for real and remember the hidden name for the calls libfuse still makes with it.
 */
const HIDDEN_NAME_RE = /\/\.fuse_hidden[0-9a-f]{16}$/;

export interface QuorumOpsOptions {
  /** Owner of new files and directories (the binding does not pass the caller's uid/gid). */
  owner?: { uid: number; gid: number };
  capacity?: CapacityProbe;
}

function changed(w: SharedWriter): void {
  w.lastWriteMs = Date.now();
  w.changedSinceCommit = true;
}

export class QuorumOps implements FuseOps {
  readonly table = new HandleTable();
  private readonly owner: { uid: number; gid: number };
  /** Hidden names (see HIDDEN_NAME_RE) of files unlinked while open, with their last attributes. */
  private readonly hidden = new Map<string, Attr>();
  /** Inodes whose last name went while open: their writes are discarded, not committed. */
  private readonly unlinked = new Set<Ino>();

  constructor(
    private readonly client: FsClient,
    private readonly logger: Logger,
    private readonly opts: QuorumOpsOptions = {},
  ) {
    this.owner = opts.owner ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  }

  private get meta() {
    return this.client.meta;
  }

  get coherence(): KernelCoherence | undefined {
    const m = this.client.meta;
    return m instanceof CachingMeta ? m : undefined;
  }

  /** Runs one operation and turns its failure into an errno (unknown ones: EIO, logged). */
  private async run<T>(op: string, path: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toErrnoError(err, op, path, this.logger);
    }
  }

  private toStat(attr: Attr, writer: SharedWriter | null): FuseStat {
    const typeBits = typeBitsOf(attr);
    const size = writer ? writer.file.size() : attr.size;
    const mtimeMs = writer ? Math.max(attr.mtimeMs, writer.lastWriteMs) : attr.mtimeMs;
    return {
      mode: typeBits | (attr.mode & 0o7777),
      uid: attr.uid,
      gid: attr.gid,
      size,
      blocks: Math.ceil(size / 512),
      nlink: attr.nlink,
      ino: attr.ino >>> 0,
      blksize: PREFERRED_IO_BYTES,
      atime: new Date(attr.atimeMs),
      mtime: new Date(mtimeMs),
      ctime: new Date(Math.max(attr.ctimeMs, writer ? writer.lastWriteMs : 0)),
      volatile: writer !== null,
    };
  }

  /**
   * Notes attributes fresh from the metadata server. If they changed since this mount last saw
   * them, another mount committed (see ReaderState for what readers do about it).
   */
  private observe(attr: Attr): void {
    const st = this.table.peekInode(attr.ino);
    if (!st) return;
    const sig = `${attr.size}:${attr.mtimeMs}:${attr.ctimeMs}`;
    if (st.seen !== null && st.seen !== sig && !st.writer) st.remoteGen++;
    st.seen = sig;
  }

  private handle(fh: number): Handle {
    const h = this.table.get(fh);
    if (!h) throw errno('EBADF');
    return h;
  }

  // ---- attributes and namespace --------------------------------------------------------------

  getattr(path: string): Promise<FuseStat> {
    return this.run('getattr', path, async () => {
      const hid = this.hidden.get(path);
      // Unlinked while open: no change elsewhere will ever name it again.
      if (hid) return { ...this.toStat(hid, this.table.shownWriterOf(hid.ino)), volatile: true };
      return this.statOfLookup(await this.meta.lookup({ path }));
    });
  }

  getattrNow(path: string): FuseStat | undefined {
    const m = this.client.meta;
    if (!(m instanceof CachingMeta) || this.hidden.has(path)) return undefined;
    const attr = m.cachedAttr(path);
    return attr ? this.statOfLookup(attr) : undefined;
  }

  /** getattr's answer for attributes a lookup just gave (noted as seen, sized by an open writer). */
  private statOfLookup(attr: Attr): FuseStat {
    this.observe(attr);
    return this.toStat(attr, this.table.shownWriterOf(attr.ino));
  }

  fgetattr(path: string, fh: number): Promise<FuseStat> {
    return this.run('fgetattr', path, async () => {
      const h = this.table.get(fh);
      if (!h || this.hidden.has(path)) return this.getattr(path);
      // The path may have been renamed or removed by another mount; the handle still knows its inode.
      let attr = h.attr;
      let fresh = false;
      try {
        const now = await this.meta.lookup({ path });
        if (now.ino === h.ino) {
          attr = now;
          fresh = true;
          this.observe(attr);
        }
      } catch (err) {
        if ((err as { code?: string }).code !== 'ENOENT') throw err;
      }
      const st = this.toStat(attr, this.table.shownWriterOf(h.ino));
      // What the handle remembers of a file renamed away or removed elsewhere: no feed news follows it.
      if (!fresh) st.volatile = true;
      // A read handle that started reading keeps its version (ReaderState): the size the kernel
      // learns through this handle (it passes the handle when it refreshes attributes around reads)
      // must be that version's, or it would cut reads at another version's size. fstat(2) itself
      // reaches us without the handle on current kernels and sees the path's latest version.
      if (!h.writer && !this.table.writerOf(h.ino) && h.reader?.used) {
        st.size = h.reader.file.size();
        st.blocks = Math.ceil(st.size / 512);
        st.volatile = true;
      }
      return st;
    });
  }

  readdir(path: string): Promise<DirName[]> {
    return this.run('readdir', path, async () => {
      const entries = await this.meta.readdir({ path });
      return [{ name: '.' }, { name: '..' }, ...entries.map((e) => ({ name: e.name, ino: e.attr.ino >>> 0, mode: typeBitsOf(e.attr) }))];
    });
  }

  mkdir(path: string, mode: number): Promise<void> {
    return this.run('mkdir', path, async () => {
      await this.meta.mkdir({ path, mode: mode & 0o7777, owner: this.owner });
    });
  }

  rmdir(path: string): Promise<void> {
    return this.run('rmdir', path, () => this.meta.rmdir({ path }));
  }

  unlink(path: string): Promise<void> {
    return this.run('unlink', path, async () => {
      const hid = this.hidden.get(path);
      if (hid) {
        // libfuse removing the hidden name after the last release: already unlinked.
        this.hidden.delete(path);
        this.unlinked.delete(hid.ino);
        return;
      }
      await this.meta.unlink({ path });
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.run('rename', from, async () => {
      if (!HIDDEN_NAME_RE.test(to)) return this.meta.rename({ from, to });
      const attr = await this.meta.lookup({ path: from });
      await this.meta.unlink({ path: from });
      const left = { ...attr, nlink: Math.max(0, attr.nlink - 1) };
      this.hidden.set(to, left);
      if (left.nlink === 0) this.unlinked.add(attr.ino);
    });
  }

  symlink(target: string, path: string): Promise<void> {
    return this.run('symlink', path, async () => {
      await this.meta.symlink({ path, target, owner: this.owner });
    });
  }

  readlink(path: string): Promise<string> {
    return this.run('readlink', path, () => this.meta.readlink({ path }));
  }

  link(existing: string, newPath: string): Promise<void> {
    return this.run('link', newPath, async () => {
      await this.meta.link({ path: existing, newPath });
    });
  }

  chmod(path: string, mode: number): Promise<void> {
    return this.run('chmod', path, async () => {
      if (this.hidden.has(path)) return;
      await this.meta.setattr({ path, mode: mode & 0o7777 });
    });
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    return this.run('chown', path, async () => {
      const args: { path: string; uid?: number; gid?: number } = { path };
      if (uid !== UNCHANGED_ID && uid !== -1) args.uid = uid;
      if (gid !== UNCHANGED_ID && gid !== -1) args.gid = gid;
      if ((args.uid === undefined && args.gid === undefined) || this.hidden.has(path)) return;
      await this.meta.setattr(args);
    });
  }

  utimens(path: string, atime: TimeSpec, mtime: TimeSpec): Promise<void> {
    return this.run('utimens', path, async () => {
      if ((atime === undefined && mtime === undefined) || this.hidden.has(path)) return;
      const now = Date.now();
      const attr = await this.meta.lookup({ path });
      // Commit pending writes first, or their commit (at close) would stamp its own mtime over the
      // one set here: `cp -a` sets times on the descriptor before it closes it.
      const writer = this.table.writerOf(attr.ino);
      if (writer) await this.commit(writer);
      const args: { path: string; atimeMs?: number; mtimeMs?: number } = { path };
      if (atime !== undefined) args.atimeMs = atime === 'now' ? now : atime;
      if (mtime !== undefined) args.mtimeMs = mtime === 'now' ? now : mtime;
      await this.meta.setattr(args);
    });
  }

  truncate(path: string, size: number): Promise<void> {
    return this.run('truncate', path, async () => {
      const hid = this.hidden.get(path);
      const attr = hid ?? (await this.meta.lookup({ path }));
      const writer = this.table.writerOf(attr.ino);
      if (writer) {
        // Visible to this mount at once; committed with the writer's other changes at close.
        await writer.file.truncate(size);
        changed(writer);
        return;
      }
      if (hid) return;
      await this.client.truncatePath(path, size);
      const st = this.table.peekInode(attr.ino);
      if (st) st.gen++;
    });
  }

  ftruncate(path: string, fh: number, size: number): Promise<void> {
    return this.run('ftruncate', path, async () => {
      const h = this.table.get(fh);
      if (!h?.writer) return this.truncate(path, size);
      await h.writer.file.truncate(size);
      changed(h.writer);
    });
  }

  async statfs(path: string): Promise<FuseStatfs> {
    return this.run('statfs', path, async () => {
      const [st, cap] = await Promise.all([this.meta.statfs({}), this.opts.capacity ? this.opts.capacity() : Promise.resolve(null)]);
      const totalBytes = cap?.totalBytes ?? UNKNOWN_CAPACITY_BYTES;
      const freeBytes = Math.min(cap?.freeBytes ?? UNKNOWN_CAPACITY_BYTES, totalBytes);
      // Block counts are 32-bit in the binding: grow the fragment size until they fit.
      let frsize = STATFS_BLOCK_BYTES;
      while (totalBytes / frsize > U32_MAX) frsize *= 2;
      const files = Math.min(st.files, U32_MAX);
      const ffree = Math.min(U32_MAX - files, 1_000_000_000);
      return {
        bsize: STATFS_BLOCK_BYTES,
        frsize,
        blocks: Math.floor(totalBytes / frsize),
        bfree: Math.floor(freeBytes / frsize),
        bavail: Math.floor(freeBytes / frsize),
        files: files + ffree,
        ffree,
        favail: ffree,
        fsid: 0,
        flag: 0,
        namemax: MAX_NAME_BYTES,
      };
    });
  }

  async access(): Promise<void> {
    // Permission checks are the kernel's (default_permissions with allow_other); without
    // allow_other only the mounting user gets in at all.
  }

  // ---- open files ----------------------------------------------------------------------------

  /** One writer per inode per mount, shared by all its write handles. */
  private async acquireWriter(ino: Ino, truncate: boolean, opened: { knownEmpty?: boolean; layout?: FileLayout | null } = {}): Promise<SharedWriter> {
    for (;;) {
      // Looked up again after every wait: a failed open may have dropped the inode's state.
      const st = this.table.inode(ino);
      if (st.closing) {
        // Its commit is the version to build on: wait for it, and fetch the layout it made.
        await st.closing.done;
        opened = {};
        continue;
      }
      if (st.writer) {
        st.writer.refs++;
        if (truncate) {
          await st.writer.file.truncate(0);
          st.writer.lastWriteMs = Date.now();
        }
        return st.writer;
      }
      if (st.writerOpening) {
        await st.writerOpening.catch(() => undefined);
        continue;
      }
      const opening = (async () => {
        const file = opened.layout
          ? await this.client.openLayout(opened.layout, { write: true, truncate })
          : await this.client.openIno(ino, { write: true, truncate, knownEmpty: opened.knownEmpty });
        const w: SharedWriter = { ino, file, refs: 1, lastWriteMs: truncate ? Date.now() : 0, changedSinceCommit: false };
        st.writer = w;
        return w;
      })();
      st.writerOpening = opening;
      try {
        return await opening;
      } finally {
        st.writerOpening = null;
        this.table.dropIfIdle(ino);
      }
    }
  }

  private async releaseWriter(w: SharedWriter, path: string): Promise<void> {
    if (--w.refs > 0) return;
    const st = this.table.inode(w.ino);
    if (st.writer === w) st.writer = null;
    const done = w.file.close();
    const closing = { writer: w, done: done.then(() => undefined, () => undefined) };
    st.closing = closing;
    try {
      await done;
    } catch (err) {
      // The data of a file unlinked while open goes with it.
      if (!this.unlinked.has(w.ino)) throw err;
    } finally {
      if (st.closing === closing) st.closing = null;
      st.gen++;
      this.table.dropIfIdle(w.ino);
      this.logger.debug({ path, ino: w.ino }, 'writer closed');
    }
  }

  private async commit(w: SharedWriter): Promise<void> {
    // Cleared first: a write that lands while the commit runs marks it again.
    w.changedSinceCommit = false;
    if (this.unlinked.has(w.ino)) return;
    try {
      await w.file.flush();
    } catch (err) {
      w.changedSinceCommit = true;
      throw err;
    }
    this.table.inode(w.ino).gen++;
  }

  create(path: string, mode: number): Promise<number> {
    return this.run('create', path, async () => {
      // The kernel calls create only after a lookup found nothing; O_EXCL was checked there. A file
      // created meanwhile by another mount is opened as is (O_CREAT without O_EXCL).
      const attr = await this.meta.create({ path, mode: mode & 0o7777, owner: this.owner, exclusive: false });
      const writer = await this.acquireWriter(attr.ino, false, { knownEmpty: attr.size === 0 });
      return this.table.allocate({ ino: attr.ino, path, attr, writer, reader: null, reopening: null }).fh;
    });
  }

  isEmptyFile(fh: number): boolean {
    const h = this.table.get(fh);
    if (!h) return false;
    return (h.writer ? h.writer.file.size() : h.attr.size) === 0;
  }

  open(path: string, flags: number): Promise<number> {
    return this.run('open', path, async () => {
      // Attributes and block list in one round trip: the version this open reads (close-to-open).
      let { attr, layout } = await this.meta.openPath({ path });
      const closing = this.table.peekInode(attr.ino)?.closing;
      if (closing) {
        // This mount's last close of the file is still committing (RELEASE comes after close(2)
        // returned): open the version it commits, as a local disk would.
        await closing.done;
        ({ attr, layout } = await this.meta.openPath({ path }));
      }
      if (attr.type === 'dir') throw errno('EISDIR');
      const truncate = (flags & O_TRUNC) !== 0;
      const acc = flags & O_ACCMODE;
      if (acc === 0) {
        // O_RDONLY|O_TRUNC truncates on Linux (and makes the layout just fetched stale).
        if (truncate) await this.truncate(path, 0);
        this.table.inode(attr.ino);
        this.observe(attr);
        let reader: ReaderState;
        try {
          reader = await this.openReader(attr.ino, truncate ? null : layout, path);
        } catch (err) {
          this.table.dropIfIdle(attr.ino);
          throw err;
        }
        return this.table.allocate({ ino: attr.ino, path, attr, writer: null, reader, reopening: null }).fh;
      }
      const writer = await this.acquireWriter(attr.ino, truncate, { layout });
      try {
        return this.table.allocate({ ino: attr.ino, path, attr, writer, reader: null, reopening: null }).fh;
      } catch (err) {
        await this.releaseWriter(writer, path);
        throw err;
      }
    });
  }

  /** path: the name the file was opened by (lets the client read ahead across its directory). */
  private async openReader(ino: Ino, layout: FileLayout | null = null, path?: string): Promise<ReaderState> {
    const st = this.table.inode(ino);
    const [gen, remoteGen] = [st.gen, st.remoteGen];
    const file = layout ? await this.client.openLayout(layout, { write: false, path }) : await this.client.openIno(ino, { write: false });
    return { file, gen, remoteGen, used: false };
  }

  /** A read handle's OpenFile, reopened when a newer version must be seen (see ReaderState). */
  private async readerOf(h: Handle): Promise<OpenFile> {
    const st = this.table.inode(h.ino);
    const r = h.reader;
    if (r && r.gen === st.gen && (r.used || r.remoteGen === st.remoteGen)) {
      r.used = true;
      return r.file;
    }
    h.reopening ??= this.openReader(h.ino).then((fresh) => {
      const old = h.reader;
      h.reader = fresh;
      old?.file.close().catch((err: unknown) => this.logger.debug({ err: String(err) }, 'closing a stale reader'));
      return fresh;
    }).finally(() => { h.reopening = null; });
    const fresh = await h.reopening;
    fresh.used = true;
    return fresh.file;
  }

  /** The file a read of fh goes to: while this mount has it open for writing, the writer's bytes. */
  private async readSource(fh: number): Promise<OpenFile> {
    const h = this.handle(fh);
    const writer = h.writer ?? this.table.writerOf(h.ino);
    return writer ? writer.file : this.readerOf(h);
  }

  read(path: string, fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    // Straight into the binding's buffer, which it reuses once we answer.
    return this.run('read', path, async () => (await this.readSource(fh)).readInto(position, length, buf));
  }

  readParts(path: string, fh: number, length: number, position: number): Promise<ReadParts> {
    return this.run('read', path, async () => (await this.readSource(fh)).readParts(position, length));
  }

  write(path: string, fh: number, buf: Buffer, length: number, position: number): Promise<number> {
    return this.run('write', path, async () => {
      const h = this.handle(fh);
      if (!h.writer) throw errno('EBADF');
      // OpenFile.write copies, so the binding may reuse buf after we answer.
      await h.writer.file.write(position, buf.subarray(0, length));
      changed(h.writer);
      return length;
    });
  }

  flush(path: string, fh: number): Promise<void> {
    return this.run('flush', path, async () => {
      // Every close(2) of a descriptor commits what was written, so the next open anywhere sees
      // it. A bare O_TRUNC waits for data or for release (see SharedWriter.changedSinceCommit).
      const h = this.handle(fh);
      if (h.writer?.changedSinceCommit) await this.commit(h.writer);
    });
  }

  fsync(path: string, fh: number): Promise<void> {
    return this.run('fsync', path, async () => {
      const h = this.handle(fh);
      if (h.writer) await this.commit(h.writer);
    });
  }

  fsyncdir(path: string): Promise<void> {
    // Namespace changes are visible at once but fsync'd in groups by the metadata server.
    return this.run('fsyncdir', path, () => this.meta.sync({}));
  }

  release(path: string, fh: number): Promise<void> {
    return this.run('release', path, async () => {
      const h = this.table.remove(fh);
      if (!h) return;
      if (h.writer) {
        await this.releaseWriter(h.writer, path);
      } else {
        await h.reopening?.catch(() => undefined);
        await h.reader?.file.close();
      }
    });
  }

  /** Closes every open file (committing buffered writes); used when the mount goes away. */
  async closeAll(): Promise<void> {
    const handles = this.table.all();
    await Promise.allSettled(handles.map((h) => this.release(h.path, h.fh)));
  }
}
