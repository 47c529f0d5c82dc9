// (b) The shared fsbench.sh on a local directory (the baseline), QuorumFS mounts at N=3/Qw=3/Qr=1
// and N=5/Qw=5/Qr=3, the in-memory file system mounted through the same FUSE binding (the
// binding's ceiling) and, with --peers, MooseFS and GlusterFS brought up by the shared scripts,
// MooseFS a second time with its chunkservers set to fsync before closing a chunk.
// Every figure is reported as a ratio to the local directory, to the best peer at its defaults,
// to the best "fsync before close" peer variant and to the ceiling. Before fsbench.sh, every
// QuorumFS and peer mount also gets the ack probe (lib/ackprobe.ts): did close() and fsync() wait
// for the servers' fsync?
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { ackProbe, describeCase, straceAvailable, summarizeCase, type AckProbe } from '../lib/ackprobe.js';
import { DEFAULT_SPEC } from '../lib/cluster.js';
import { fsbenchScript } from '../lib/paths.js';
import { run, lastLine } from '../lib/proc.js';
import type { Ctx, Row, Workload, WorkloadResult } from '../lib/types.js';
import { fmtRatio } from '../lib/report.js';
import {
  GLUSTER_NOTE, MEMORY_SETTLE_MS, MOOSE_FSYNC_NOTE, SETTLE_MS, localTarget, memCeiling, peerTarget, peerVariants, qfsTarget,
  settleDisk, settleMemory, type Mounted, type TargetDef, type TargetKind,
} from '../lib/targets.js';
import { checkAbort, errMsg, ratio } from '../lib/util.js';
import { cpuTimes, stealPercent } from '../lib/machine.js';

/** Figures that are rates (higher is better), in fsbench's order. */
export const RATE_FIGURES = [
  'seq_write_1M_fsync', 'seq_read_1M_cold', 'rand_write_4k', 'rand_read_4k',
  'small_create', 'small_stat_lsR', 'small_read_verify', 'small_delete', 'cp_r_files_per_s',
];

interface Figure {
  value: number | null;
  /** As printed: a number, FAIL or TIMEOUT. */
  text: string;
  unit: string;
}


interface TargetResult {
  key: string;
  label: string;
  kind: TargetKind;
  /** For a 'peer-fsync' target: the key of the same peer at its defaults. */
  defaultKey?: string;
  status: 'ok' | 'FAIL' | 'skipped';
  reason?: string;
  /** Over all rounds. */
  seconds?: number;
  /** Each rate from its best round (see mergeRounds). */
  figures: Record<string, Figure>;
  /** Which round (from 1) each rate comes from. */
  bestRound?: Record<string, number>;
  rounds: RoundResult[];
  probe?: AckProbe;
  probeError?: string;
}

/** One run of fsbench.sh on a fresh target. */
interface RoundResult {
  status: 'ok' | 'FAIL';
  reason?: string;
  seconds?: number;
  figures: Record<string, Figure>;
  /** How long the target waited for the disk to settle after the previous disk-backed one. */
  settledSeconds?: number;
  /** 1, 5 and 15-minute load averages right before fsbench.sh started: a busy machine slows some targets more than others. */
  loadavgBefore?: number[];
  /** Share of the machine's CPU time stolen by its host while fsbench.sh ran, in percent. */
  stealPct?: number;
}

function tunables(quick: boolean): Record<string, string> {
  const fromEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('FSBENCH_')) as [string, string][]);
  const base = quick
    ? { FSBENCH_SEQ_MB: '64', FSBENCH_RAND_MB: '16', FSBENCH_RAND_SECS: '3', FSBENCH_NFILES: '300', FSBENCH_CP_SRC: '/usr/include/linux', FSBENCH_STEP_TIMEOUT: '60', FSBENCH_CP_TIMEOUT: '45' }
    : { FSBENCH_SEQ_MB: '512', FSBENCH_RAND_MB: '128', FSBENCH_RAND_SECS: '10', FSBENCH_NFILES: '2000', FSBENCH_CP_SRC: '/usr/include', FSBENCH_STEP_TIMEOUT: '90', FSBENCH_CP_TIMEOUT: '90' };
  if (!existsSync(base.FSBENCH_CP_SRC)) base.FSBENCH_CP_SRC = '/usr/share/doc';
  return { ...base, ...fromEnv };
}

