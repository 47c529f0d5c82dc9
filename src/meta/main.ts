// The metadata server process: opens the store named by the URL, serves HTTP, and closes the
// store cleanly on SIGTERM/SIGINT (SQLite checkpoints the WAL on close).
import { createServer } from 'node:http';
import { listenLocalSocket } from '../common/local-socket.js';
import type { Logger } from '../common/log.js';
import { healingEndpoints } from '../repair/admin-endpoints.js';
import { HealingEngine } from '../repair/engine.js';
import { openStore } from './open-store.js';
import { ChangeFeed, DEFAULT_LEASE_MS } from './change-feed.js';
import { createMetaHandler } from './server.js';
import { linksServed } from '../common/link-frames.js';

export interface MetaServerOptions {
  metaUrl: string;
  host: string;
  port: number;
  secret: string;
  logger: Logger;
  /** Self-healing: repair workers, bandwidth, failure detection and garbage collection (src/repair/). */
  repairConcurrency: number;
  repairRateMbPerS: number;
  downAfterMs: number;
  gcGraceMs: number;
  /** Namespace changes are fsync'd in groups within this long (0: each one; see SqlContext.txNamespace). */
  namespaceSyncMs?: number;
  /** Also answer on this Unix socket (clients on this machine; see src/common/local-socket.ts). */
  socketPath?: string;
}

/** Longer than clients' idle pools hold connections, so the server is not the side that drops them. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** A request that has not finished arriving in this time is abandoned (slow-client bound). */
const REQUEST_TIMEOUT_MS = 120_000;

/** Resolves once the server listens; the process then lives until a signal stops it. */
export async function runMetaServer(opts: MetaServerOptions): Promise<void> {
  const log = opts.logger;
  const store = await openStore(opts.metaUrl, { namespaceSyncMs: opts.namespaceSyncMs });
  const engine = new HealingEngine({
    store, secret: opts.secret, logger: log.child({ part: 'heal' }), repairConcurrency: opts.repairConcurrency,
    repairRateMbPerS: opts.repairRateMbPerS, downAfterMs: opts.downAfterMs, gcGraceMs: opts.gcGraceMs,
  });
  const feed = new ChangeFeed({
    leaseMs: DEFAULT_LEASE_MS,
    graceUntil: await store.leaseHorizon(),
    persistHorizon: (untilMs) => store.setLeaseHorizon({ untilMs }),
  });
  const handler = createMetaHandler(engine.apiStore(), { secret: opts.secret, logger: log, extraAdmin: healingEndpoints(engine), feed });
  const server = createServer({ keepAlive: true, requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => {
    void handler(req, res);
  });
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  // Without a listener Node answers an Upgrade request as a plain one: 404, and clients use HTTP.
  if (linksServed()) server.on('upgrade', handler.upgrade);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'meta server stopping');
    feed.close();
    server.close();
    server.closeAllConnections();
    engine.stop().then(() => store.close()).then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'closing the metadata store failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      void store.close();
      reject(new Error(`meta server cannot listen on ${opts.host}:${opts.port}: ${err.code ?? err.message}`));
    });
    server.listen(opts.port, opts.host, () => resolve());
  });
  if (opts.socketPath) await listenLocalSocket(server, opts.socketPath);
  engine.start();
  log.info({ host: opts.host, port: opts.port, socket: opts.socketPath ?? null, meta: opts.metaUrl, formatted: await store.isFormatted() }, 'meta server listening');
}
