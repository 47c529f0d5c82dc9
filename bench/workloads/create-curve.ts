// (e) How creating small files speeds up as a file system's processes warm up. fsbench.sh creates
// 2,000 4 KiB files on a target set up fresh, and QuorumFS's five Node.js processes spend most of
// those compiling their create path (V8 optimises a function only after it has run a while): by
// hand, 386 files/s in the first 500 and 700-750 after 3,000. A peer in C warms up less. This
// creates CREATE_FILES files the way fsbench.sh does (the same perl loop, tree/tNN/sNN/fNNNNN,
// 100 per leaf) on a local directory, QuorumFS N=3 Qw=3 Qr=1 and, with --peers, MooseFS and
// GlusterFS, each set up fresh, and reports the rate over the first 2,000 files (what fsbench
// measures) and over the last 2,000 (warm), plus every 500-file step as a note.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cpuTimes, stealPercent } from '../lib/machine.js';
import { run, lastLine } from '../lib/proc.js';
import {
  SETTLE_MS, localTarget, peerTarget, peerVariants, qfsTarget, settleDisk, settleMemory, type TargetDef, type TargetKind,
} from '../lib/targets.js';
import type { Ctx, Row, Workload, WorkloadResult } from '../lib/types.js';
import { checkAbort, errMsg, ratio } from '../lib/util.js';

const STEP = 500;
const WINDOW = 2000;

function createFiles(quick: boolean): number {
  return quick ? 2 * WINDOW : 8000;
}

// fsbench.sh's small-file loop, printing the rate of every STEP files. The blob gives every file
// its own bytes: equal blocks would be stored once and skip the data servers' writes.
const CURVE_PL = `
use strict; use warnings; use Time::HiRes qw(time);
my ($root, $n, $blobf, $step) = @ARGV;
open(my $b, "<", $blobf) or die "blob: $!"; binmode $b; local $/; my $blob = <$b>; close $b;
mkdir $root or die "mkdir $root: $!";
my $t = time;
for my $i (0 .. $n - 1) {
    my $top = sprintf("t%02d", int($i / 500)); my $sub = sprintf("s%02d", int($i / 100) % 5);
    my $rel = "$top/$sub/" . sprintf("f%05d", $i);
    if ($i % 500 == 0) { mkdir "$root/$top" or die "mkdir: $!"; }
    if ($i % 100 == 0) { mkdir "$root/$top/$sub" or die "mkdir: $!"; }
    open(my $fh, ">", "$root/$rel") or die "open $rel: $!"; binmode $fh;
    print $fh substr($blob, $i * 4096, 4096) or die "write $rel: $!"; close($fh) or die "close $rel: $!";
    if (($i + 1) % $step == 0) { my $now = time; printf "%.6f\\n", $now - $t; $t = $now; }
}
`;

interface CurveResult {
  key: string;
  label: string;
  kind: TargetKind;
  status: 'ok' | 'FAIL';
  reason?: string;
  /** Seconds taken by each STEP files, in order. */
  steps: number[];
  /** Share of the machine's CPU time stolen by its host while the files were created, in percent. */
  stealPct?: number;
}

/** Files per second over the steps from file `from` (0-based) for WINDOW files, or null if not all ran. */
function windowRate(steps: number[], from: number): number | null {
  const s = steps.slice(from / STEP, (from + WINDOW) / STEP);
  if (s.length !== WINDOW / STEP) return null;
  return WINDOW / s.reduce((a, b) => a + b, 0);
}

/** Files per second in each step, as logged and noted. */
function stepRates(steps: number[]): number[] {
  return steps.map((s) => Math.round(STEP / s));
}

