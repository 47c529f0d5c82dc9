// What every operation file needs: the connection, a prepared-statement cache and a transaction runner.
import type Database from 'better-sqlite3';

export class SqlContext {
  readonly db: Database.Database;
  private readonly cache = new Map<string, Database.Statement>();
  private readonly runTx: Database.Transaction<(fn: () => unknown) => unknown>;

  constructor(db: Database.Database) {
    this.db = db;
    this.runTx = db.transaction((fn: () => unknown) => fn());
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
    return this.runTx.immediate(fn) as T;
  }

  /** One clock read per operation, so all timestamps an operation writes agree. */
  nowMs(): number {
    return Date.now();
  }
}
