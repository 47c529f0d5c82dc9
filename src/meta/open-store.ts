// Picks the metadata engine from the URL scheme, as JuiceFS does: one interface, many engines.
import { isAbsolute, resolve } from 'node:path';
import type { MetaStore } from './api.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

const SCHEMES = 'sqlite:///abs/path/meta.db (or sqlite://relative/path) and postgres://user@host/db';

/** sqlite:///var/lib/q/meta.db -> /var/lib/q/meta.db; sqlite://meta.db -> ./meta.db. */
export function sqlitePathFromUrl(url: string): string {
  // Taken literally (no percent-decoding): operators type file paths, not URL-encoded ones.
  const rest = url.slice('sqlite://'.length);
  if (rest === '') throw new Error(`metadata URL ${url} names no database file; expected ${SCHEMES}`);
  if (rest === ':memory:') return rest;
  return isAbsolute(rest) ? rest : resolve(rest);
}

export interface StoreOptions {
  /** How long namespace changes may wait for their fsync (engine default when undefined). */
  namespaceSyncMs?: number;
}

export async function openStore(url: string, opts: StoreOptions = {}): Promise<MetaStore> {
  if (url.startsWith('sqlite://')) return SqliteStore.open(sqlitePathFromUrl(url), opts);
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) throw new Error('postgres metadata engine is not built yet');
  throw new Error(`unsupported metadata URL "${url}"; accepted schemes: ${SCHEMES}`);
}