/** Upper bound on one fsbench.sh run from its own per-step limits. */
function fsbenchBoundMs(t: Record<string, string>): number {
  const step = Number(t.FSBENCH_STEP_TIMEOUT ?? 90);
  const cp = Number(t.FSBENCH_CP_TIMEOUT ?? 90);
  const rs = Number(t.FSBENCH_RAND_SECS ?? 10);
  return (8 * step + 2 * (rs + 70) + cp + 3 * 130 + 240) * 1000;
}

function parseTsv(text: string): Record<string, Figure> {
  const out: Record<string, Figure> = {};
  for (const line of text.split('\n')) {
    const [, figure, value, unit] = line.split('\t');
    if (!figure || value === undefined) continue;
    const n = Number(value);
    out[figure] = { value: value !== '' && Number.isFinite(n) ? n : null, text: value, unit: unit ?? '' };
  }
  return out;
}

export const fsbench: Workload = {
  name: 'fsbench',
  title: 'fsbench.sh',
  timeoutMs: (quick) => (quick ? 60 : 240) * 60_000,
  async run(ctx: Ctx, out: WorkloadResult) {
    const script = fsbenchScript();
    if (!existsSync(script)) throw new Error(`${script} not found (set QUORUMFS_SHARED_BENCH to the shared bench folder)`);
    const tun = tunables(ctx.quick);
    out.raw.tunables = tun;
    const title = 'fsbench.sh';
    const targets: TargetDef[] = [
      localTarget('fsbench-local'),
      // The in-memory ceilings run while the disk settles after the local directory's deletions.
      memCeiling('kernel'),
      memCeiling('libfuse'),
      qfsTarget('fsbench-n3', { replicas: 3, writeQuorum: 3, readQuorum: 1 }),
      qfsTarget('fsbench-n5', DEFAULT_SPEC),
    ];
    if (ctx.peers) {
      targets.push(...peerVariants().map(peerTarget));
      out.notes.push(MOOSE_FSYNC_NOTE, GLUSTER_NOTE);
    }
    const probing = straceAvailable();
    if (!probing) out.notes.push('ack probe skipped: strace is not installed (apt-get install strace)');

    const settleMs = ctx.quick ? 0 : SETTLE_MS;
    if (settleMs) out.notes.push(`each disk-backed target starts at least ${settleMs / 1000} s after the previous one's files were deleted, and after a sync (see SETTLE_MS in bench/workloads/fsbench.ts)`);
    let lastDiskTeardown = 0;
    let memoryNoted = false;

    const results: TargetResult[] = targets.map((t) => ({ key: t.key, label: t.label, kind: t.kind, defaultKey: t.defaultKey, status: 'ok', figures: {}, rounds: [] }));
    out.raw.targets = results;
    try {
      for (let round = 1; round <= ctx.rounds; round++) {
        for (const [i, t] of targets.entries()) {
          checkAbort(ctx.signal);
          const res = results[i]!;
          if (round === 1) {
            const why = t.skip?.() ?? null;
            if (why) {
              res.status = 'skipped';
              res.reason = why;
              out.notes.push(`fsbench on ${t.label}: skipped (${why})`);
            }
          }
          if (res.status === 'skipped') continue;
          const settledSeconds = t.kind !== 'ceiling' && lastDiskTeardown ? await settleDisk(ctx, lastDiskTeardown + settleMs) : undefined;
          if (settleMs) {
            const settled = await settleMemory(ctx);
            if (!memoryNoted) {
              memoryNoted = true;
              out.notes.push(settled
                ? `every target starts after a sync, the page cache dropped and a ${MEMORY_SETTLE_MS / 1000} s pause (see MEMORY_SETTLE_MS in bench/workloads/fsbench.ts)`
                : 'could not drop the page cache before each target (needs root): targets start from whatever memory state the one before left');
            }
          }
          ctx.log(`fsbench${ctx.rounds > 1 ? ` round ${round}/${ctx.rounds}` : ''}: ${t.label}`);
          const r = await measureTarget(ctx, t, res, { script, tun, probe: probing && round === 1 });
          r.settledSeconds = settledSeconds;
          if (t.kind !== 'ceiling') lastDiskTeardown = Date.now();
          res.rounds.push(r);
          mergeRounds(res);
        }
      }
      const steal = results.filter((r) => r.rounds.length).map((r) => `${r.label} ${r.rounds.map((x) => `${x.stealPct?.toFixed(1) ?? '?'}%`).join(' / ')}`);
      if (steal.length) out.notes.push(`CPU steal while fsbench.sh ran (the share of this VM's CPU time its host gave to others${ctx.rounds > 1 ? ', per round' : ''}): ${steal.join('; ')}`);
    } finally {
      // Also after a failure or Ctrl-C: the targets measured so far still make rows.
      out.rows.push(...fsbenchRows(title, results));
    }
  },
};

