// The metadata contract. One interface, three places it is implemented:
//  - a storage engine (SQLite now, PostgreSQL later) chosen by URL scheme in open-store.ts,
//  - the metadata HTTP server, which maps POST /v1/meta/<method> onto an engine,
//  - the remote client (src/client/meta-client.ts), which calls the server.
// test/meta-conformance.ts runs one suite against every implementation.
//
// Paths are absolute, '/'-separated, without trailing slash except the root '/'.
// Errors are FsError with an errno code (ENOENT, EEXIST, ENOTEMPTY, EISDIR, ENOTDIR, EINVAL,
// ENAMETOOLONG...) exactly as POSIX would return for the same operation on a local file system.

import type { ClusterConfig } from '../common/config.js';
import type { ErrnoCode } from '../common/errors.js';

export type Ino = number;
export const ROOT_INO: Ino = 1;
export const MAX_NAME_BYTES = 255;

/** The path of name in directory dir. */
export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** The last component of a path ('' for '/'). */
export function nameOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** The directory a path is in ('/' for '/' and its children). */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export type FileType = 'file' | 'dir' | 'symlink';

export interface Attr {
  ino: Ino;
  type: FileType;
  /** Permission bits only (0o7777); the type is in `type`. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

export interface DirEntry {
  name: string;
  attr: Attr;
}

/** Block name (sha256 hex) or null for a hole that reads as zeros. */
export type BlockRef = string | null;

export interface FileLayout {
  ino: Ino;
  size: number;
  blockSizeBytes: number;
  blocks: BlockRef[];
  /** Increments on every commit; lets a writer detect that someone else committed meanwhile. */
  version: number;
}

export interface ServerInfo {
  /** 1..N, the number operators use in status, logs and chaos commands. */
  index: number;
  url: string;
  /** Identity reported by the server itself (DIR/identity.json); null until first seen. */
  id: string | null;
}

export interface ClusterInfo {
  config: ClusterConfig;
  servers: ServerInfo[];
}

export interface Owner {
  uid: number;
  gid: number;
}

export interface CommitRequest {
  ino: Ino;
  size: number;
  blocks: BlockRef[];
  /** Sizes of the blocks this commit references; recorded for accounting of new blocks. */
  blockSizes: Record<string, number>;
  mtimeMs?: number;
  /** If set, the commit fails with ESTALE unless the file is still at this version. */
  expectVersion?: number;
  /** Blocks uploaded without a reservation; their commit is stricter (src/meta/sqlite/gc.ts). */
  unreserved?: string[];
}

/**
 * Blocks whose garbage collection had finished when the reservation was made. A writer that
 * uploaded them while the reservation was on its way may have lost a copy to a deletion that landed
 * after its upload: it uploads them again (the deletion is over, and the reservation now holds).
 * Nothing else can hit an upload made alongside its reservation: deletes are only sent from a
 * state the reservation either refuses (EAGAIN, then waits for the deletion and ends here) or
 * cancels before any is sent (src/meta/sqlite/gc.ts).
 */
export interface ReserveResult {
  reupload: string[];
}

export interface UnlinkEntry {
  path: string;
  ino?: Ino;
}

export interface UnlinkManyResult {
  /** The entries that were not unlinked, by their index in the request. */
  failed: Array<{ index: number; code: ErrnoCode; message: string }>;
  /** The directories the entries were in, as the batch left them (a client caches them). */
  parents: Array<{ path: string; attr: Attr }>;
}

/** Entries one unlinkMany may carry. */
export const MAX_UNLINK_BATCH = 1024;

/** A commit's answer: the file's attributes, and the layout version the commit created. */
export interface CommitResult extends Attr {
  version: number;
}

export type FaultReason = 'missing' | 'corrupt' | 'write-missed';

export interface BlockFault {
  hash: string;
  server: number;
  reason: FaultReason;
}

export interface StatFs {
  files: number;
  /** Distinct blocks referenced by files, and their logical bytes (one copy). */
  blocks: number;
  blockBytes: number;
}

export interface MetaApi {
  getCluster(args: Record<string, never>): Promise<ClusterInfo>;

