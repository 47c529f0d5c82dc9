import type { Command } from 'commander';
import { parseIntArg, parseSizeArg, DEFAULT_CONFIG } from '../common/config.js';
import { readSecretFile } from '../common/auth.js';
import { parseListen } from '../common/http-server.js';
import { createLogger } from '../common/log.js';
import { lifecycle } from './lifecycle.js';

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
    .action(async (o: { dir: string; listen: string; secretFile: string; blockSize: string; index: string }) => {
      const listen = parseListen(o.listen);
      const index = parseIntArg('--index', o.index);
      lifecycle.longRunning = true;
      // Loaded on demand: one-shot commands should not pay for the server modules.
      const { runDataServer } = await import('../dataserver/main.js');
      await runDataServer({
        dir: o.dir,
        host: listen.host,
        port: listen.port,
        secret: readSecretFile(o.secretFile),
        blockSizeBytes: parseSizeArg('--block-size', o.blockSize),
        logger: createLogger('data-server', { server: index }),
      });
    });

  program
    .command('meta-server')
    .description('run the metadata server')
    .requiredOption('--meta <url>', 'metadata store URL, e.g. sqlite:///var/lib/quorumfs/meta.db')
    .requiredOption('--listen <host:port>', 'address to listen on')
    .requiredOption('--secret-file <file>', 'file holding the cluster secret (mode 0600)')
    .action(async (o: { meta: string; listen: string; secretFile: string }) => {
      const listen = parseListen(o.listen);
      lifecycle.longRunning = true;
      const { runMetaServer } = await import('../meta/main.js');
      await runMetaServer({
        metaUrl: o.meta,
        host: listen.host,
        port: listen.port,
        secret: readSecretFile(o.secretFile),
        logger: createLogger('meta-server'),
      });
    });
}