interface MeasureOptions {
  script: string;
  tun: Record<string, string>;
  /** Run the ack probe before fsbench.sh (once per target is enough: it measures what waits for what). */
  probe: boolean;
}

/** Sets the target up, probes it if asked, runs fsbench.sh once and tears the target down. */
async function measureTarget(ctx: Ctx, t: TargetDef, res: TargetResult, o: MeasureOptions): Promise<RoundResult> {
  const r: RoundResult = { status: 'ok', figures: {} };
  let m: Mounted | null = null;
  const started = Date.now();
  try {
    m = await t.setup(ctx);
    if (o.probe && m.probeServers) {
      try {
        res.probe = await ackProbe(ctx, m.dir, m.probeServers(), t.key);
        for (const c of res.probe.cases) ctx.log(`ack probe ${t.label}: ${c.op}(): ${summarizeCase(c, res.probe.noun)}; ${describeCase(c, res.probe.noun)}`);
      } catch (err) {
        checkAbort(ctx.signal);
        res.probeError = errMsg(err);
        ctx.log(`ack probe on ${t.label} failed: ${res.probeError}`);
      }
    }
    const tsv = join(ctx.scratch, `fsbench-${t.key}-${res.rounds.length + 1}.tsv`);
    r.loadavgBefore = os.loadavg();
    ctx.log(`fsbench.sh on ${t.label}: load ${r.loadavgBefore.map((x) => x.toFixed(2)).join(' ')}`);
    const cpuBefore = cpuTimes();
    const ran = await run('bash', [o.script, m.dir, t.key, tsv], {
      timeoutMs: fsbenchBoundMs(o.tun),
      signal: ctx.signal,
      env: { ...process.env, ...o.tun },
      logFile: join(ctx.logDir, `fsbench-${t.key}.log`),
    });
    r.stealPct = stealPercent(cpuBefore, cpuTimes());
    r.figures = existsSync(tsv) ? parseTsv(await readFile(tsv, 'utf8')) : {};
    if (ran.timedOut) throw new Error(`fsbench.sh exceeded ${Math.round(fsbenchBoundMs(o.tun) / 1000)} s`);
    if (ran.code !== 0) throw new Error(`fsbench.sh exited ${ran.code ?? ran.signal}: ${lastLine(ran.stderr)}`);
  } catch (err) {
    checkAbort(ctx.signal);
    r.status = 'FAIL';
    r.reason = errMsg(err);
    ctx.log(`fsbench on ${t.label} failed: ${r.reason}`);
  } finally {
    r.seconds = (Date.now() - started) / 1000;
    await m?.teardown();
  }
  return r;
}

/** Figures read with another one: taken from the round that figure comes from. */
const FIGURES_WITH: Record<string, string[]> = { cp_r_files_per_s: ['cp_r_seconds', 'cp_r_files'] };

/** The target's figures: each rate from its best round; the status is ok if any round was. */
function mergeRounds(res: TargetResult): void {
  const figures: Record<string, Figure> = {};
  for (const r of res.rounds) for (const [f, fig] of Object.entries(r.figures)) figures[f] ??= fig;
  res.bestRound = {};
  for (const f of RATE_FIGURES) {
    const top = best(res.rounds, f);
    if (top === null) continue;
    const at = res.rounds.findIndex((r) => r.figures[f]?.value === top);
    const from = res.rounds[at]!.figures;
    figures[f] = from[f]!;
    for (const g of FIGURES_WITH[f] ?? []) if (from[g]) figures[g] = from[g];
    res.bestRound[f] = at + 1;
  }
  res.figures = figures;
  const failed = res.rounds.flatMap((r, i) => (r.status === 'ok' ? [] : [`round ${i + 1}: ${r.reason}`]));
  res.status = failed.length < res.rounds.length ? 'ok' : 'FAIL';
  res.reason = failed.length ? failed.join('; ') : undefined;
  res.seconds = res.rounds.reduce((sum, r) => sum + (r.seconds ?? 0), 0);
}

