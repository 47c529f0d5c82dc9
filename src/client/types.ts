// The client library's surface as the CLI and the FUSE mount use it.
import type { ClusterConfig } from '../common/config.js';
import type { Attr, FileLayout, Ino, MetaApi } from '../meta/api.js';

/**
 * An open regular file. Writes are buffered per handle into whole blocks and uploaded in the
 * background with a bounded number of blocks in flight; the new block list becomes visible to
 * others only at flush/fsync/close (close-to-open consistency), all or nothing.
 * Every method may throw FsError; quorum failures are EIO with the reason in the message.
 */
export interface OpenFile {
  readonly ino: Ino;
  /** Reads up to `length` bytes; fewer at end of file. Sees this handle's unflushed writes. */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Copies up to `length` bytes at `offset` into dst (no more than it holds) and returns how many;
   * fewer at end of file. Holes are written as zeros. The copy the mount's read path wants: the
   * block's buffer is not handed out, so it can be recycled.
   */
  readInto(offset: number, length: number, dst: Buffer): Promise<number>;
  /**
   * The same bytes as read(), as pieces that are the block cache's own buffers where they can be
   * (no copy), valid until release(): the caller must call it once it has written them out.
   */
  readParts(offset: number, length: number): Promise<{ parts: Buffer[]; release(): void }>;
  /** Copies `data` (callers may reuse their buffer afterwards). */
  write(offset: number, data: Buffer): Promise<void>;
  /** Shrinks or extends (with zeros) the file as seen by this handle. */
  truncate(size: number): Promise<void>;
  /** Size as seen by this handle, including unflushed writes. */
  size(): number;
  /** Uploads what is buffered, waits for Qw durable copies of every block, commits the block list. */
  flush(): Promise<void>;
  /** Same as flush: after it returns, data and metadata are durable at Qw. */
  fsync(): Promise<void>;
  /** Flushes and releases the handle. */
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Open for writing (buffers writes and commits on flush). */
  write: boolean;
  /** O_TRUNC: start from an empty file. */
  truncate?: boolean;
  /**
   * The caller just saw the file empty (create answered size 0): its layout is known without
   * asking the metadata server, one round trip less per new file.
   */
  knownEmpty?: boolean;
  /** The path a read open came by: lets the client read ahead across its directory's files. */
  path?: string;
}

export interface FsClient {
  readonly meta: MetaApi;
  readonly config: ClusterConfig;
  /** Opens an existing regular file by path (ENOENT, EISDIR as POSIX). */
  open(path: string, opts: OpenOptions): Promise<OpenFile>;
  /** Opens by inode, for handles that must survive renames. */
  openIno(ino: Ino, opts: OpenOptions): Promise<OpenFile>;
  /** Opens a file whose layout the caller just fetched (MetaApi.openPath): no further round trip. */
  openLayout(layout: FileLayout, opts: OpenOptions): Promise<OpenFile>;
  /** truncate(2) on a path without an open handle. */
  truncatePath(path: string, size: number): Promise<Attr>;
  close(): Promise<void>;
}
