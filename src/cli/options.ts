import type { Command } from 'commander';
import { resolve } from 'node:path';
import { DEFAULT_CLUSTER_DIR } from '../cluster/state.js';

export interface EndpointOptions {
  dir?: string;
  meta?: string;
  secretFile?: string;
}

/** The options every client command takes: a local cluster dir, or a remote metadata server. */
export function endpointOptions(cmd: Command): Command {
  return cmd
    .option('--dir <dir>', `local cluster directory (default ${DEFAULT_CLUSTER_DIR})`)
    .option('--meta <url>', 'metadata server URL, e.g. http://10.0.0.5:9100 (instead of --dir)')
    .option('--secret-file <file>', 'cluster secret file (with --meta)');
}

export function clusterDir(o: { dir?: string }): string {
  return resolve(o.dir ?? DEFAULT_CLUSTER_DIR);
}
