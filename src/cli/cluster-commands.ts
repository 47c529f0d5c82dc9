import type { Command } from 'commander';
import { DEFAULT_CONFIG, parseIntArg, parseSizeArg } from '../common/config.js';
import { readSecretFile } from '../common/auth.js';
import { paths, requireClusterState, metaUrlOf } from '../cluster/state.js';
import { clusterDir } from './options.js';
import { unmountClusterMounts } from './cluster-mounts.js';

/** Loaded when a command runs: they bring the HTTP client, which `--help` and the servers' own
 * argument parsing should not pay for. */
const local = () => import('../cluster/local.js');

interface UpFlags {
  dir?: string;
  replicas?: string;
  writeQuorum?: string;
  readQuorum?: string;
  blockSize?: string;
  detach?: boolean;
  mount?: string;
}

/** `quorumfs up`, `down` and `status`: the local cluster's life cycle. */
export function registerClusterCommands(program: Command, hooks: { mount?: (dir: string, mountpoint: string) => Promise<() => Promise<void>> } = {}): void {
  program
    .command('up')
    .description('start (or resume) a local cluster: one metadata server and N data servers on loopback')
    .option('--dir <dir>', 'cluster directory', '.quorumfs')
    .option('--replicas <n>', `N, copies of every block (default ${DEFAULT_CONFIG.replicas})`)
    .option('--write-quorum <qw>', `Qw, durable copies before a write is acknowledged (default ${DEFAULT_CONFIG.writeQuorum})`)
    .option('--read-quorum <qr>', `Qr, verified copies a read needs (default ${DEFAULT_CONFIG.readQuorum})`)
    .option('--block-size <bytes>', `block size, fixed at creation (default ${DEFAULT_CONFIG.blockSizeBytes})`)
    .option('--detach', 'return once every server answers, leaving them running')
    .option('--mount <mountpoint>', 'also mount the file system there')
    .action(async (o: UpFlags) => {
      const dir = clusterDir(o);
      const config = {
        replicas: o.replicas === undefined ? undefined : parseIntArg('--replicas', o.replicas),
        writeQuorum: o.writeQuorum === undefined ? undefined : parseIntArg('--write-quorum', o.writeQuorum),
        readQuorum: o.readQuorum === undefined ? undefined : parseIntArg('--read-quorum', o.readQuorum),
        blockSizeBytes: o.blockSize === undefined ? undefined : parseSizeArg('--block-size', o.blockSize),
      };
      // Flags given for a new cluster fill in from the report's defaults (N=5, Qw=5, Qr=3), but a
      // smaller N alone must not leave Qw=5 > N: scale the quorums with it.
      const defaults = { ...DEFAULT_CONFIG };
      if (config.replicas !== undefined && config.writeQuorum === undefined) defaults.writeQuorum = config.replicas;
      if (config.replicas !== undefined && config.readQuorum === undefined) {
        defaults.readQuorum = Math.min(config.replicas, Math.max(1, config.replicas - (config.writeQuorum ?? config.replicas) + 1, Math.ceil(config.replicas / 2)));
      }
      const { prepareCluster, startCluster, stopCluster } = await local();
      const state = await prepareCluster({ dir, config }, defaults);
      const run = await startCluster(dir, state);
      const c = state.config;
      process.stdout.write(`QuorumFS cluster up in ${dir}: N=${c.replicas} Qw=${c.writeQuorum} Qr=${c.readQuorum}, metadata server ${metaUrlOf(state)}\n`);
      let unmount: (() => Promise<void>) | undefined;
      if (o.mount) {
        if (!hooks.mount) throw new Error('this build has no FUSE mount support');
        unmount = await hooks.mount(dir, o.mount);
      }
      if (o.detach) return;
      process.stdout.write('running in the foreground; Ctrl-C stops the cluster\n');
      // A pending promise alone does not keep Node running: hold the event loop open until a signal.
      const keepAlive = setInterval(() => undefined, 1 << 30);
      await new Promise<void>((resolve) => {
        const stop = () => resolve();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      clearInterval(keepAlive);
      process.stdout.write('stopping...\n');
      if (unmount) await unmount().catch((err: unknown) => process.stderr.write(`quorumfs: unmount failed: ${String(err)}\n`));
      await stopCluster(dir, state, run);
    });

  program
    .command('down')
    .description('stop the local cluster')
    .option('--dir <dir>', 'cluster directory', '.quorumfs')
    .action(async (o: { dir?: string }) => {
      const dir = clusterDir(o);
      const state = requireClusterState(dir);
      for (const mp of await unmountClusterMounts(dir, metaUrlOf(state))) process.stdout.write(`unmounted ${mp}\n`);
      const n = await (await local()).stopCluster(dir, state);
      process.stdout.write(n ? `stopped ${n} server${n === 1 ? '' : 's'} in ${dir}\n` : `no server was running in ${dir}\n`);
    });

  program
    .command('status')
    .description('show servers, their blocks and bytes, the config and under-replicated blocks')
    .option('--dir <dir>', 'cluster directory', '.quorumfs')
    .option('--json', 'machine-readable output')
    .action(async (o: { dir?: string; json?: boolean }) => {
      const dir = clusterDir(o);
      const state = requireClusterState(dir);
      const { clusterStatus, formatStatus } = await import('../cluster/status.js');
      const status = await clusterStatus(state, readSecretFile(paths.secret(dir)));
      process.stdout.write(o.json ? JSON.stringify(status, null, 2) + '\n' : formatStatus(status) + '\n');
    });
}
