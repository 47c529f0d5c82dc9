// Cluster-wide records: the format-time config, data server membership, the repair queue and the
// block accounting summaries.
import { FsError } from '../../common/errors.js';
import { validateConfig, type ClusterConfig } from '../../common/config.js';
import type { BlockFault, FaultReason, ServerInfo, StatFs } from '../api.js';
import { checkHash, hashToBuf } from './rows.js';
import type { SqlContext } from './sql-context.js';

const CONFIG_KEY = 'cluster';
const LEASE_HORIZON_KEY = 'lease-horizon';
const FAULT_REASONS: ReadonlySet<string> = new Set<FaultReason>(['missing', 'corrupt', 'write-missed']);

export function describeConfig(c: ClusterConfig): string {
  return `N=${c.replicas}, Qw=${c.writeQuorum}, Qr=${c.readQuorum}, block size ${c.blockSizeBytes} bytes`;
}

export function leaseHorizon(ctx: SqlContext): number {
  const row = ctx.stmt('SELECT value FROM config WHERE key = ?').get(LEASE_HORIZON_KEY) as { value: string } | undefined;
  const v = row ? Number(row.value) : 0;
  return Number.isFinite(v) ? v : 0;
}

/** Unsynced: losing it takes a machine crash, and a machine takes longer than a lease to come back. */
export function setLeaseHorizon(ctx: SqlContext, untilMs: number): void {
  ctx.txUnsynced(() => {
    ctx.stmt('INSERT INTO config (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(LEASE_HORIZON_KEY, String(untilMs));
  });
}

export function readConfig(ctx: SqlContext): ClusterConfig | null {
  const row = ctx.stmt('SELECT value FROM config WHERE key = ?').get(CONFIG_KEY) as { value: string } | undefined;
  return row ? (JSON.parse(row.value) as ClusterConfig) : null;
}

/** Stores the config once. Formatting again with the same config is a no-op, so scripts can retry. */
export function format(ctx: SqlContext, input: unknown): ClusterConfig {
  let config: ClusterConfig;
  try {
    config = validateConfig(input);
  } catch (err) {
    throw new FsError('EINVAL', (err as Error).message);
  }
  return ctx.tx(() => {
    const old = readConfig(ctx);
    if (old) {
      const same = old.replicas === config.replicas && old.writeQuorum === config.writeQuorum
        && old.readQuorum === config.readQuorum && old.blockSizeBytes === config.blockSizeBytes;
      if (!same) throw new FsError('EEXIST', `cluster already formatted with ${describeConfig(old)}; refusing to format with ${describeConfig(config)}`);
      return old;
    }
    const canonical: ClusterConfig = {
      replicas: config.replicas, writeQuorum: config.writeQuorum, readQuorum: config.readQuorum, blockSizeBytes: config.blockSizeBytes,
    };
    ctx.stmt('INSERT INTO config (key, value) VALUES (?, ?)').run(CONFIG_KEY, JSON.stringify(canonical));
    return canonical;
  });
}

export function listServers(ctx: SqlContext): ServerInfo[] {
  const rows = ctx.stmt('SELECT idx, url, id FROM servers ORDER BY idx').all() as Array<{ idx: number; url: string; id: string | null }>;
  return rows.map((r) => ({ index: r.idx, url: r.url, id: r.id }));
}

/**
 * Replaces the membership list. A server listed again at the same index and URL without an id keeps
 * the id it was last seen with, so re-registering (every `up`) does not make it look blank.
 */
export function setServers(ctx: SqlContext, servers: ServerInfo[]): void {
  const seen = new Set<number>();
  for (const s of servers) {
    if (!Number.isInteger(s.index) || s.index < 1) throw new FsError('EINVAL', `server index must be a whole number >= 1, got ${s.index}`);
    if (seen.has(s.index)) throw new FsError('EINVAL', `server index ${s.index} listed twice`);
    if (typeof s.url !== 'string' || s.url === '') throw new FsError('EINVAL', `server ${s.index} has no url`);
    seen.add(s.index);
  }
  ctx.tx(() => {
    const old = new Map(listServers(ctx).map((s) => [s.index, s]));
    ctx.stmt('DELETE FROM servers').run();
    const ins = ctx.stmt('INSERT INTO servers (idx, url, id) VALUES (?, ?, ?)');
    for (const s of servers) {
      const prev = old.get(s.index);
      ins.run(s.index, s.url, s.id ?? (prev && prev.url === s.url ? prev.id : null));
    }
  });
}

export function setServerId(ctx: SqlContext, index: number, id: string): void {
  const info = ctx.stmt('UPDATE servers SET id = ? WHERE idx = ?').run(id, index);
  if (info.changes === 0) throw new FsError('ENOENT', `no data server with index ${index}`);
}

export function reportFaults(ctx: SqlContext, faults: BlockFault[], nowMs: number): void {
  for (const f of faults) {
    checkHash(f.hash);
    if (!Number.isInteger(f.server) || f.server < 1) throw new FsError('EINVAL', `fault server index must be a whole number >= 1, got ${f.server}`);
    if (!FAULT_REASONS.has(f.reason)) throw new FsError('EINVAL', `unknown fault reason ${JSON.stringify(f.reason)}`);
  }
  ctx.tx(() => {
    // A copy already queued stays queued once, with its first reason, age and backoff; if it was
    // queued in bulk (a rebuild), someone has now met it, so it moves ahead (priority 0).
    const ins = ctx.stmt(
      `INSERT INTO faults (hash, server, reason, created_ms, priority) VALUES (?, ?, ?, ?, 0)
       ON CONFLICT(hash, server) DO UPDATE SET priority = 0`,
    );
    for (const f of faults) ins.run(hashToBuf(f.hash), f.server, f.reason, nowMs);
  });
}

export function listFaults(ctx: SqlContext, limit: number): BlockFault[] {
  const rows = ctx
    .stmt('SELECT hash, server, reason FROM faults ORDER BY created_ms, hash, server LIMIT ?')
    .all(Math.max(0, Math.floor(limit))) as Array<{ hash: Buffer; server: number; reason: FaultReason }>;
  return rows.map((r) => ({ hash: r.hash.toString('hex'), server: r.server, reason: r.reason }));
}

export function clearFault(ctx: SqlContext, f: BlockFault): void {
  ctx.stmt('DELETE FROM faults WHERE hash = ? AND server = ?').run(hashToBuf(checkHash(f.hash)), f.server);
}

export function listBlocks(ctx: SqlContext): Array<{ hash: string; refs: number; size: number }> {
  const rows = ctx
    .stmt('SELECT hash, refs, COALESCE(size, 0) AS size FROM blocks WHERE refs > 0 ORDER BY hash')
    .all() as Array<{ hash: Buffer; refs: number; size: number }>;
  return rows.map((r) => ({ hash: r.hash.toString('hex'), refs: r.refs, size: r.size }));
}

export function statfs(ctx: SqlContext): StatFs {
  const files = (ctx.stmt('SELECT count(*) AS n FROM inodes').get() as { n: number }).n;
  const b = ctx.stmt('SELECT count(*) AS n, COALESCE(sum(size), 0) AS bytes FROM blocks WHERE refs > 0').get() as { n: number; bytes: number };
  return { files, blocks: b.n, blockBytes: b.bytes };
}
