// The SQLite engine behind MetaStore. Methods are async to match the interface (PostgreSQL will
// need it) but run synchronously: better-sqlite3 is synchronous, so operations never interleave
// inside one process and each transaction is short.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { FsError } from '../../common/errors.js';
import type { ClusterConfig } from '../../common/config.js';
import type {
  Attr, BlockFault, BlockRow, ClusterInfo, CommitRequest, CommitResult, DirEntry, ReserveResult, FaultCount, UnlinkEntry, UnlinkManyResult, FileLayout, Ino, IntegrityReport, MetaStore, Owner,
  QueuedFault, ServerInfo, StatFs,
} from '../api.js';
import * as cluster from './cluster.js';
import * as gc from './gc.js';
import { checkIntegrity } from './integrity.js';
import * as layout from './layout.js';
import * as nsRead from './namespace-read.js';
import * as nsWrite from './namespace-write.js';
import { rename } from './rename.js';
import * as queue from './repair-queue.js';
import { initSchema } from './schema.js';
import { SqlContext } from './sql-context.js';

export class SqliteStore implements MetaStore {
  private readonly ctx: SqlContext;
  /** The config never changes once stored, so it is read from disk once. */
  private config: ClusterConfig | null;

  private constructor(db: Database.Database) {
    this.ctx = new SqlContext(db);
    this.config = cluster.readConfig(this.ctx);
  }

  /** Opens (creating if needed) the database file at path; ':memory:' works for throwaway stores. */
  static open(path: string, opts: { namespaceSyncMs?: number } = {}): SqliteStore {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    try {
      initSchema(db, Date.now());
      const store = new SqliteStore(db);
      if (opts.namespaceSyncMs !== undefined) store.ctx.namespaceSyncDelayMs = opts.namespaceSyncMs;
      return store;
    } catch (err) {
      db.close();
      throw err;
    }
  }

  private blockSizeBytes(): number {
    if (!this.config) throw new FsError('EIO', 'cluster not formatted');
    return this.config.blockSizeBytes;
  }

  async leaseHorizon(): Promise<number> { return cluster.leaseHorizon(this.ctx); }
  async setLeaseHorizon(a: { untilMs: number }): Promise<void> { cluster.setLeaseHorizon(this.ctx, a.untilMs); }

  async getCluster(): Promise<ClusterInfo> {
    if (!this.config) throw new FsError('EIO', 'cluster not formatted');
    return { config: { ...this.config }, servers: cluster.listServers(this.ctx) };
  }

  async lookup(a: { path: string }): Promise<Attr> { return nsRead.lookup(this.ctx, a.path); }
  async readdir(a: { path: string }): Promise<DirEntry[]> { return nsRead.readdir(this.ctx, a.path); }
  async readlink(a: { path: string }): Promise<string> { return nsRead.readlink(this.ctx, a.path); }
  async create(a: { path: string; mode: number; owner: Owner; exclusive: boolean }): Promise<Attr> { return nsWrite.create(this.ctx, a); }
  async mkdir(a: { path: string; mode: number; owner: Owner }): Promise<Attr> { return nsWrite.mkdir(this.ctx, a); }
  async symlink(a: { path: string; target: string; owner: Owner }): Promise<Attr> { return nsWrite.symlink(this.ctx, a); }
  async link(a: { path: string; newPath: string }): Promise<Attr> { return nsWrite.link(this.ctx, a); }
  async unlink(a: { path: string }): Promise<void> { nsWrite.unlink(this.ctx, a); }
  async unlinkMany(a: { entries: UnlinkEntry[] }): Promise<UnlinkManyResult> { return nsWrite.unlinkMany(this.ctx, a); }
  async rmdir(a: { path: string }): Promise<void> { nsWrite.rmdir(this.ctx, a); }
  async rename(a: { from: string; to: string }): Promise<void> { rename(this.ctx, a); }
  async setattr(a: { path: string; mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number }): Promise<Attr> {
    return nsWrite.setattr(this.ctx, a);
  }
  async statfs(): Promise<StatFs> { return cluster.statfs(this.ctx); }

