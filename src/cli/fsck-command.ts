// `quorumfs fsck`: checks that every block of every file has N verified copies; --repair refills
// the under-replicated ones from verified copies.
import type { Command } from 'commander';
import { endpointOptions, type EndpointOptions } from './options.js';

export function registerFsckCommand(program: Command): void {
  endpointOptions(program.command('fsck')
    .description('verify every copy of every block of every file; list files as healthy, under-replicated or unrecoverable')
    .option('--repair', 'copy blocks with 1..N-1 good copies to the servers lacking them, then verify again')
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExit status: 0 if every file is healthy (after repair, with --repair), 1 otherwise or on error.\n' +
      'Corrupt copies found are quarantined by their data server, as on any read.'))
    .action(async (o: EndpointOptions & { repair?: boolean; json?: boolean }) => {
      // Loaded on demand: every server process parses this CLI, and should not load fsck to do so.
      const [{ resolveEndpoint }, { formatFsck }, { createProgress }, { runFsck }] = await Promise.all([
        import('../client/connect.js'), import('../fsck/format.js'), import('../fsck/progress.js'), import('../fsck/run-fsck.js'),
      ]);
      const { metaUrl, secret } = resolveEndpoint(o);
      const result = await runFsck({ metaUrl, secret, repair: o.repair === true, progress: createProgress() });
      process.stdout.write(o.json ? JSON.stringify(result, null, 2) + '\n' : formatFsck(result) + '\n');
      const s = result.summary;
      if (s.underReplicated + s.unrecoverable > 0 || result.changedDuringCheck.length > 0) process.exitCode = 1;
    });
}
