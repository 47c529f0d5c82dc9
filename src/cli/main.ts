import { Command, CommanderError } from 'commander';
import { isFsError } from '../common/errors.js';
import { lifecycle } from './lifecycle.js';
import { registerServerCommands } from './server-commands.js';
import { registerClusterCommands } from './cluster-commands.js';
import { registerFileCommands } from './file-commands.js';
import { registerMountCommands, mountLocalCluster } from './mount-commands.js';
import { registerChaosCommands } from './chaos-commands.js';
import { registerFsckCommand } from './fsck-command.js';
import { registerEvalCommand } from './eval-command.js';

/** Entry point of the `quorumfs` binary; every failure ends as one line on stderr and exit 1. */
export async function main(argv: string[]): Promise<void> {
  const program = new Command('quorumfs')
    .description('QuorumFS: a replicated file system with quorum reads and writes')
    .exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error: ') ? `quorumfs: ${s.slice(7)}` : s) });
  registerServerCommands(program);
  registerClusterCommands(program, { mount: mountLocalCluster });
  registerFileCommands(program);
  registerMountCommands(program);
  registerChaosCommands(program);
  registerFsckCommand(program);
  registerEvalCommand(program);
  // Error lines name the full command ("quorumfs chaos kill: ..."), not just its first word.
  let commandName = '';
  program.hook('preAction', (_root, action) => {
    const names: string[] = [];
    for (let c: Command | null = action; c && c !== program; c = c.parent) names.unshift(c.name());
    commandName = names.join(' ');
  });
  try {
    await program.parseAsync(argv);
    if (!lifecycle.longRunning) {
      await new Promise<void>((r) => (process.stdout.writableLength ? process.stdout.once('drain', () => r()) : r()));
      process.exit(process.exitCode ?? 0);
    }
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const cmd = commandName || (program.args[0] ?? '');
    const msg = isFsError(err) ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
    process.stderr.write(`quorumfs${cmd ? ` ${cmd}` : ''}: ${msg.split('\n')[0]}\n`);
    process.exit(1);
  }
}
