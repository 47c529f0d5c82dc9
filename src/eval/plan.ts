// What `quorumfs eval` runs: the report's six tables, then what the report could not configure.
// Every cell is predicted by DESIGN.md's two rules before it runs (see predict()).
import { REPORT_TABLES, type ReportTable } from './report-tables.js';

export type Fault = 'corrupt' | 'crash';

/** One cluster that several tables share: N and Qw are fixed at format time, Qr is per client. */
export interface ClusterSpec {
  key: string;
  replicas: number;
  writeQuorum: number;
  /** Qr stored at format time; tables read with their own Qr client. */
  readQuorum: number;
}

export interface ColumnSpec {
  fault: Fault;
  k: number;
  /** Data servers (1-based) that are corrupted or crashed in this cell. */
  servers: number[];
  /** Shown in the column header. */
  label: string;
}

export interface RowGroup {
  fault: Fault;
  header: string;
  columns: ColumnSpec[];
}

export interface TableSpec {
  name: string;
  cluster: ClusterSpec;
  readQuorum: number;
  groups: RowGroup[];
  report?: ReportTable;
  /** What the table shows that the report could not. */
  why?: string;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const first = (k: number) => range(k).map((i) => i + 1);

function standardGroups(n: number): RowGroup[] {
  const group = (fault: Fault, header: string): RowGroup => ({
    fault, header, columns: range(n + 1).map((k) => ({ fault, k, servers: first(k), label: String(k) })),
  });
  return [group('corrupt', 'Number of Corruption'), group('crash', 'Number of Crash')];
}

const CLUSTERS = {
  single: { key: 'n1-qw1', replicas: 1, writeQuorum: 1, readQuorum: 1 },
  report: { key: 'n5-qw5', replicas: 5, writeQuorum: 5, readQuorum: 3 },
  qw3: { key: 'n5-qw3', replicas: 5, writeQuorum: 3, readQuorum: 3 },
  n3: { key: 'n3-qw2', replicas: 3, writeQuorum: 2, readQuorum: 2 },
  n7: { key: 'n7-qw4', replicas: 7, writeQuorum: 4, readQuorum: 4 },
} satisfies Record<string, ClusterSpec>;

export function evalPlan(): TableSpec[] {
  const reportTables = REPORT_TABLES.map((r): TableSpec => ({
    name: r.caption.replace('.', ' '),
    cluster: r.replicas === 1 ? CLUSTERS.single : CLUSTERS.report,
    readQuorum: r.readQuorum,
    groups: standardGroups(r.replicas),
    report: r,
  }));
  const goodCopyOn: RowGroup = {
    fault: 'corrupt',
    header: 'Good copy only on server',
    columns: first(5).map((s) => ({ fault: 'corrupt', k: 4, servers: first(5).filter((x) => x !== s), label: String(s) })),
  };
  return [
    ...reportTables,
    { name: 'Qw=3 with crashes', cluster: CLUSTERS.qw3, readQuorum: 3, groups: standardGroups(5),
      why: 'the report fixed Qw=N, so one crashed server stopped every write; with Qw=3 writes go on with up to 2 servers down' },
    { name: 'Qr=1, 4 of 5 copies corrupted', cluster: CLUSTERS.report, readQuorum: 1, groups: [goodCopyOn],
      why: 'the report compared copies by vote and held that corruption needs Qr>=3; checksummed blocks make one verified copy enough, wherever it is' },
    { name: 'N=3', cluster: CLUSTERS.n3, readQuorum: 2, groups: standardGroups(3),
      why: 'the report could not change N; here N=3, Qw=2, Qr=2' },
    { name: 'N=7', cluster: CLUSTERS.n7, readQuorum: 4, groups: standardGroups(7),
      why: 'the report could not change N; here N=7, Qw=4, Qr=4' },
  ];
}

/** DESIGN.md: a write succeeds iff at least Qw servers are up; a read iff at least Qr hold a good copy. */
export function predict(t: { cluster: ClusterSpec; readQuorum: number }, c: ColumnSpec): { write: boolean; read: boolean } {
  const N = t.cluster.replicas;
  const crashed = c.fault === 'crash' ? c.servers.length : 0;
  const corrupted = c.fault === 'corrupt' ? c.servers.length : 0;
  return { write: N - crashed >= t.cluster.writeQuorum, read: N - crashed - corrupted >= t.readQuorum };
}

/** The report's mark for a cell, if the table is one of the report's. */
export function reportMark(t: TableSpec, c: ColumnSpec, op: 'write' | 'read'): boolean | null | undefined {
  if (!t.report) return undefined;
  const row = c.fault === 'corrupt' ? (op === 'write' ? t.report.corruptWrite : t.report.corruptRead) : (op === 'write' ? t.report.crashWrite : t.report.crashRead);
  return row[c.k];
}
