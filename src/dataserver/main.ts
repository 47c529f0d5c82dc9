import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { MAX_BLOCK_SIZE_BYTES } from '../common/config.js';
import { listenLocalSocket } from '../common/local-socket.js';
import type { Logger } from '../common/log.js';
import { DiskBlockStore } from './block-store.js';
import { HeartbeatLoop } from './heartbeat.js';
import { loadOrCreateIdentity } from './identity.js';
import { MetaLink } from './meta-link.js';
import { PeerFetcher } from './peer-fetch.js';
import { Scrubber } from './scrubber.js';
import { MAX_SPARE_FILES } from './spare-files.js';
import { closeBlockLinks, createDataServer } from './server.js';

export interface DataServerOptions {
  dir: string;
  host: string;
  port: number;
  secret: string;
  blockSizeBytes: number;
  logger: Logger;
  /** Server number 1..N; required with metaUrl (heartbeats and fault reports name it). */
  index: number;
  /** Metadata server base URL: enables heartbeats and fault reports. */
  metaUrl?: string;
  /** Background scrub rate; 0 disables the scrubber. */
  scrubRateMbPerS: number;
  /** Pause between scrub passes. */
  scrubIntervalMs: number;
  /** Also answer on this Unix socket (clients on this machine; see src/common/local-socket.ts). */
  socketPath?: string;
  /** Empty files made at startup for new blocks (spare-files.ts); default SPARE_STOCK. */
  spareFiles?: number;
}

/** In-flight requests (a put between write and rename) get this long to finish on SIGTERM. */
const SHUTDOWN_GRACE_MS = 5_000;

/** Starts a data server on opts.dir; resolves once it is listening. SIGTERM/SIGINT stop it with exit 0. */
export async function runDataServer(opts: DataServerOptions): Promise<void> {
  const { logger } = opts;
  if (!Number.isInteger(opts.blockSizeBytes) || opts.blockSizeBytes < 1 || opts.blockSizeBytes > MAX_BLOCK_SIZE_BYTES) {
    throw new Error(`--block-size must be between 1 and ${MAX_BLOCK_SIZE_BYTES} bytes, got ${opts.blockSizeBytes}`);
  }
  const startedAtMs = Date.now();
  const dir = resolve(opts.dir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const identity = await loadOrCreateIdentity(dir, logger);
  if (opts.metaUrl !== undefined && !(Number.isInteger(opts.index) && opts.index >= 1)) {
    throw new Error('--meta needs --index K (K >= 1): heartbeats and fault reports name the server by its number');
  }
  if (!(opts.scrubRateMbPerS >= 0)) throw new Error(`--scrub-rate-mb-per-s must be >= 0 (0 disables scrubbing), got ${opts.scrubRateMbPerS}`);
  if (opts.spareFiles !== undefined && !(Number.isInteger(opts.spareFiles) && opts.spareFiles >= 0 && opts.spareFiles <= MAX_SPARE_FILES)) {
    throw new Error(`--spare-files must be between 0 and ${MAX_SPARE_FILES}, got ${opts.spareFiles}`);
  }
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: opts.blockSizeBytes, spareStock: opts.spareFiles, logger });
  const link = opts.metaUrl === undefined ? null : new MetaLink(opts.metaUrl.replace(/\/$/, ''), opts.secret, opts.index, logger);
  const fetcher = new PeerFetcher(store, opts.secret, opts.blockSizeBytes, logger);
  const server = createDataServer({
    store, identity, dir, secret: opts.secret, blockSizeBytes: opts.blockSizeBytes, logger, startedAtMs, fetcher,
    onCorrupt: link ? (hash) => link.reportFault(hash, 'corrupt') : undefined,
  });
  await listen(server, opts.host, opts.port);
  const unix = opts.socketPath ? await listenLocalSocket(server, opts.socketPath) : null;
  const scrubber = opts.scrubRateMbPerS > 0
    ? new Scrubber({
      store, rateMbPerS: opts.scrubRateMbPerS, intervalMs: opts.scrubIntervalMs, logger,
      // Without a metadata server the finding is still logged and the copy quarantined.
      report: (hash, reason) => link?.reportFault(hash, reason),
    })
    : null;
  scrubber?.start();
  const heartbeat = link
    ? new HeartbeatLoop({ link, store, dir, index: opts.index, id: identity.id, url: `http://${urlHost(opts.host)}:${opts.port}`, scrubber, logger })
    : null;
  heartbeat?.start();
  installShutdown(server, logger, () => {
    unix?.close();
    scrubber?.stop();
    heartbeat?.stop();
  });
  const stats = await store.stats();
  logger.info({
    host: opts.host, port: opts.port, socket: opts.socketPath ?? null, id: identity.id, dir, blocks: stats.blocks, quarantined: stats.quarantined,
    meta: opts.metaUrl ?? null, scrubRateMbPerS: opts.scrubRateMbPerS,
  }, 'data server listening');
}

/** IPv6 literals need brackets in a URL. */
function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const onError = (err: Error) => reject(new Error(`cannot listen on ${host}:${port}: ${err.message}`));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolvePromise();
    });
  });
}

function installShutdown(server: Server, logger: Logger, stopBackground: () => void): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(0); // a second signal: the operator does not want to wait
    stopping = true;
    stopBackground();
    logger.info({ signal }, 'data server shutting down');
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    closeBlockLinks(server);
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
