// Disk capacity of the cluster as `df` on a mount should show it, from the data servers' health.
import type { FsClient } from '../client/types.js';
import type { Logger } from '../common/log.js';
import { AUTH_HEADER, authValue, type DataServerHealth } from '../common/protocol.js';

export interface Capacity {
  totalBytes: number;
  freeBytes: number;
}

export type CapacityProbe = () => Promise<Capacity | null>;

/** df runs statfs often (and some programs before every write); ask the servers at most this often. */
const CACHE_MS = 5_000;
/** A slow or dead server must not make df hang. */
const HEALTH_TIMEOUT_MS = 2_000;

/**
 * Every block goes to N servers. With exactly N servers (each holds everything) the cluster is full
 * when its fullest disk is, so usable space is the minimum; with more servers blocks spread, and
 * the sum divided by N is the estimate. Unreachable servers are left out; none reachable = null.
 */
export function capacityFromHealth(healths: DataServerHealth[], replicas: number): Capacity | null {
  if (healths.length === 0) return null;
  if (healths.length <= replicas) {
    return {
      totalBytes: Math.min(...healths.map((h) => h.diskTotalBytes)),
      freeBytes: Math.min(...healths.map((h) => h.diskFreeBytes)),
    };
  }
  const sum = (f: (h: DataServerHealth) => number) => healths.reduce((a, h) => a + f(h), 0);
  return { totalBytes: Math.floor(sum((h) => h.diskTotalBytes) / replicas), freeBytes: Math.floor(sum((h) => h.diskFreeBytes) / replicas) };
}

export function healthCapacityProbe(client: FsClient, secret: string, logger: Logger): CapacityProbe {
  let cached: { at: number; value: Capacity | null } | null = null;
  let inFlight: Promise<Capacity | null> | null = null;
  const probe = async (): Promise<Capacity | null> => {
    const cluster = await client.meta.getCluster({});
    const results = await Promise.allSettled(cluster.servers.map(async (s) => {
      const res = await fetch(`${s.url}/v1/health`, {
        headers: { [AUTH_HEADER]: authValue(secret) },
        signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`${s.url}/v1/health answered ${res.status}`);
      return (await res.json()) as DataServerHealth;
    }));
    const healths: DataServerHealth[] = [];
    for (const r of results) {
      if (r.status === 'fulfilled' && Number.isFinite(r.value.diskFreeBytes) && Number.isFinite(r.value.diskTotalBytes)) healths.push(r.value);
      else if (r.status === 'rejected') logger.debug({ err: String(r.reason) }, 'statfs: data server health unavailable');
    }
    return capacityFromHealth(healths, cluster.config.replicas);
  };
  return async () => {
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.value;
    inFlight ??= probe().catch((err: unknown) => {
      logger.warn({ err: String(err) }, 'statfs: cannot get capacity from the data servers');
      return null;
    }).finally(() => { inFlight = null; });
    const value = await inFlight;
    cached = { at: Date.now(), value };
    return value;
  };
}
