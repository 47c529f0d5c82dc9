// Runs every table of the plan on real clusters, compares each cell with DESIGN.md's prediction
// (a difference is a bug) and with the report (a difference needs a stated reason).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCorruptCell, runCrashRow, type CellOutcome, type OpOutcome } from './cell.js';
import { startEvalCluster, type HarnessOptions } from './harness.js';
import { evalPlan, predict, reportMark, type ColumnSpec, type Fault, type TableSpec } from './plan.js';
import { BLANK_CELL_NOTE, reportCellNote } from './report-tables.js';

export type Op = 'write' | 'read';

export interface OpResult {
  observed: boolean;
  predicted: boolean;
  /** The report's mark: absent for tables the report does not have, null where the seed text is blank. */
  report?: boolean | null;
  detail?: string;
  /** The read returned bytes other than those written (always a bug). */
  wrongBytes?: true;
  /** Why this cell differs from the report (or how, when the outcome is the same). */
  note?: string;
}

export interface RowResult {
  fault: Fault;
  k: number;
  servers: number[];
  label: string;
  write: OpResult;
  read: OpResult;
}

export interface TableResult {
  name: string;
  config: { replicas: number; writeQuorum: number; readQuorum: number };
  report?: string;
  why?: string;
  headers: Record<Fault, string>;
  rows: RowResult[];
}

export interface Mismatch {
  table: string;
  fault: Fault;
  k: number;
  servers: number[];
  op: Op;
  predicted: boolean;
  observed: boolean;
  reason: string;
}

export interface EvalResult {
  tables: TableResult[];
  mismatches: Mismatch[];
  elapsedMs: number;
}

export interface EvalOptions extends HarnessOptions {
  /** Where the clusters live; a new temp dir (removed afterwards) when absent. */
  root?: string;
  keep?: boolean;
  /** Restart every crashed server between crash cells (slower; the default reaches each cell's state incrementally). */
  isolatedCrashCells?: boolean;
  onRoot?: (root: string) => void;
  onCell?: (table: TableSpec, col: ColumnSpec) => void;
  /** Stops between cells when it returns true (Ctrl-C). */
  aborted?: () => boolean;
  /** Clusters running at once (default DEFAULT_EVAL_PARALLEL). */
  parallel?: number;
}

export function cellCount(plan: TableSpec[] = evalPlan()): number {
  return plan.reduce((n, t) => n + t.groups.reduce((m, g) => m + g.columns.length, 0), 0);
}

/** Clusters run at once by default: eval's time goes to process starts and waits, which overlap. */
export const DEFAULT_EVAL_PARALLEL = 2;

