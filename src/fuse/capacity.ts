// Disk capacity of the cluster as `df` on a mount should show it, from the data servers' health.
import type { Logger } from '../common/log.js';
import type { DataServerHealth } from '../common/protocol.js';

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

/** What the probe needs of a data server: its health, as the mount's own client asks for it. */
export interface HealthSource {
  health(): Promise<DataServerHealth>;
}

/**
 * Capacity from the data servers' health, asked through the mount's own data clients (their
 * keep-alive pools, on the Unix socket of a local server). The first probe starts at once, and later
 * ones run in the background once the value is CACHE_MS old: statfs answers from what is known and
 * waits only when nothing is yet. `rm -rf` and `df` call statfs first; when a probe ran there, a
 * fresh `fetch` per server (a new connection, and the first use of Node's bundled fetch) took
 * 31-35 ms of a 0.4 s `rm -rf` of 2,000 files.
 */
export function healthCapacityProbe(
  servers: readonly HealthSource[],
  replicas: number,
  logger: Logger,
  opts: { cacheMs?: number; timeoutMs?: number } = {},
): CapacityProbe {
  const cacheMs = opts.cacheMs ?? CACHE_MS;
  const timeoutMs = opts.timeoutMs ?? HEALTH_TIMEOUT_MS;
  let cached: { at: number; value: Capacity | null } | null = null;
  let inFlight: Promise<Capacity | null> | null = null;
  const probe = async (): Promise<Capacity | null> => {
    const results = await Promise.allSettled(servers.map((s) => withTimeout(s.health(), timeoutMs)));
    const healths: DataServerHealth[] = [];
    for (const r of results) {
      if (r.status === 'fulfilled' && Number.isFinite(r.value.diskFreeBytes) && Number.isFinite(r.value.diskTotalBytes)) healths.push(r.value);
      else if (r.status === 'rejected') logger.debug({ err: String(r.reason) }, 'statfs: data server health unavailable');
    }
    return capacityFromHealth(healths, replicas);
  };
  const refresh = (): Promise<Capacity | null> => {
    inFlight ??= probe().catch((err: unknown) => {
      logger.warn({ err: String(err) }, 'statfs: cannot get capacity from the data servers');
      return null;
    }).then((value) => {
      cached = { at: Date.now(), value };
      return value;
    }).finally(() => { inFlight = null; });
    return inFlight;
  };
  void refresh();
  return async () => {
    if (!cached) return refresh();
    if (Date.now() - cached.at >= cacheMs) void refresh();
    return cached.value;
  };
}

/** p, or a rejection once ms have passed (the request itself is left to its own timeouts). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
