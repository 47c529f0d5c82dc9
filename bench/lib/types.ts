// What a workload produces: rows for the table (each a figure beside its baseline, as ratios) and
// the raw figures for latest.json.
import type { Cleanups } from './cleanup.js';

export type Status = 'ok' | 'FAIL' | 'TIMEOUT' | 'skipped';

export interface Row {
  workload: string;
  target: string;
  figure: string;
  /** Higher is better for every figure with ratios (rates: MiB/s, ops/s, iops, files/s). */
  value: number | null;
  unit: string;
  /** How the value reads in the table when "value unit" would not say it (e.g. "0 of 3 ..."). */
  display?: string;
  status: Status;
  baseline?: { label: string; value: number | null; unit: string };
  /** value / baseline value. */
  vsBaseline?: number | null;
  /** value / the best peer's value for the same figure (with --peers; peers at their defaults). */
  vsBestPeer?: number | null;
  /** value / the best "fsync before close" peer variant's value for the same figure (with --peers). */
  vsBestFsyncPeer?: number | null;
  /** value / the in-memory file system's value through the same FUSE binding. */
  vsCeiling?: number | null;
  note?: string;
}

export interface WorkloadResult {
  name: string;
  title: string;
  status: Status;
  reason?: string;
  seconds: number;
  rows: Row[];
  notes: string[];
  raw: Record<string, unknown>;
}

export interface Ctx {
  quick: boolean;
  peers: boolean;
  /** fsbench: how many times each target runs (each figure's best is kept). */
  rounds: number;
  /** Fires on the workload's time limit or Ctrl-C. Cleanup code must not use it. */
  signal: AbortSignal;
  /** This run's scratch dir (deleted at the end). */
  scratch: string;
  logDir: string;
  cleanups: Cleanups;
  log(msg: string): void;
}

export interface Workload {
  name: string;
  title: string;
  /** Wall-clock bound for the whole workload. */
  timeoutMs(quick: boolean): number;
  run(ctx: Ctx, out: WorkloadResult): Promise<void>;
}
