// `quorumfs chaos ...`: real faults for the local cluster (the report's terminate, restart0,
// corrupt and list_contents): SIGKILL, restart, bytes flipped on disk, a wiped data directory.
import type { Command } from 'commander';
import { DEFAULT_CLUSTER_DIR } from '../cluster/state.js';
import { remotePath } from './file-commands.js';

type DirFlag = { dir: string };

/** Loaded on demand: every server process parses this CLI, and should not load chaos to do so. */
const lib = () => import('../eval/chaos/run-chaos.js');

function print(lines: string[]): void {
  process.stdout.write(lines.map((l) => l + '\n').join(''));
}

export function registerChaosCommands(program: Command): void {
  const chaos = program
    .command('chaos')
    .description('inject real faults into a local cluster: kill, restart, corrupt, wipe a data server; list what it stores');
  const sub = (name: string, description: string) =>
    chaos.command(name).description(description).option('--dir <dir>', 'cluster directory', DEFAULT_CLUSTER_DIR);

  sub('kill <K>', 'SIGKILL data server K (a crash: no shutdown, no flush)')
    .action(async (k: string, o: DirFlag) => print(await (await lib()).chaosKill(o.dir, k)));

  sub('restart <K>', 'start data server K again with its data directory (killing it first if it runs)')
    .action(async (k: string, o: DirFlag) => print(await (await lib()).chaosRestart(o.dir, k)));

  sub('corrupt <K>', 'flip bytes, in place, of the block files data server K stores (all of them, also with the cluster stopped; or those of one file)')
    .option('--path <file>', 'only the blocks of this file in the file system')
    .action(async (k: string, o: DirFlag & { path?: string }) =>
      print(await (await lib()).chaosCorrupt(o.dir, k, o.path === undefined ? undefined : remotePath(o.path))));

  sub('wipe <K>', 'kill data server K, delete its data directory entirely and start it blank (a new identity)')
    .action(async (k: string, o: DirFlag) => print(await (await lib()).chaosWipe(o.dir, k)));

  sub('ls <K>', 'list the blocks data server K stores on disk, their sizes and the files that reference them')
    .option('--json', 'machine-readable output')
    .action(async (k: string, o: DirFlag & { json?: boolean }) => print(await (await lib()).chaosLs(o.dir, k, o.json === true)));
}
