// Where things are: the repository (from dist/bench/lib/), the CLI, the shared benchmark scripts,
// the scratch root for clusters and mounts, and the results folder.
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/bench/lib/paths.js -> repository root. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(REPO_ROOT, 'bin', 'quorumfs.js');
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
/** Per-run logs (every file ends in .log, which .gitignore already ignores). */
export const LOG_DIR = join(RESULTS_DIR, 'logs');
/** The in-memory file system mounted through the same FUSE binding (the binding's ceiling). */
export const MEM_MOUNT_JS = join(REPO_ROOT, 'dist', 'test', 'helpers', 'fuse-mem-mount.js');
export const MEM_MOUNT_TS = join(REPO_ROOT, 'test', 'helpers', 'fuse-mem-mount.ts');

/** ../shared/bench relative to the repository, or QUORUMFS_SHARED_BENCH. */
export function sharedBenchDir(): string {
  return resolve(process.env.QUORUMFS_SHARED_BENCH ?? join(REPO_ROOT, '..', 'shared', 'bench'));
}

export function fsbenchScript(): string {
  return join(sharedBenchDir(), 'fsbench.sh');
}

export function peerScript(name: string): string {
  return join(sharedBenchDir(), 'peers', name);
}

/** Scratch root: QUORUMFS_BENCH_TMP or the system temp dir. Everything the run creates is under it. */
export function scratchParent(): string {
  const p = resolve(process.env.QUORUMFS_BENCH_TMP ?? tmpdir());
  if (!existsSync(p)) mkdirSync(p, { recursive: true });
  return p;
}

export const SCRATCH_PREFIX = 'quorumfs-bench-';
