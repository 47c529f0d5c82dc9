// eval's text output: each table as the report lays it out, the report's marks beside the
// prediction and what this cluster did, with every differing cell marked and explained.
import type { EvalResult, OpResult, RowResult, TableResult } from './run-eval.js';
import type { Fault } from './plan.js';

const OK = '√';
const FAIL = '×';
const LABEL_WIDTH = 26;
const CELL_WIDTH = 3;

function mark(v: boolean | null | undefined): string {
  return v === null || v === undefined ? '?' : v ? OK : FAIL;
}

/** '!' = differs from DESIGN.md's prediction (a bug); '*' = differs from the report, or has a note. */
function flag(r: OpResult): string {
  if (r.observed !== r.predicted || r.wrongBytes) return '!';
  if (r.note || (r.report !== undefined && r.report !== null && r.report !== r.observed)) return '*';
  return '';
}

function cells(values: string[]): string {
  return values.map((v) => v.padEnd(CELL_WIDTH)).join('');
}

function block(rows: RowResult[], pick: (r: RowResult) => string): string {
  return cells(rows.map(pick));
}

function opName(op: 'write' | 'read'): string {
  return op === 'write' ? 'Result of Write' : 'Result of Read';
}

function faultName(f: Fault, k: number, servers: number[]): string {
  return `${f === 'corrupt' ? 'corrupted' : 'crashed'} ${k} (server${servers.length === 1 ? '' : 's'} ${servers.join(',') || 'none'})`;
}

export function formatTable(t: TableResult): string[] {
  const c = t.config;
  const lines = [`${t.name}: N=${c.replicas} Qw=${c.writeQuorum} Qr=${c.readQuorum}${t.report ? ` (the report's ${t.report})` : ''}`];
  if (t.why) lines.push(`  ${t.why}`);
  const hasReport = t.report !== undefined;
  const anyRows = t.rows[0];
  if (!anyRows) return lines;
  const faults = [...new Set(t.rows.map((r) => r.fault))];
  const blocks = [...(hasReport ? ['report'] : []), 'predicted', 'observed'];
  const columns = Math.max(...faults.map((f) => t.rows.filter((r) => r.fault === f).length));
  const width = Math.max(columns * CELL_WIDTH + 3, ...blocks.map((b) => b.length + 2));
  lines.push(' '.repeat(LABEL_WIDTH) + blocks.map((b) => b.padEnd(width)).join(''));
  const footnotes: string[] = [];
  for (const f of faults) {
    const rows = t.rows.filter((r) => r.fault === f);
    const header = block(rows, (r) => r.label).padEnd(width);
    lines.push(t.headers[f].padEnd(LABEL_WIDTH) + header.repeat(blocks.length));
    for (const op of ['write', 'read'] as const) {
      const parts = [
        ...(hasReport ? [block(rows, (r) => mark(r[op].report))] : []),
        block(rows, (r) => mark(r[op].predicted)),
        block(rows, (r) => mark(r[op].observed) + flag(r[op])),
      ];
      lines.push(opName(op).padEnd(LABEL_WIDTH) + parts.map((p) => p.padEnd(width)).join(''));
      for (const r of rows) {
        const o = r[op];
        const fl = flag(o);
        if (!fl && !(o.report === null)) continue;
        const where = `${op}, ${faultName(f, r.k, r.servers)}`;
        if (fl === '!') footnotes.push(`  ! ${where}: BUG, predicted ${mark(o.predicted)}, observed ${mark(o.observed)}${o.wrongBytes ? ' (WRONG BYTES)' : ''}${o.detail ? `: ${o.detail}` : ''}`);
        else if (o.note) footnotes.push(`  ${fl || ' '} ${where}: report ${mark(o.report)}, observed ${mark(o.observed)}: ${o.note}`);
        else if (fl === '*') footnotes.push(`  * ${where}: report ${mark(o.report)}, observed ${mark(o.observed)}, as predicted${o.detail ? ` (${o.detail})` : ''}`);
      }
    }
  }
  return lines.concat(footnotes);
}

export function formatEval(r: EvalResult): string {
  const lines: string[] = [];
  for (const t of r.tables) lines.push(...formatTable(t), '');
  lines.push(`legend: ${OK} succeeded, ${FAIL} failed, ? blank in the report's text; ! differs from DESIGN.md's prediction (a bug), * differs from the report or noted`);
  const cellsRun = r.tables.reduce((n, t) => n + t.rows.length, 0);
  lines.push(r.mismatches.length
    ? `eval: ${r.mismatches.length} cell${r.mismatches.length === 1 ? '' : 's'} of ${cellsRun} ${r.mismatches.length === 1 ? 'differs' : 'differ'} from DESIGN.md's prediction (bugs) in ${(r.elapsedMs / 1000).toFixed(1)} s`
    : `eval: all ${cellsRun} cells (each a real write and a real read) as DESIGN.md predicts, in ${(r.elapsedMs / 1000).toFixed(1)} s`);
  return lines.join('\n');
}
