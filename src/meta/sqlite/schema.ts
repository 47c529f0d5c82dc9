// The SQLite schema of the metadata store and the connection settings that make it durable.
import type Database from 'better-sqlite3';
import { ROOT_INO } from '../api.js';

/** Bumped when the schema changes; open() refuses databases written by a newer version. */
export const SCHEMA_VERSION = 1;

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

-- The repair queue: copies that a server is missing or holds corrupt.
CREATE TABLE IF NOT EXISTS faults (
  hash       BLOB    NOT NULL,
  server     INTEGER NOT NULL,
  reason     TEXT    NOT NULL,
  created_ms INTEGER NOT NULL,
  PRIMARY KEY (hash, server)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS faults_by_age ON faults(created_ms);
`;

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