  lookup(args: { path: string }): Promise<Attr>;
  readdir(args: { path: string }): Promise<DirEntry[]>;
  /** Creates a regular file; with exclusive=false an existing file is returned as is (O_CREAT). */
  create(args: { path: string; mode: number; owner: Owner; exclusive: boolean }): Promise<Attr>;
  mkdir(args: { path: string; mode: number; owner: Owner }): Promise<Attr>;
  symlink(args: { path: string; target: string; owner: Owner }): Promise<Attr>;
  readlink(args: { path: string }): Promise<string>;
  /** Hard link: newPath becomes another name of the file at path. */
  link(args: { path: string; newPath: string }): Promise<Attr>;
  unlink(args: { path: string }): Promise<void>;
  /**
   * Many unlinks in one transaction, each on its own: one that fails (listed in `failed`) leaves
   * the others done. An entry's `ino`, when given, must be what its path still names (else ENOENT),
   * so a batch sent again after a lost answer never removes a file that has since taken the name.
   * `answered`: the client answered these unlinks already, under the unlink delegation it holds
   * (src/meta/change-feed.ts); the server refuses them (ESTALE) if that delegation has lapsed.
   */
  unlinkMany(args: { entries: UnlinkEntry[]; answered?: boolean }): Promise<UnlinkManyResult>;
  rmdir(args: { path: string }): Promise<void>;
  /** POSIX rename, atomic, also over an existing target. */
  rename(args: { from: string; to: string }): Promise<void>;
  setattr(args: { path: string; mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number }): Promise<Attr>;
  statfs(args: Record<string, never>): Promise<StatFs>;

