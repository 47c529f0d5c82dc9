import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseIntArg, parseSizeArg, DEFAULT_CONFIG } from '../common/config.js';
import { readSecretFile } from '../common/auth.js';
import { parseListen } from '../common/http-server.js';
import { socketPathFits } from '../common/local-socket.js';
import { lifecycle } from './lifecycle.js';
import { DEFAULT_NAMESPACE_SYNC_DELAY_MS } from '../meta/sqlite/sql-context.js';

/** Defaults repeated here (not imported) so one-shot commands do not load the server modules. */
const SCRUB_RATE_DEFAULT_MB_PER_S = '16';
const SCRUB_INTERVAL_DEFAULT_MS = '60000';
const SPARE_FILES_DEFAULT = '1024';

/** A non-negative decimal like 16 or 0.5; anything else is refused with the flag's name. */
function parseRateArg(name: string, raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw.trim())) throw new Error(`${name} must be a number >= 0 (e.g. 16 or 0.5), got "${raw}"`);
  return Number(raw.trim());
}

/** `quorumfs data-server` and `quorumfs meta-server`: long-running server processes. */
export function registerServerCommands(program: Command): void {
  program
    .command('data-server')
    .description('run a data server that stores blocks in DIR')
    .requiredOption('--dir <dir>', 'data directory (blocks, identity file)')
    .requiredOption('--listen <host:port>', 'address to listen on')
    .requiredOption('--secret-file <file>', 'file holding the cluster secret (mode 0600)')
    .option('--block-size <bytes>', 'largest block accepted', String(DEFAULT_CONFIG.blockSizeBytes))
    .option('--index <k>', 'server number shown in logs (1..N)', '0')
    .option('--meta <url>', 'metadata server URL (e.g. http://127.0.0.1:9100): send heartbeats and report faults found')
    .option('--scrub-rate-mb-per-s <r>', 'background re-hashing of stored blocks, MB/s (0 disables)', SCRUB_RATE_DEFAULT_MB_PER_S)
    .option('--scrub-interval-ms <ms>', 'pause between scrub passes', SCRUB_INTERVAL_DEFAULT_MS)
    .option('--socket <path>', 'also listen on this Unix socket, for clients on this machine')
    .option('--spare-files <n>', 'empty files made at startup for new blocks, so a write does not wait for inode allocation (0: none)', SPARE_FILES_DEFAULT)
    .action(async (o: {
      dir: string; listen: string; secretFile: string; blockSize: string; index: string; meta?: string; scrubRateMbPerS: string; scrubIntervalMs: string;
      socket?: string; spareFiles: string;
    }) => {
      const listen = parseListen(o.listen);
      const index = parseIntArg('--index', o.index);
      if (o.meta !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(o.meta)) throw new Error(`--meta must be the metadata server's URL, e.g. http://127.0.0.1:9100, got "${o.meta}"`);
      const scrubRateMbPerS = parseRateArg('--scrub-rate-mb-per-s', o.scrubRateMbPerS);
      const scrubIntervalMs = parseIntArg('--scrub-interval-ms', o.scrubIntervalMs);
      lifecycle.longRunning = true;
      // Loaded on demand: one-shot commands should not pay for the server modules.
      const [{ runDataServer }, { createLogger }] = await Promise.all([import('../dataserver/main.js'), import('../common/log.js')]);
      await runDataServer({
        dir: o.dir,
        host: listen.host,
        port: listen.port,
        secret: readSecretFile(o.secretFile),
        blockSizeBytes: parseSizeArg('--block-size', o.blockSize),
        logger: createLogger('data-server', { server: index }),
        index,
        metaUrl: o.meta,
        scrubRateMbPerS,
        scrubIntervalMs,
        socketPath: checkSocketArg(o.socket),
        spareFiles: parseIntArg('--spare-files', o.spareFiles),
      });
    });

  program
    .command('meta-server')
    .description('run the metadata server')
    .requiredOption('--meta <url>', 'metadata store URL, e.g. sqlite:///var/lib/quorumfs/meta.db')
    .requiredOption('--listen <host:port>', 'address to listen on')
    .requiredOption('--secret-file <file>', 'file holding the cluster secret (mode 0600)')
    .option('--repair-concurrency <n>', 'blocks repaired at once', '4')
    .option('--repair-rate-mb-per-s <r>', 'bandwidth repair and rebuild may use, MB/s (0: unlimited)', '64')
    .option('--down-after-ms <ms>', 'a data server silent this long is down', '5000')
    .option('--gc-grace-ms <ms>', 'unreferenced blocks are deleted from the data servers after this long', '600000')
    .option('--namespace-sync-ms <ms>', 'namespace changes are fsync\'d in groups within this long (file data never waits; 0: fsync each)', String(DEFAULT_NAMESPACE_SYNC_DELAY_MS))
    .option('--socket <path>', 'also listen on this Unix socket, for clients on this machine')
    .action(async (o: {
      meta: string; listen: string; secretFile: string; repairConcurrency: string; repairRateMbPerS: string; downAfterMs: string; gcGraceMs: string;
      namespaceSyncMs: string; socket?: string;
    }) => {
      const listen = parseListen(o.listen);
      const repairConcurrency = parseIntArg('--repair-concurrency', o.repairConcurrency);
      if (repairConcurrency < 1 || repairConcurrency > 256) throw new Error(`--repair-concurrency must be 1..256, got ${repairConcurrency}`);
      const healing = {
        repairConcurrency,
        repairRateMbPerS: parseRateArg('--repair-rate-mb-per-s', o.repairRateMbPerS),
        downAfterMs: parseIntArg('--down-after-ms', o.downAfterMs),
        gcGraceMs: parseIntArg('--gc-grace-ms', o.gcGraceMs),
      };
      const namespaceSyncMs = parseIntArg('--namespace-sync-ms', o.namespaceSyncMs);
      lifecycle.longRunning = true;
      const [{ runMetaServer }, { createLogger }] = await Promise.all([import('../meta/main.js'), import('../common/log.js')]);
      await runMetaServer({
        metaUrl: o.meta,
        host: listen.host,
        port: listen.port,
        secret: readSecretFile(o.secretFile),
        logger: createLogger('meta-server'),
        namespaceSyncMs,
        socketPath: checkSocketArg(o.socket),
        ...healing,
      });
    });
}

function checkSocketArg(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const abs = resolve(path);
  if (!socketPathFits(abs)) throw new Error(`--socket path is too long for a Unix socket (at most 100 bytes): ${abs}`);
  return abs;
}
