import { mkdir } from 'node:fs/promises';
import type { Server } from 'node:http';
import { resolve } from 'node:path';
import { MAX_BLOCK_SIZE_BYTES } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { DiskBlockStore } from './block-store.js';
import { loadOrCreateIdentity } from './identity.js';
import { createDataServer } from './server.js';

export interface DataServerOptions {
  dir: string;
  host: string;
  port: number;
  secret: string;
  blockSizeBytes: number;
  logger: Logger;
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
  const store = await DiskBlockStore.open({ dir, maxBlockSizeBytes: opts.blockSizeBytes });
  const server = createDataServer({ store, identity, dir, secret: opts.secret, blockSizeBytes: opts.blockSizeBytes, logger, startedAtMs });
  await listen(server, opts.host, opts.port);
  installShutdown(server, logger);
  const stats = await store.stats();
  logger.info({ host: opts.host, port: opts.port, id: identity.id, dir, blocks: stats.blocks, quarantined: stats.quarantined }, 'data server listening');
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

function installShutdown(server: Server, logger: Logger): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(0); // a second signal: the operator does not want to wait
    stopping = true;
    logger.info({ signal }, 'data server shutting down');
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), SHUTDOWN_GRACE_MS).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