  getLayout(args: { ino: Ino }): Promise<FileLayout>;
  /** lookup and, for a regular file, getLayout in one call: what an open needs. */
  openPath(args: { path: string }): Promise<{ attr: Attr; layout: FileLayout | null }>;
  /** Atomically replaces a file's size and block list, adjusting block reference counts. */
  commit(args: CommitRequest): Promise<CommitResult>;
  /**
   * Marks blocks as about to be referenced, so garbage collection leaves them alone for its grace
   * period. May run alongside the blocks' upload: see ReserveResult.
   */
  reserveBlocks(args: { hashes: string[] }): Promise<ReserveResult>;
  /** Copies found missing or corrupt, or missed by a write; they go to the repair queue. */
  reportFaults(args: { faults: BlockFault[] }): Promise<void>;
  /** Makes every namespace change made so far durable (fsync of a directory maps to it). */
  sync(args: Record<string, never>): Promise<void>;
}

/** Methods a client may call over HTTP; the server refuses any other name. */
export const META_METHODS = [
  'getCluster', 'lookup', 'readdir', 'create', 'mkdir', 'symlink', 'readlink', 'link', 'unlink',
  'unlinkMany', 'rmdir', 'rename', 'setattr', 'statfs', 'getLayout', 'openPath', 'commit', 'reserveBlocks', 'reportFaults', 'sync',
] as const satisfies ReadonlyArray<keyof MetaApi>;

export interface IntegrityReport {
  ok: boolean;
  problems: string[];
}

/** A repair queue entry with its backoff state. */
export interface QueuedFault extends BlockFault {
  attempts: number;
  nextTryMs: number;
  createdMs: number;
}

/** Queue length per target server and reason; `due` excludes entries waiting out a backoff. */
export interface FaultCount {
  server: number;
  reason: FaultReason;
  count: number;
  due: number;
}

export interface BlockRow {
  refs: number;
  /** Null while only reserved. */
  size: number | null;
  /** Garbage collection state: 0 none, 1 marked for deletion, 2 deletes being sent. */
  deleting: 0 | 1 | 2;
}

/**
 * The repair queue beyond MetaApi: the faults table is a durable queue with backoff, drained by the
 * metadata server's workers (src/repair/). Everything survives a restart.
 */
export interface RepairQueueStore {
  /** Due faults (next try <= nowMs): reported ones before bulk ones, skipping targets in excludeServers. */
  listDueFaults(args: { nowMs: number; limit: number; excludeServers: number[] }): Promise<QueuedFault[]>;
  /** Queues faults at bulk priority (reconciliation): they yield to faults that readers and scrubbers report. Returns how many were new. */
  enqueueBulkFaults(args: { faults: BlockFault[] }): Promise<number>;
  /** Queues every referenced block as missing on server (a blank server's rebuild), at bulk priority. */
  enqueueAllReferenced(args: { server: number }): Promise<void>;
  /** Records a failed attempt: attempts + 1, next try at nextTryMs. */
  deferFault(args: { hash: string; server: number; nextTryMs: number; error: string }): Promise<void>;
  /** Makes every fault of server due now (it came back); returns how many were waiting. */
  retryServerFaults(args: { server: number }): Promise<number>;
  countFaults(args: { nowMs: number }): Promise<FaultCount[]>;
  /**
   * Faults queued for one server (rebuild progress); with withBytes also the bytes of their blocks,
   * which costs a lookup per fault (once per rebuild, not per progress sample).
   */
  serverQueue(args: { server: number; withBytes: boolean }): Promise<{ blocks: number; bytes: number }>;
  getBlock(args: { hash: string }): Promise<BlockRow | null>;
}

/**
 * Garbage collection's side of the store. The race with commits that reuse a block (identical blocks
 * are shared) is closed by a per-row state: see src/meta/sqlite/gc.ts for the rule.
 */
export interface GcStore {
  /** Blocks with refs = 0, untouched since cutoffMs and not already being deleted. */
  listGcCandidates(args: { cutoffMs: number; limit: number }): Promise<string[]>;
  /** Blocks whose deletes had started being sent (to finish after a crash). */
  listDeleting(args: { limit: number }): Promise<string[]>;
  /** Marks a block for deletion if it still qualifies (refs = 0 and untouched since cutoffMs, or an orphan first seen before it). */
  markDeleting(args: { hash: string; cutoffMs: number; nowMs: number }): Promise<boolean>;
  /** Moves a marked block to "sending deletes"; false if a reservation or commit cleared the mark. */
  beginDeleting(args: { hash: string }): Promise<boolean>;
  /** Deletes sent: drops the row, its orphan records and faults, and leaves a tombstone. */
  finishDeleting(args: { hash: string; nowMs: number }): Promise<void>;
  /** Records which blocks of server's inventory have no row; returns those first seen before cutoffMs. */
  noteOrphans(args: { server: number; hashes: string[]; nowMs: number; cutoffMs: number }): Promise<string[]>;
  pruneTombstones(args: { beforeMs: number }): Promise<number>;
}

/**
 * What an engine offers beyond the client API: formatting, membership and the checks that the
 * metadata server and operators run. The repair queue and GC are added here as they are built.
 */
export interface MetaStore extends MetaApi, RepairQueueStore, GcStore {
  /** Stores the config once; formatting again with a different config is refused. */
  format(args: { config: ClusterConfig }): Promise<void>;
  isFormatted(): Promise<boolean>;
  setServers(args: { servers: ServerInfo[] }): Promise<void>;
  setServerId(args: { index: number; id: string }): Promise<void>;
  /** Every referenced block with its reference count and size. */
  listBlocks(): Promise<Array<{ hash: string; refs: number; size: number }>>;
  /** Pending faults (repair queue); drained by repair workers. */
  listFaults(args: { limit: number }): Promise<BlockFault[]>;
  clearFault(args: BlockFault): Promise<void>;
  /** Checks the invariants: dentries point to inodes, nlink matches, refcounts match block lists. */
  checkIntegrity(): Promise<IntegrityReport>;
  /**
   * The latest time (epoch ms) a client's metadata lease may run to (src/meta/change-feed.ts). It
   * outlives the server process, so a restarted server waits out leases its predecessor gave.
   * Kept without fsync: a machine that crashed takes longer than a lease to come back.
   */
  leaseHorizon(): Promise<number>;
  setLeaseHorizon(args: { untilMs: number }): Promise<void>;
  close(): Promise<void>;
}
