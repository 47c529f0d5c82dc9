// A progress bar on stderr for long checks, shown only to a person at a terminal: scripts and
// tests that capture stderr get the one-line error contract and nothing else.
import cliProgress from 'cli-progress';

export interface Progress {
  /** Starts (or restarts) a phase of `total` steps. */
  phase(label: string, total: number): void;
  tick(steps?: number): void;
  stop(): void;
}

const silent: Progress = { phase: () => undefined, tick: () => undefined, stop: () => undefined };

export function createProgress(enabled = process.stderr.isTTY === true): Progress {
  if (!enabled) return silent;
  let bar: cliProgress.SingleBar | null = null;
  const stop = () => {
    bar?.stop();
    bar = null;
  };
  return {
    phase(label, total) {
      stop();
      bar = new cliProgress.SingleBar({
        stream: process.stderr,
        format: `${label.padEnd(22)} [{bar}] {percentage}% | {value}/{total} | {duration_formatted}`,
        clearOnComplete: true,
        hideCursor: true,
        fps: 10,
      }, cliProgress.Presets.shades_classic);
      bar.start(Math.max(total, 1), 0);
    },
    tick(steps = 1) {
      bar?.increment(steps);
    },
    stop,
  };
}