/** The highest value of figure f among targets (or one target's rounds), or null. */
function best(targets: Array<{ figures: Record<string, Figure> }>, f: string): number | null {
  const values = targets.map((t) => t.figures[f]?.value ?? null).filter((v): v is number => v !== null);
  return values.length ? Math.max(...values) : null;
}

function fsbenchRows(title: string, results: TargetResult[]): Row[] {
  const rows: Row[] = [];
  const local = results.find((r) => r.kind === 'local');
  const ceiling = results.find((r) => r.kind === 'ceiling' && r.status === 'ok');
  // "Best peer" stays the peers as their scripts set them up; the fsync variants are a second,
  // separate baseline, so adding them never changes the existing ratios.
  const peers = results.filter((r) => r.kind === 'peer' && r.status === 'ok');
  const fsyncPeers = results.filter((r) => r.kind === 'peer-fsync' && r.status === 'ok');
  if (local && local.status !== 'ok') {
    rows.push({ workload: title, target: local.label, figure: '(baseline)', value: null, unit: '', status: local.status, note: local.reason });
  }
  for (const t of results) {
    if (t.kind === 'local') continue;
    if (t.status !== 'ok' && Object.keys(t.figures).length === 0) {
      rows.push({ workload: title, target: t.label, figure: '(all)', value: null, unit: '', status: t.status, note: t.reason });
    } else {
      rows.push(...RATE_FIGURES.map((f) => figureRow(title, t, f, { local, ceiling, peers, fsyncPeers, results })));
    }
    rows.push(...probeRows(title, t));
  }
  return rows;
}

interface Baselines {
  local: TargetResult | undefined;
  ceiling: TargetResult | undefined;
  peers: TargetResult[];
  fsyncPeers: TargetResult[];
  results: TargetResult[];
}

function figureRow(title: string, t: TargetResult, f: string, b: Baselines): Row {
  const fig = t.figures[f];
  const base = b.local?.figures[f];
  const row: Row = {
    workload: title,
    target: t.label,
    figure: f,
    value: fig?.value ?? null,
    unit: fig?.unit ?? base?.unit ?? '',
    status: fig ? (fig.value === null ? (fig.text === 'TIMEOUT' ? 'TIMEOUT' : 'FAIL') : 'ok') : 'FAIL',
    baseline: { label: 'local dir', value: base?.value ?? null, unit: base?.unit ?? '' },
    vsBaseline: ratio(fig?.value, base?.value),
  };
  if (t.kind === 'qfs') {
    if (b.peers.length) row.vsBestPeer = ratio(fig?.value, best(b.peers, f));
    if (b.fsyncPeers.length) row.vsBestFsyncPeer = ratio(fig?.value, best(b.fsyncPeers, f));
    if (b.ceiling) row.vsCeiling = ratio(fig?.value, b.ceiling.figures[f]?.value);
  }
  const notes: string[] = [];
  if (!fig) notes.push(t.reason ?? 'figure missing');
  if (fig && base && fig.unit !== base.unit) notes.push(`${fig.unit} vs local ${base.unit}`);
  if (f === 'cp_r_files_per_s' && t.figures.cp_r_seconds && t.figures.cp_r_seconds.value === null) {
    notes.push(`cp -r hit its limit: ${t.figures.cp_r_files?.text ?? '?'} files copied`);
  }
  // What the fsyncs cost this peer: the variant beside the same peer at its defaults.
  const plain = t.defaultKey ? b.results.find((r) => r.key === t.defaultKey && r.status === 'ok') : undefined;
  const vsPlain = plain ? ratio(fig?.value, plain.figures[f]?.value) : null;
  if (plain && vsPlain !== null) notes.push(`${fmtRatio(vsPlain)} ${plain.label} at its defaults`);
  if (notes.length) row.note = notes.join('; ');
  return row;
}

/** Two rows per probed target: did close() / fsync() return after the servers' fsyncs? */
function probeRows(title: string, t: TargetResult): Row[] {
  if (t.probeError) return [{ workload: title, target: t.label, figure: 'ack probe', value: null, unit: '', status: 'FAIL', note: t.probeError }];
  if (!t.probe) return [];
  const p = t.probe;
  return p.cases.map((c) => ({
    workload: title,
    target: t.label,
    figure: `ack probe: ${c.op}() of a new 64 KiB file`,
    value: c.doneBefore,
    unit: 'server fsyncs done before return',
    display: summarizeCase(c, p.noun),
    status: 'ok' as const,
    note: describeCase(c, p.noun),
  }));
}
