// Open files of one mount. The kernel knows them by a 32-bit handle; we keep, per inode, one
// shared write buffer (an OpenFile opened for writing) so that every descriptor of this mount
// sees the same bytes, as on a local disk, and commit them together at close.
import type { OpenFile } from '../client/types.js';
import type { Attr, Ino } from '../meta/api.js';

/** Handles are signed 32-bit in parts of the binding; 0 means "no handle" to it. */
const MAX_HANDLE = 0x7fffffff;
/** A bound on open files per mount (each may hold up to a few blocks of buffered writes). */
export const MAX_OPEN_HANDLES = 65_536;

export interface SharedWriter {
  ino: Ino;
  file: OpenFile;
  /** Open write handles using it; the file is closed (committed) when this drops to 0. */
  refs: number;
  /** Wall-clock time of the last write through it, shown as mtime until it is committed. */
  lastWriteMs: number;
  /**
   * A write or truncate arrived since the last commit. The truncation of an O_TRUNC open alone
   * does not count: it is committed with the first data or at release, so `echo x > f` (whose
   * shell closes a dup of the descriptor before writing) never shows other mounts an empty file.
   */
  changedSinceCommit: boolean;
}

export interface Handle {
  fh: number;
  ino: Ino;
  /** Path at open time, for logs. */
  path: string;
  /** Attributes at open time; fstat falls back to them when the path has gone. */
  attr: Attr;
  writer: SharedWriter | null;
  /** Read-only handles read through their own OpenFile (see ReaderState). */
  reader: ReaderState | null;
  reopening: Promise<ReaderState> | null;
}

/**
 * The version a read-only handle reads. It follows commits made through this mount at once (as on
 * a local disk). A commit from another mount is picked up only if nothing was read through it
 * yet (a program that stats, then reads, gets the new version whole); once reading started, it
 * keeps its version, so a reader never gets the start of one version and the end of another.
 */
export interface ReaderState {
  file: OpenFile;
  /** InodeState.gen and .remoteGen when the file was opened. */
  gen: number;
  remoteGen: number;
  used: boolean;
}

export interface InodeState {
  writer: SharedWriter | null;
  /**
   * The writer whose last handle went and whose final commit is on its way. Stat still answers
   * with its size and mtime: the kernel sends RELEASE after close(2) returned, so the caller may
   * already be asking, and the metadata (or its cache) still shows the version before.
   */
  closing: { writer: SharedWriter; done: Promise<void> } | null;
  /** Opening a writer is async; concurrent opens of one inode wait for the same one. */
  writerOpening: Promise<SharedWriter> | null;
  /** Bumped on every commit through this mount. */
  gen: number;
  /** Bumped when the metadata server shows attributes changed since last seen: another mount committed. */
  remoteGen: number;
  /** size/mtime/ctime last seen from the metadata server. */
  seen: string | null;
  handles: number;
}

export class HandleTable {
  private readonly handles = new Map<number, Handle>();
  private readonly inodes = new Map<Ino, InodeState>();
  private next = 1;

  get size(): number {
    return this.handles.size;
  }

  allocate(init: Omit<Handle, 'fh'>): Handle {
    if (this.handles.size >= MAX_OPEN_HANDLES) throw Object.assign(new Error(`too many open files on this mount (${MAX_OPEN_HANDLES})`), { code: 'EMFILE' });
    while (this.handles.has(this.next)) this.next = this.next >= MAX_HANDLE ? 1 : this.next + 1;
    const h: Handle = { fh: this.next, ...init };
    this.next = this.next >= MAX_HANDLE ? 1 : this.next + 1;
    this.handles.set(h.fh, h);
    this.inode(h.ino).handles++;
    return h;
  }

  get(fh: number): Handle | undefined {
    return this.handles.get(fh);
  }

  remove(fh: number): Handle | undefined {
    const h = this.handles.get(fh);
    if (!h) return undefined;
    this.handles.delete(fh);
    const st = this.inodes.get(h.ino);
    if (st) st.handles--;
    this.dropIfIdle(h.ino);
    return h;
  }

  /** Forgets an inode's state once nothing of this mount uses it (after a failed open). */
  dropIfIdle(ino: Ino): void {
    const st = this.inodes.get(ino);
    if (st && st.handles <= 0 && !st.writer && !st.closing && !st.writerOpening) this.inodes.delete(ino);
  }

  all(): Handle[] {
    return [...this.handles.values()];
  }

  inode(ino: Ino): InodeState {
    let st = this.inodes.get(ino);
    if (!st) {
      st = { writer: null, closing: null, writerOpening: null, gen: 0, remoteGen: 0, seen: null, handles: 0 };
      this.inodes.set(ino, st);
    }
    return st;
  }

  peekInode(ino: Ino): InodeState | undefined {
    return this.inodes.get(ino);
  }

  /** The writer of an inode that this mount has open for writing, if any. */
  writerOf(ino: Ino): SharedWriter | null {
    return this.inodes.get(ino)?.writer ?? null;
  }

  /** The writer whose size and mtime stat shows: the open one, or the one still committing. */
  shownWriterOf(ino: Ino): SharedWriter | null {
    const st = this.inodes.get(ino);
    return st?.writer ?? st?.closing?.writer ?? null;
  }
}