export async function runEval(opts: EvalOptions): Promise<EvalResult> {
  const started = Date.now();
  const plan = evalPlan();
  const root = opts.root ?? (await mkdtemp(join(tmpdir(), 'quorumfs-eval-')));
  opts.onRoot?.(root);
  const results = new Map<TableSpec, TableResult>();
  const mismatches = new Map<TableSpec, Mismatch[]>();
  // Tables sharing N and Qw share one cluster, started once; their tables run in the plan's order.
  // Clusters are independent (own directory, ports and processes), so several run at once; the
  // largest first, so the lanes end close together.
  const byCluster = [...new Set(plan.map((t) => t.cluster.key))]
    .map((key) => plan.filter((t) => t.cluster.key === key))
    .sort((a, b) => cellCount(b) - cellCount(a));
  let seq = 0;
  let failed = false;
  let firstError: unknown;
  // Checked before every cell; throwing from inside a crash row still restarts its servers.
  const beginCell = (t: TableSpec, col: ColumnSpec) => {
    if (opts.aborted?.() || failed) throw new Error('eval interrupted');
    opts.onCell?.(t, col);
  };
  const runCluster = async (tables: TableSpec[]) => {
    const cluster = await startEvalCluster(root, tables[0]!.cluster, opts);
    try {
      for (const t of tables) {
        const res = tableResult(t);
        results.set(t, res);
        mismatches.set(t, []);
        for (const g of t.groups) {
          const paths = new Map(g.columns.map((col) => [col, cellPath(t, col, ++seq)]));
          const outcomes: CellOutcome[] = [];
          if (g.fault === 'crash') {
            outcomes.push(...await runCrashRow(cluster, t.readQuorum, g.columns, (col) => paths.get(col)!, {
              isolated: opts.isolatedCrashCells === true, onCell: (col) => beginCell(t, col),
            }));
          } else {
            for (const col of g.columns) {
              beginCell(t, col);
              outcomes.push(await runCorruptCell(cluster, t.readQuorum, col, paths.get(col)!));
            }
          }
          g.columns.forEach((col, i) => {
            const row = judgeCell(t, col, outcomes[i]!);
            res.rows.push(row);
            mismatches.get(t)!.push(...mismatchesOf(t, row));
          });
        }
      }
    } finally {
      await cluster.stop();
    }
  };
  const lane = async () => {
    for (let tables = byCluster.shift(); tables && !failed; tables = byCluster.shift()) {
      try {
        await runCluster(tables);
      } catch (err) {
        // The other lanes stop at their next cell, and stop their clusters.
        if (!failed) firstError = err;
        failed = true;
        return;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.parallel ?? DEFAULT_EVAL_PARALLEL) }, lane));
    if (failed) throw firstError;
  } finally {
    if (!opts.keep && !opts.root) await rm(root, { recursive: true, force: true });
  }
  return {
    tables: plan.map((t) => results.get(t)!).filter(Boolean),
    mismatches: plan.flatMap((t) => mismatches.get(t) ?? []),
    elapsedMs: Date.now() - started,
  };
}

function tableResult(t: TableSpec): TableResult {
  const header = (f: Fault) => t.groups.find((g) => g.fault === f)?.header ?? '';
  return {
    name: t.name,
    config: { replicas: t.cluster.replicas, writeQuorum: t.cluster.writeQuorum, readQuorum: t.readQuorum },
    ...(t.report ? { report: t.report.caption } : {}),
    ...(t.why ? { why: t.why } : {}),
    headers: { corrupt: header('corrupt'), crash: header('crash') },
    rows: [],
  };
}

function cellPath(t: TableSpec, col: ColumnSpec, seq: number): string {
  const slug = t.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
  return `/eval/${String(seq).padStart(3, '0')}-${slug}-${col.fault}-${col.label}`;
}

export function judgeCell(t: TableSpec, col: ColumnSpec, o: CellOutcome): RowResult {
  const p = predict(t, col);
  const op = (which: Op, out: OpOutcome): OpResult => {
    const r: OpResult = { observed: out.ok, predicted: p[which] };
    const report = reportMark(t, col, which);
    if (report !== undefined) r.report = report;
    if (out.detail) r.detail = out.detail;
    if (out.wrongBytes) r.wrongBytes = true;
    const note = t.report ? reportCellNote(t.report.caption, col.fault, col.k, which) : undefined;
    // The documented difference holds only if the failure really was an EIO, not some other error.
    if (note && !out.ok && out.detail?.startsWith('EIO')) r.note = note;
    else if (report === null) r.note = BLANK_CELL_NOTE;
    return r;
  };
  return { fault: col.fault, k: col.k, servers: col.servers, label: col.label, write: op('write', o.write), read: op('read', o.read) };
}

export function mismatchesOf(t: TableSpec, row: RowResult): Mismatch[] {
  const out: Mismatch[] = [];
  for (const op of ['write', 'read'] as const) {
    const r = row[op];
    const base = { table: t.name, fault: row.fault, k: row.k, servers: row.servers, op, predicted: r.predicted, observed: r.observed };
    if (r.wrongBytes) out.push({ ...base, reason: `wrong bytes: ${r.detail}` });
    else if (r.observed !== r.predicted) {
      out.push({ ...base, reason: `DESIGN.md predicts ${r.predicted ? 'success' : 'failure'}, observed ${r.observed ? 'success' : `failure (${r.detail})`}` });
    }
  }
  return out;
}