  async getLayout(a: { ino: Ino }): Promise<FileLayout> { return layout.getLayout(this.ctx, a.ino, this.blockSizeBytes()); }
  async openPath(a: { path: string }): Promise<{ attr: Attr; layout: FileLayout | null }> {
    const attr = nsRead.lookup(this.ctx, a.path);
    return { attr, layout: attr.type === 'file' ? layout.getLayout(this.ctx, attr.ino, this.blockSizeBytes()) : null };
  }
  async commit(a: CommitRequest): Promise<CommitResult> { return layout.commit(this.ctx, a, this.blockSizeBytes()); }
  async reserveBlocks(a: { hashes: string[] }): Promise<ReserveResult> { return layout.reserveBlocks(this.ctx, a.hashes, this.ctx.nowMs()); }
  async reportFaults(a: { faults: BlockFault[] }): Promise<void> { cluster.reportFaults(this.ctx, a.faults, this.ctx.nowMs()); }

  async format(a: { config: ClusterConfig }): Promise<void> { this.config = cluster.format(this.ctx, a.config); }
  async isFormatted(): Promise<boolean> { return this.config !== null; }
  async setServers(a: { servers: ServerInfo[] }): Promise<void> { cluster.setServers(this.ctx, a.servers); }
  async setServerId(a: { index: number; id: string }): Promise<void> { cluster.setServerId(this.ctx, a.index, a.id); }
  async listBlocks(): Promise<Array<{ hash: string; refs: number; size: number }>> { return cluster.listBlocks(this.ctx); }
  async listFaults(a: { limit: number }): Promise<BlockFault[]> { return cluster.listFaults(this.ctx, a.limit); }
  async clearFault(a: BlockFault): Promise<void> { cluster.clearFault(this.ctx, a); }
  async checkIntegrity(): Promise<IntegrityReport> { return checkIntegrity(this.ctx); }

  async listDueFaults(a: { nowMs: number; limit: number; excludeServers: number[] }): Promise<QueuedFault[]> {
    return queue.listDueFaults(this.ctx, a.nowMs, a.limit, a.excludeServers);
  }
  async enqueueBulkFaults(a: { faults: BlockFault[] }): Promise<number> { return queue.enqueueBulkFaults(this.ctx, a.faults, this.ctx.nowMs()); }
  async enqueueAllReferenced(a: { server: number }): Promise<void> { queue.enqueueAllReferenced(this.ctx, a.server, this.ctx.nowMs()); }
  async deferFault(a: { hash: string; server: number; nextTryMs: number; error: string }): Promise<void> {
    queue.deferFault(this.ctx, a.hash, a.server, a.nextTryMs, a.error);
  }
  async retryServerFaults(a: { server: number }): Promise<number> { return queue.retryServerFaults(this.ctx, a.server); }
  async countFaults(a: { nowMs: number }): Promise<FaultCount[]> { return queue.countFaults(this.ctx, a.nowMs); }
  async serverQueue(a: { server: number; withBytes: boolean }): Promise<{ blocks: number; bytes: number }> {
    return queue.serverQueue(this.ctx, a.server, a.withBytes);
  }
  async getBlock(a: { hash: string }): Promise<BlockRow | null> { return queue.getBlock(this.ctx, a.hash); }

  async listGcCandidates(a: { cutoffMs: number; limit: number }): Promise<string[]> { return gc.listGcCandidates(this.ctx, a.cutoffMs, a.limit); }
  async listDeleting(a: { limit: number }): Promise<string[]> { return gc.listDeleting(this.ctx, a.limit); }
  async markDeleting(a: { hash: string; cutoffMs: number; nowMs: number }): Promise<boolean> { return gc.markDeleting(this.ctx, a.hash, a.cutoffMs, a.nowMs); }
  async beginDeleting(a: { hash: string }): Promise<boolean> { return gc.beginDeleting(this.ctx, a.hash); }
  async finishDeleting(a: { hash: string; nowMs: number }): Promise<void> { gc.finishDeleting(this.ctx, a.hash, a.nowMs); }
  async noteOrphans(a: { server: number; hashes: string[]; nowMs: number; cutoffMs: number }): Promise<string[]> {
    return gc.noteOrphans(this.ctx, a.server, a.hashes, a.nowMs, a.cutoffMs);
  }
  async pruneTombstones(a: { beforeMs: number }): Promise<number> { return gc.pruneTombstones(this.ctx, a.beforeMs); }

  async sync(): Promise<void> { this.ctx.sync(); }

  async close(): Promise<void> {
    if (!this.ctx.db.open) return;
    this.ctx.close();
    this.ctx.db.close();
  }
}
