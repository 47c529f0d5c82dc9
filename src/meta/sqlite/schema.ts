// The SQLite schema of the metadata store and the connection settings that make it durable.
import type Database from 'better-sqlite3';
import { ROOT_INO } from '../api.js';

/**
 * Bumped when the schema changes; open() refuses databases written by a newer version.
 * 2: repair queue backoff and priority (faults), GC deletion state (blocks), gc_tombstones, orphans.
 */
export const SCHEMA_VERSION = 2;

/** How long a writer waits for another connection's lock before SQLITE_BUSY (e.g. an fsck running beside the server). */
const BUSY_TIMEOUT_MS = 5_000;

const DDL = `
CREATE TABLE IF NOT EXISTS config (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS servers (
  idx INTEGER PRIMARY KEY,
  url TEXT NOT NULL,
  id  TEXT
);

-- AUTOINCREMENT: inode numbers are never reused, so a stale handle (a mount that cached an ino
-- of a deleted file) gets ENOENT instead of silently reaching an unrelated new file.
CREATE TABLE IF NOT EXISTS inodes (
  ino      INTEGER PRIMARY KEY AUTOINCREMENT,
  type     TEXT NOT NULL CHECK (type IN ('file', 'dir', 'symlink')),
  mode     INTEGER NOT NULL,
  uid      INTEGER NOT NULL,
  gid      INTEGER NOT NULL,
  size     INTEGER NOT NULL DEFAULT 0,
  nlink    INTEGER NOT NULL,
  atime_ms INTEGER NOT NULL,
  mtime_ms INTEGER NOT NULL,
  ctime_ms INTEGER NOT NULL,
  version  INTEGER NOT NULL DEFAULT 0,
  target   TEXT,   -- symlinks only
  blocks   BLOB    -- files only: 32-byte binary SHA-256 per block, 32 zero bytes for a hole
);

CREATE TABLE IF NOT EXISTS dentries (
  parent INTEGER NOT NULL REFERENCES inodes(ino),
  name   TEXT    NOT NULL,
  ino    INTEGER NOT NULL REFERENCES inodes(ino),
  PRIMARY KEY (parent, name)
) WITHOUT ROWID;
-- Finds the names of an inode (unlink accounting, rename's ancestor walk, integrity) without a scan.
CREATE INDEX IF NOT EXISTS dentries_by_ino ON dentries(ino);

-- One row per block name ever committed or reserved. refs = 0 rows stay until garbage collection
-- deletes the block from the data servers; touched_ms starts its grace period.
CREATE TABLE IF NOT EXISTS blocks (
  hash       BLOB PRIMARY KEY,
  refs       INTEGER NOT NULL DEFAULT 0,
  size       INTEGER,             -- NULL while only reserved
  touched_ms INTEGER NOT NULL
) WITHOUT ROWID;
-- GC candidates without scanning the referenced majority.
CREATE INDEX IF NOT EXISTS blocks_unreferenced ON blocks(touched_ms) WHERE refs = 0;

-- The repair queue: copies that a server is missing or holds corrupt. Columns added in version 2
-- (attempts, next_try_ms, priority, last_error) are created by migrate() on older databases.
CREATE TABLE IF NOT EXISTS faults (
  hash       BLOB    NOT NULL,
  server     INTEGER NOT NULL,
  reason     TEXT    NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (hash, server)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS faults_by_age ON faults(created_ms);

-- Blocks whose rows garbage collection removed after deleting them from the data servers. A commit
-- naming one of them without a fresh reserveBlocks refers to bytes that may be gone: refused.
-- Pruned after a retention period (src/repair/gc.ts).
CREATE TABLE IF NOT EXISTS gc_tombstones (
  hash       BLOB PRIMARY KEY,
  deleted_ms INTEGER NOT NULL
) WITHOUT ROWID;

-- Blocks seen in a data server's inventory with no row in blocks at all (leaked by a crash between
-- upload and commit), with the time first seen: deleted once that is older than the GC grace.
CREATE TABLE IF NOT EXISTS orphans (
  hash          BLOB    NOT NULL,
  server        INTEGER NOT NULL,
  first_seen_ms INTEGER NOT NULL,
  PRIMARY KEY (hash, server)
) WITHOUT ROWID;
`;

/** Columns added after version 1; ALTER TABLE only where missing, so any older database upgrades in place. */
const ADDED_COLUMNS: Array<{ table: string; column: string; ddl: string }> = [
  // Repair backoff: attempts so far, and when the next one may start (0: now).
  { table: 'faults', column: 'attempts', ddl: 'attempts INTEGER NOT NULL DEFAULT 0' },
  { table: 'faults', column: 'next_try_ms', ddl: 'next_try_ms INTEGER NOT NULL DEFAULT 0' },
  // 0: reported by a reader, writer or scrubber (repaired first); 1: bulk (rebuild, reconciliation).
  { table: 'faults', column: 'priority', ddl: 'priority INTEGER NOT NULL DEFAULT 0' },
  { table: 'faults', column: 'last_error', ddl: 'last_error TEXT' },
  // Garbage collection: 0 none, 1 marked for deletion, 2 deletes being sent (see src/meta/sqlite/gc.ts).
  { table: 'blocks', column: 'deleting', ddl: 'deleting INTEGER NOT NULL DEFAULT 0' },
];

/** Indexes over added columns, created once the columns exist. */
const MIGRATED_INDEXES = `
CREATE INDEX IF NOT EXISTS faults_due ON faults(priority, next_try_ms);
CREATE INDEX IF NOT EXISTS faults_by_server ON faults(server);
CREATE INDEX IF NOT EXISTS blocks_deleting ON blocks(deleting) WHERE deleting != 0;
`;

function migrate(db: Database.Database): void {
  for (const c of ADDED_COLUMNS) {
    const cols = db.prepare(`SELECT name FROM pragma_table_info('${c.table}')`).pluck().all() as string[];
    if (!cols.includes(c.column)) db.exec(`ALTER TABLE ${c.table} ADD COLUMN ${c.ddl}`);
  }
  db.exec(MIGRATED_INDEXES);
}

/** Applies durability pragmas, creates the schema if needed and the root directory. */
export function initSchema(db: Database.Database, nowMs: number): void {
  // WAL: readers never block the writer; synchronous=FULL: a commit that returned survives power loss.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);

  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new Error(`metadata database has schema version ${version}, this quorumfs understands up to ${SCHEMA_VERSION}; upgrade quorumfs`);
  }
  db.transaction(() => {
    db.exec(DDL);
    migrate(db);
    // The root is owned by the user running the metadata server, so a local cluster started by an
    // ordinary user is writable through its mount; chown changes it for shared setups.
    const uid = process.getuid?.() ?? 0;
    const gid = process.getgid?.() ?? 0;
    db.prepare(
      `INSERT OR IGNORE INTO inodes (ino, type, mode, uid, gid, size, nlink, atime_ms, mtime_ms, ctime_ms, version)
       VALUES (?, 'dir', ?, ?, ?, 0, 2, ?, ?, ?, 0)`,
    ).run(ROOT_INO, 0o755, uid, gid, nowMs, nowMs, nowMs);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}
