// `quorumfs mount` and `quorumfs umount`: their flags; what they do is in mount-run.ts, loaded
// when one of them runs.
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { DEFAULT_BINDING, parseBindingName } from '../fuse/binding-name.js';
import { endpointOptions } from './options.js';
import type { MountFlags } from './mount-run.js';

const run = () => import('./mount-run.js');

/** For `quorumfs up --mount`: a background mount of the local cluster in dir, and how to undo it. */
export async function mountLocalCluster(dir: string, mountpoint: string): Promise<() => Promise<void>> {
  return (await run()).mountLocalCluster(dir, mountpoint);
}

export function registerMountCommands(program: Command): void {
  endpointOptions(
    program
      .command('mount')
      .description('mount the file system at MOUNTPOINT (in the background unless --foreground)')
      .argument('<mountpoint>', 'directory to mount on (created if missing, must be empty)'),
  )
    .option('--foreground', 'stay attached; Ctrl-C or SIGTERM unmounts')
    .option('--log-file <file>', 'log of the background mount (default: a file in the temp dir named after the mountpoint)')
    .option('--attr-timeout <seconds>', 'kernel cache of attributes and names; 0 = strict close-to-open between mounts', '0')
    .option('--allow-other', 'let other users in (the kernel then enforces file modes)')
    .option('--sync-unlink', 'answer each unlink only once the metadata server has made it (default: at once, sent in batches; see README)')
    .option('--binding <kernel|libfuse>', `FUSE binding: kernel (/dev/fuse directly, needs root) or libfuse (default: $QUORUMFS_FUSE_BINDING, else ${DEFAULT_BINDING})`)
    .action(async (mountpoint: string, o: MountFlags) => {
      if (o.meta && o.dir) throw new Error('use either --dir or --meta, not both');
      if (o.binding !== undefined) parseBindingName(o.binding);
      const { parseSeconds, runForeground, mountInBackground } = await run();
      parseSeconds('--attr-timeout', o.attrTimeout);
      if (o.foreground) return runForeground(mountpoint, o);
      const abs = await mountInBackground(mountpoint, o);
      process.stdout.write(`mounted at ${abs}\n`);
    });

  program
    .command('umount')
    .alias('unmount')
    .description('unmount a QuorumFS mount (a stale one left by a killed process too)')
    .argument('<mountpoint>')
    .option('--lazy', 'detach now even if busy; the kernel lets go when the last user does')
    .action(async (mountpoint: string, o: { lazy?: boolean }) => {
      await (await run()).unmountQuorumFs(mountpoint, { lazy: !!o.lazy });
      process.stdout.write(`unmounted ${resolve(mountpoint)}\n`);
    });
}
