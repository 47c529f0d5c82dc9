// fsck's text report: one line per path (status first so `grep -v ^healthy` finds the trouble),
// repair actions, and a summary line.
import type { FileReport, BlockProblem } from './classify.js';
import type { FsckResult } from './run-fsck.js';

function short(hash: string): string {
  return hash.slice(0, 12);
}

function list(xs: number[]): string {
  return xs.join(',');
}

function describeProblem(p: BlockProblem, N: number): string {
  const parts = [`${p.goodCopies}/${N} good`];
  if (p.corruptOn.length) parts.push(`corrupt on ${list(p.corruptOn)}`);
  if (p.missingOn.length) parts.push(`missing on ${list(p.missingOn)}`);
  if (p.downOn.length) parts.push(`server${p.downOn.length > 1 ? 's' : ''} ${list(p.downOn)} down`);
  if (p.errorOn.length) parts.push(`error on ${list(p.errorOn)}`);
  return `block ${short(p.hash)}: ${parts.join(', ')}`;
}

export function formatFileLine(r: FileReport, N: number): string {
  const head = `${r.status.padEnd(16)}  ${r.paths.join(' = ')}`;
  const counts = `${r.blocks} block${r.blocks === 1 ? '' : 's'}, ${r.sizeBytes} bytes`;
  if (r.status === 'healthy') return `${head}  (${counts}, ${N}/${N} copies each)`;
  const shown = r.problems.slice(0, 3).map((p) => describeProblem(p, N));
  const more = r.problems.length > 3 ? `; and ${r.problems.length - 3} more blocks` : '';
  return `${head}  (${counts}, fewest good copies ${r.minGoodCopies}/${N}; ${shown.join('; ')}${more})`;
}

function summaryLine(prefix: string, s: FsckResult['summary']): string {
  return `${prefix}${s.files} file${s.files === 1 ? '' : 's'}, ${s.blocks} block${s.blocks === 1 ? '' : 's'}: ` +
    `${s.healthy} healthy, ${s.underReplicated} under-replicated, ${s.unrecoverable} unrecoverable`;
}

export function formatFsck(r: FsckResult): string {
  const N = r.config.replicas;
  const lines: string[] = [];
  for (const s of r.servers) if (!s.up) lines.push(`warning: data server ${s.index} (${s.url}) is down; its copies count as missing`);
  if (r.repair) {
    const rep = r.repair;
    lines.push(summaryLine('before repair: ', rep.before));
    for (const a of rep.actions) {
      lines.push(a.ok
        ? `repaired  block ${short(a.hash)} on server ${a.server} (copied from server ${list(a.from)})`
        : `NOT FIXED block ${short(a.hash)} on server ${a.server}: ${a.reason}`);
    }
    for (const s of rep.skipped) lines.push(`NOT FIXED block ${short(s.hash)} on server ${s.server}: ${s.reason}`);
    for (const h of rep.unrecoverableBlocks) lines.push(`LOST      block ${short(h)}: no server has a good copy; no repair can restore it`);
    const fixed = rep.actions.filter((a) => a.ok).length;
    lines.push(`repair: ${fixed} cop${fixed === 1 ? 'y' : 'ies'} restored, ${rep.actions.length - fixed + rep.skipped.length} not restored, ${rep.unrecoverableBlocks.length} block${rep.unrecoverableBlocks.length === 1 ? '' : 's'} unrecoverable`);
  }
  for (const f of r.files) lines.push(formatFileLine(f, N));
  for (const p of r.changedDuringCheck) lines.push(`skipped           ${p}  (rewritten during the check; run fsck again)`);
  lines.push(summaryLine(r.repair ? 'fsck after repair: ' : 'fsck: ', r.summary));
  return lines.join('\n');
}
