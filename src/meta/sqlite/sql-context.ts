// What every operation file needs: the connection, a prepared-statement cache and a transaction runner.
import type Database from 'better-sqlite3';

/** How long a namespace change may wait for its fsync (it rides along with any commit before that). */
export const DEFAULT_NAMESPACE_SYNC_DELAY_MS = 500;

export class SqlContext {
  readonly db: Database.Database;
  private readonly cache = new Map<string, Database.Statement>();
  private readonly runTx: Database.Transaction<(fn: () => unknown) => unknown>;
  // Prepared once: db.pragma() parses its text on every call, and txUnsynced switches twice per change.
  private readonly syncNormal: Database.Statement;
  private readonly syncFull: Database.Statement;
  /** Transactions committed without fsync since the last fsync of the WAL. */
  private unsyncedTx = 0;
  private syncTimer: NodeJS.Timeout | null = null;
  /** 0: every namespace change is fsync'd before it returns (no grouping). */
  namespaceSyncDelayMs = DEFAULT_NAMESPACE_SYNC_DELAY_MS;

  constructor(db: Database.Database) {
    this.db = db;
    this.runTx = db.transaction((fn: () => unknown) => fn());
    this.syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.syncFull = db.prepare('PRAGMA synchronous = FULL');
  }

  /** Prepares each SQL text once; operations call this on every use instead of holding statements. */
  stmt(sql: string): Database.Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.cache.set(sql, s);
    }
    return s;
  }

  /**
   * Runs fn in one write transaction (BEGIN IMMEDIATE, so two processes never deadlock upgrading a
   * read lock); anything thrown rolls every change back.
   */
  tx<T>(fn: () => T): T {
    const out = this.runTx.immediate(fn) as T;
    // A fully synced commit fsyncs the WAL, and with it every frame written before it.
    this.unsyncedTx = 0;
    return out;
  }

  /** Inside a transaction: fn in a savepoint, so what it throws undoes its own changes only. */
  savepoint<T>(fn: () => T): T {
    return this.runTx(fn) as T;
  }

  /**
   * A namespace change (create, mkdir, rename, unlink, setattr...): committed at once and visible
   * to everyone, fsync'd within namespaceSyncDelayMs, or earlier by the next file commit or sync()
   * (one WAL fsync covers all frames before it). Like a local file system, where a new name is
   * durable after fsync of its directory, not when creat(2) returns; file data is never deferred.
   * A crash of this process loses nothing (the WAL is in the page cache); only a power loss within
   * the window can roll back these changes, never leave the database inconsistent.
   */
  txNamespace<T>(fn: () => T): T {
    if (this.namespaceSyncDelayMs <= 0) return this.tx(fn);
    const out = this.txUnsynced(fn);
    this.unsyncedTx++;
    this.syncTimer ??= setTimeout(() => {
      this.syncTimer = null;
      this.sync();
    }, this.namespaceSyncDelayMs);
    this.syncTimer.unref();
    return out;
  }

  /** Makes every committed transaction durable (fsync of the WAL, via a passive checkpoint). */
  sync(): void {
    if (this.unsyncedTx === 0 || !this.db.open) return;
    // With synchronous=FULL a checkpoint fsyncs the WAL before it copies pages back.
    this.db.pragma('wal_checkpoint(PASSIVE)');
    this.unsyncedTx = 0;
  }

  /** Stops the timer and syncs what is pending (before the database is closed). */
  close(): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    this.sync();
  }

  /**
   * A write transaction whose commit is not fsync'd (WAL, synchronous=NORMAL): it survives a crash
   * of this process at once and a power loss once the next full-sync commit or checkpoint is on
   * disk; before that a power loss may roll it back, never corrupt the database. Only for changes
   * whose loss is safe: see reserveBlocks in layout.ts.
   */
  txUnsynced<T>(fn: () => T): T {
    this.syncNormal.run();
    try {
      return this.runTx.immediate(fn) as T;
    } finally {
      this.syncFull.run();
    }
  }

  /** One clock read per operation, so all timestamps an operation writes agree. */
  nowMs(): number {
    return Date.now();
  }
}
