import { randomUUID } from 'node:crypto';
import { open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../common/log.js';
import { errnoOf, fsyncPath } from './fs-util.js';

export interface ServerIdentity {
  id: string;
  createdAtMs: number;
}

const IDENTITY_FILE = 'identity.json';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Reads DIR/identity.json, creating it on first start. The id is how the metadata server recognises
 * a server that came back blank (wiped disk, replacement machine): a new directory means a new id.
 * The caller must have created dir.
 */
export async function loadOrCreateIdentity(dir: string, logger: Logger): Promise<ServerIdentity> {
  const path = join(dir, IDENTITY_FILE);
  let raw: string | undefined;
  try {
    raw = await readFile(path, 'utf8');
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  if (raw !== undefined) {
    const parsed = parseIdentity(raw);
    if (parsed) return parsed;
    // Unreadable identity: a fresh one makes the cluster treat this server as blank and re-check it,
    // which is safe; the old file is kept next to it for inspection.
    const aside = `${path}.invalid.${Date.now()}`;
    await rename(path, aside);
    logger.warn({ aside }, 'identity file is malformed; starting with a new identity');
  }
  const identity: ServerIdentity = { id: randomUUID(), createdAtMs: Date.now() };
  await writeDurably(dir, path, JSON.stringify(identity) + '\n');
  logger.info({ id: identity.id }, 'created a new server identity');
  return identity;
}

function parseIdentity(raw: string): ServerIdentity | null {
  try {
    const v = JSON.parse(raw) as Partial<ServerIdentity>;
    if (typeof v.id === 'string' && UUID_RE.test(v.id) && typeof v.createdAtMs === 'number' && Number.isFinite(v.createdAtMs)) {
      return { id: v.id, createdAtMs: v.createdAtMs };
    }
  } catch {
    // falls through: malformed
  }
  return null;
}

/** temp + fsync + rename + fsync(dir): after a crash the file is either absent or complete. */
async function writeDurably(dir: string, path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp.${process.pid}`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(text, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  await fsyncPath(dir);
}
