import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { readSecretFile } from '../common/auth.js';
import { validateConfig } from '../common/config.js';
import { silentLogger, type Logger } from '../common/log.js';
import { paths, requireClusterState, metaUrlOf, localSockets, DEFAULT_CLUSTER_DIR } from '../cluster/state.js';
import { DataClient } from './data-client.js';
import { MetaClient } from './meta-client.js';
import { CachingMeta } from './meta-cache.js';
import { Mediator } from './quorum.js';
import { DirReadAhead, FRESH_MS, READ_AHEAD_FILES } from './dir-read-ahead.js';
import { BlockCache } from './block-cache.js';
import { DirtyBudget } from './dirty-budget.js';
import { QuorumFsClient } from './fs-client.js';

export interface ConnectOptions {
  metaUrl: string;
  secret: string;
  logger?: Logger;
  /** How long a write waits for Qw servers before EIO (QUORUMFS_WRITE_WAIT_MS overrides the default). */
  writeWaitMs?: number;
  requestTimeoutMs?: number;
  /**
   * Per-client read quorum (like a per-request consistency level). It must still satisfy
   * Qr + Qw > N with the cluster's Qw, so it can never read around the latest write.
   */
  readQuorum?: number;
  /** Memory for blocks fetched by open files (see BlockCache). */
  cacheBytes?: number;
  /**
   * Keep metadata in a cache that the server's change feed keeps exact (meta-cache.ts): for a
   * long-lived client such as a mount. QUORUMFS_META_CACHE=0 turns it off.
   */
  cacheMetadata?: boolean;
  /**
   * With cacheMetadata: unlinks are answered at once and sent in batches (unlink-queue.ts), for a
   * mount; a failed one is reported by the next fsync of a directory.
   */
  asyncUnlink?: boolean;
  /** How long a block read ahead across a directory's files may serve an open (dir-read-ahead.ts FRESH_MS). */
  readAheadFreshMs?: number;
  /** Unix sockets of servers on this machine, by the URL they also answer on (cluster/state.ts localSockets). */
  sockets?: ReadonlyMap<string, string>;
}

export const DEFAULT_WRITE_WAIT_MS = 10_000;
/** Fetched blocks kept for open files (QUORUMFS_CACHE_MB overrides): a 128 MiB random-read working set fits. */
export const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
/**
 * Written blocks held before upload, over all open files (QUORUMFS_DIRTY_MB overrides): room for a
 * 128 MiB random-write working set. Sequential writers upload each block as it fills, so they hold little.
 */
export const DEFAULT_DIRTY_BYTES = 256 * 1024 * 1024;

function envInt(name: string): number | undefined {
  const v = process.env[name];
  return v && /^\d+$/.test(v) ? Number(v) : undefined;
}

export async function connectClient(opts: ConnectOptions): Promise<QuorumFsClient> {
  const logger = opts.logger ?? silentLogger();
  const caching = (opts.cacheMetadata ?? false) && process.env.QUORUMFS_META_CACHE !== '0';
  const sockets = process.env.QUORUMFS_LOCAL_SOCKETS === '0' ? new Map<string, string>() : (opts.sockets ?? new Map<string, string>());
  const metaClient = new MetaClient({ url: opts.metaUrl, secret: opts.secret, clientId: caching ? randomUUID() : undefined, socketPath: sockets.get(opts.metaUrl) });
  let cluster;
  try {
    cluster = await metaClient.api.getCluster({});
  } catch (err) {
    await metaClient.close();
    throw err;
  }
  const config = opts.readQuorum === undefined ? cluster.config : validateConfig({ ...cluster.config, readQuorum: opts.readQuorum });
  const requestTimeoutMs = opts.requestTimeoutMs ?? envInt('QUORUMFS_REQUEST_TIMEOUT_MS') ?? 15_000;
  const servers = cluster.servers
    .slice()
    .sort((a, b) => a.index - b.index)
    .map((s) => new DataClient({ index: s.index, url: s.url, secret: opts.secret, requestTimeoutMs, connectTimeoutMs: 2_000, connections: 8, socketPath: sockets.get(s.url) }));
  const mediator = new Mediator({
    config,
    servers,
    reportFaults: (faults) => metaClient.api.reportFaults({ faults }),
    reserveBlocks: (hashes) => metaClient.api.reserveBlocks({ hashes }),
    writeWaitMs: opts.writeWaitMs ?? envInt('QUORUMFS_WRITE_WAIT_MS') ?? DEFAULT_WRITE_WAIT_MS,
    retryIntervalMs: 200,
    maxBlocksInFlight: 8,
    syncBatchBlocks: 8,
    maxHeldBlocks: 16,
    reservationRefreshMs: envInt('QUORUMFS_RESERVATION_REFRESH_MS'),
    logger,
  });
  const cacheMb = envInt('QUORUMFS_CACHE_MB');
  const cache = new BlockCache(opts.cacheBytes ?? (cacheMb === undefined ? DEFAULT_CACHE_BYTES : cacheMb * 1024 * 1024), config.blockSizeBytes);
  const metaCache = caching
    ? new CachingMeta(metaClient, { logger, blockSizeBytes: config.blockSizeBytes, ...(opts.asyncUnlink ? { asyncUnlink: { giveUpMs: requestTimeoutMs } } : {}) })
    : null;
  metaCache?.start();
  const dirtyMb = envInt('QUORUMFS_DIRTY_MB');
  const dirty = new DirtyBudget(dirtyMb === undefined ? DEFAULT_DIRTY_BYTES : dirtyMb * 1024 * 1024);
  const readAhead = metaCache ? new DirReadAhead(metaCache, mediator, cache, READ_AHEAD_FILES, opts.readAheadFreshMs ?? FRESH_MS) : null;
  return new QuorumFsClient(metaCache ?? metaClient.api, mediator, { dirty, readAheadBlocks: 8, cache }, async () => {
    await metaCache?.flushUnlinks();
    metaCache?.stop();
    await Promise.all([metaClient.close(), ...servers.map((s) => s.close())]);
  }, readAhead);
}

/** Resolves `--dir DIR` (a local cluster) or `--meta URL --secret-file FILE` into a connected client. */
export async function connectFromOptions(o: { dir?: string; meta?: string; secretFile?: string; logger?: Logger }): Promise<QuorumFsClient> {
  return connectClient({ ...resolveEndpoint(o), logger: o.logger });
}

/** Where a client connects; `sockets` only for a local cluster given by its directory. */
export interface Endpoint {
  metaUrl: string;
  secret: string;
  sockets?: ReadonlyMap<string, string>;
}

export function resolveEndpoint(o: { dir?: string; meta?: string; secretFile?: string }): Endpoint {
  if (o.meta) {
    if (!o.secretFile) throw new Error('--meta needs --secret-file FILE with the cluster secret');
    if (!/^https?:\/\/[^/]+\/?$/.test(o.meta)) throw new Error(`--meta must be the metadata server's URL, e.g. http://127.0.0.1:9100, got "${o.meta}"`);
    return { metaUrl: o.meta.replace(/\/$/, ''), secret: readSecretFile(o.secretFile) };
  }
  const dir = resolve(o.dir ?? DEFAULT_CLUSTER_DIR);
  const state = requireClusterState(dir);
  return { metaUrl: metaUrlOf(state), secret: readSecretFile(o.secretFile ?? paths.secret(dir)), sockets: localSockets(dir, state) };
}
