// `quorumfs eval`: the report's Tables 1-6, and what the report could not run, on real clusters.
import type { Command } from 'commander';
import { parseIntArg, parseSizeArg, MIN_BLOCK_SIZE_BYTES } from '../common/config.js';

/** Short, so a write that cannot reach Qw fails quickly: ~90 cells run in a minute or two. */
const EVAL_WRITE_WAIT_MS = 300;

function parallel(raw: string): number {
  const n = parseIntArg('--parallel', raw);
  if (n < 1) throw new Error(`--parallel must be at least 1, got ${n}`);
  return n;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description("run the report's Tables 1-6 and further tables on real local clusters started in a temp dir (kills and corrupts their servers)")
    .option('--json', 'machine-readable output')
    .option('--block-size <bytes>', 'block size of the eval clusters', String(MIN_BLOCK_SIZE_BYTES))
    .option('--write-wait-ms <ms>', 'how long a write waits for Qw servers before EIO', String(EVAL_WRITE_WAIT_MS))
    .option('--isolated-crash-cells', 'restart every crashed server between crash cells (slower; by default each row reaches k crashed servers by killing one more)')
    .option('--parallel <n>', 'clusters run at once (each N data servers and a metadata server)', '2')
    .option('--keep', 'keep the clusters\' directory (printed on stderr) for inspection')
    .addHelpText('after', '\nEvery cell is predicted by DESIGN.md: write succeeds iff N - crashed >= Qw, read iff N - crashed - corrupted >= Qr.\n' +
      'Exit status: 0 if every cell is as predicted, 1 if any is not (a bug) or on error.')
    .action(async (o: { json?: boolean; blockSize: string; writeWaitMs: string; parallel: string; keep?: boolean; isolatedCrashCells?: boolean }) => {
      // Loaded on demand: every server process parses this CLI, and should not load eval to do so.
      const [{ formatEval }, { cellCount, runEval }, { createProgress }] = await Promise.all([
        import('../eval/format.js'), import('../eval/run-eval.js'), import('../fsck/progress.js'),
      ]);
      const progress = createProgress();
      progress.phase('eval cells', cellCount());
      let interrupted = false;
      const onSigint = () => {
        interrupted = true;
        process.stderr.write('\nquorumfs eval: interrupted; stopping after the current cell and its clusters\n');
      };
      // The clusters are this process's children in spirit: stop them rather than leave them running.
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, onSigint);
      try {
        const result = await runEval({
          blockSizeBytes: parseSizeArg('--block-size', o.blockSize),
          writeWaitMs: parseIntArg('--write-wait-ms', o.writeWaitMs),
          requestTimeoutMs: 5_000,
          keep: o.keep === true,
          parallel: parallel(o.parallel),
          isolatedCrashCells: o.isolatedCrashCells === true,
          onCell: () => progress.tick(),
          aborted: () => interrupted,
          onRoot: (root) => { if (o.keep) process.stderr.write(`eval clusters in ${root}\n`); },
        });
        progress.stop();
        process.stdout.write((o.json ? JSON.stringify(result, null, 2) : formatEval(result)) + '\n');
        if (result.mismatches.length) process.exitCode = 1;
      } finally {
        progress.stop();
        for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(sig, onSigint);
      }
    });
}