async function measure(ctx: Ctx, t: TargetDef, blob: string, files: number): Promise<CurveResult> {
  const r: CurveResult = { key: t.key, label: t.label, kind: t.kind, status: 'ok', steps: [] };
  const m = await t.setup(ctx).catch((err: unknown) => {
    r.status = 'FAIL';
    r.reason = `setup: ${errMsg(err)}`;
    return null;
  });
  if (!m) return r;
  const cpuBefore = cpuTimes();
  try {
    const ran = await run('perl', ['-e', CURVE_PL, join(m.dir, 'curve'), String(files), blob, String(STEP)], {
      timeoutMs: 20 * 60_000,
      signal: ctx.signal,
      logFile: join(ctx.logDir, `create-curve-${t.key}.log`),
    });
    r.steps = ran.stdout.split('\n').filter(Boolean).map(Number);
    r.stealPct = stealPercent(cpuBefore, cpuTimes());
    if (ran.timedOut) throw new Error('timed out after 20 min');
    if (ran.code !== 0) throw new Error(`perl exited ${ran.code ?? ran.signal}: ${lastLine(ran.stderr)}`);
    ctx.log(`create curve on ${t.label}: ${stepRates(r.steps).join(' ')} files/s per ${STEP}`);
  } catch (err) {
    checkAbort(ctx.signal);
    r.status = 'FAIL';
    r.reason = errMsg(err);
    ctx.log(`create curve on ${t.label} failed: ${r.reason}`);
  } finally {
    await m.teardown();
  }
  return r;
}

const W = WINDOW.toLocaleString('en-US');
const FIGURES = [
  { name: `create, files 1-${W} (fresh processes)`, from: (_files: number) => 0 },
  { name: `create, the last ${W} files (warm)`, from: (files: number) => files - WINDOW },
];

function rows(title: string, results: CurveResult[], files: number): Row[] {
  const out: Row[] = [];
  const local = results.find((r) => r.kind === 'local');
  const peers = results.filter((r) => r.kind === 'peer' && r.status === 'ok');
  for (const t of results) {
    if (t.kind === 'local') continue;
    for (const f of FIGURES) {
      const v = windowRate(t.steps, f.from(files));
      const base = local ? windowRate(local.steps, f.from(files)) : null;
      const peerValues = peers.map((p) => windowRate(p.steps, f.from(files))).filter((x): x is number => x !== null);
      const row: Row = {
        workload: title,
        target: t.label,
        figure: f.name,
        value: v,
        unit: 'files/s',
        status: v === null ? 'FAIL' : 'ok',
        baseline: { label: 'local dir', value: base, unit: 'files/s' },
        vsBaseline: ratio(v, base),
      };
      if (t.kind === 'qfs' && peerValues.length) row.vsBestPeer = ratio(v, Math.max(...peerValues));
      if (v === null) row.note = t.reason ?? 'not every step ran';
      out.push(row);
    }
  }
  return out;
}

export const createCurve: Workload = {
  name: 'createcurve',
  title: 'create curve',
  timeoutMs: (quick) => (quick ? 20 : 60) * 60_000,
  async run(ctx: Ctx, out: WorkloadResult) {
    const files = createFiles(ctx.quick);
    const title = `create curve (${files.toLocaleString('en-US')} 4 KiB files)`;
    const targets: TargetDef[] = [localTarget('create-curve-local'), qfsTarget('curve-n3', { replicas: 3, writeQuorum: 3, readQuorum: 1 })];
    // The peers at their defaults: what "best peer" means in fsbench.
    if (ctx.peers) targets.push(...peerVariants().filter((v) => v.kind === 'peer').map(peerTarget));
    const blob = join(ctx.scratch, 'create-curve.blob');
    await writeFile(blob, randomBytes(files * 4096));
    const settleMs = ctx.quick ? 0 : SETTLE_MS;
    const results: CurveResult[] = [];
    out.raw.targets = results;
    try {
      let lastTeardown = 0;
      for (const t of targets) {
        checkAbort(ctx.signal);
        if (lastTeardown) await settleDisk(ctx, lastTeardown + settleMs);
        if (settleMs) await settleMemory(ctx);
        ctx.log(`create curve: ${t.label}`);
        results.push(await measure(ctx, t, blob, files));
        lastTeardown = Date.now();
      }
    } finally {
      out.rows.push(...rows(title, results, files));
      for (const r of results) {
        const steal = r.stealPct === undefined ? '' : `; CPU steal ${r.stealPct.toFixed(1)}%`;
        if (r.steps.length) out.notes.push(`create curve, ${r.label}: ${stepRates(r.steps).join(', ')} files/s in each ${STEP}${steal}`);
      }
      out.notes.push(`create curve: each target set up fresh; "fresh processes" is the rate over the first ${W} files (what fsbench.sh's create measures), "warm" over the last ${W}`);
    }
  },
};
