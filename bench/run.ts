// `npm run bench [-- --quick] [--peers] [--only name,...]`: the QuorumFS benchmark suite.
//
// Workloads (see bench/workloads/): putget, fsbench, healing, metadata, createcurve. Each is bounded in time;
// a failure becomes a FAIL row with its reason. Every cluster, mount and peer is registered for
// cleanup, undone in finally blocks and again at the end (also after Ctrl-C); the run ends by
// checking /proc/mounts for FUSE mounts left under its scratch dir.
// Writes bench/results/latest.{json,md,svg} and prints the markdown table.
import { chmodSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, appendFileSync, renameSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { Cleanups } from './lib/cleanup.js';
import { gitInfo, machineInfo } from './lib/machine.js';
import { forceUnmount, fuseMountsUnder, readMounts } from './lib/mounts.js';
import { LOG_DIR, REPO_ROOT, RESULTS_DIR, SCRATCH_PREFIX, scratchParent, sharedBenchDir } from './lib/paths.js';
import { killGroup, liveChildren, pidAlive, run } from './lib/proc.js';
import { markdown, svgChart, type Report } from './lib/report.js';
import type { Ctx, Workload, WorkloadResult } from './lib/types.js';
import { errMsg, rmrf } from './lib/util.js';
import { createCurve } from './workloads/create-curve.js';
import { fsbench } from './workloads/fsbench.js';
import { healing } from './workloads/healing.js';
import { metadata } from './workloads/metadata.js';
import { putget } from './workloads/putget.js';

const WORKLOADS: Workload[] = [putget, fsbench, healing, metadata, createCurve];
/** After a time limit or Ctrl-C, how long a workload gets to run its own finally blocks. */
const GRACE_MS = 180_000;

interface Args {
  quick: boolean;
  peers: boolean;
  only: string[] | null;
  rounds: number;
}

function usage(): string {
  return `usage: npm run bench [-- --quick] [--peers] [--rounds N] [--only ${WORKLOADS.map((w) => w.name).join(',')}]
  --quick   smaller sizes and shorter limits (a check that everything works end to end)
  --peers   also MooseFS and GlusterFS through ${sharedBenchDir()}/peers (installs their packages), MooseFS also
            with HDD_FSYNC_BEFORE_CLOSE = 1; an strace probe of what close()/fsync() wait for
  --rounds  fsbench: run every target N times (1-5, default 1), one round after another, and keep
            each figure's best round: a slow spell of the host then hits different targets each round
  --only    run only these workloads
env: QUORUMFS_SHARED_BENCH (default ../shared/bench), QUORUMFS_BENCH_TMP (scratch parent), FSBENCH_* (override fsbench tunables)`;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, peers: false, only: null, rounds: 1 };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i]!;
    if (s === '--') continue;
    else if (s === '--quick') a.quick = true;
    else if (s === '--peers') a.peers = true;
    else if (s === '--rounds' || s.startsWith('--rounds=')) {
      const v = s === '--rounds' ? argv[++i] : s.slice('--rounds='.length);
      if (!v || !/^[1-5]$/.test(v)) throw new Error('--rounds needs a number from 1 to 5');
      a.rounds = Number(v);
    } else if (s === '--only' || s.startsWith('--only=')) {
      const v = s === '--only' ? argv[++i] : s.slice('--only='.length);
      if (!v) throw new Error('--only needs a list of workloads');
      a.only = [...(a.only ?? []), ...v.split(',').map((x) => x.trim()).filter(Boolean)];
    } else if (s === '--help' || s === '-h') {
      process.stdout.write(usage() + '\n');
      process.exit(0);
    } else throw new Error(`unknown argument "${s}"\n${usage()}`);
  }
  for (const n of a.only ?? []) if (!WORKLOADS.some((w) => w.name === n)) throw new Error(`unknown workload "${n}" (known: ${WORKLOADS.map((w) => w.name).join(', ')})`);
  return a;
}

const t0 = Date.now();
function log(msg: string): void {
  const line = `[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s] ${msg}`;
  process.stderr.write(line + '\n');
  try {
    appendFileSync(join(LOG_DIR, 'run.log'), line + '\n');
  } catch {
    // log dir not there yet
  }
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench: ${errMsg(err)}\n`);
    return 2;
  }
  mkdirSync(RESULTS_DIR, { recursive: true });
  rmSync(LOG_DIR, { recursive: true, force: true });
  mkdirSync(LOG_DIR, { recursive: true });
  const date = new Date().toISOString();
  log(`QuorumFS bench ${args.quick ? '--quick' : '(full)'}${args.peers ? ' --peers' : ''}${args.rounds > 1 ? ` --rounds ${args.rounds}` : ''}${args.only ? ` --only ${args.only.join(',')}` : ''}; logs in ${LOG_DIR}`);

  // Ctrl-C / SIGTERM: first abort the running workload and clean up; a second one stops waiting
  // for the workload's own cleanup; a third exits at once (children may be left running).
  const global = new AbortController();
  let skipGrace: () => void = () => undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log(`${sig}: stopping the running workload and cleaning up (again to stop waiting for it, a third time to quit at once)`);
      global.abort(new Error(`interrupted (${sig})`));
    } else if (signals === 2) {
      log(`${sig}: not waiting for the workload; cleaning up what it registered`);
      skipGrace();
    } else {
      for (const pid of liveChildren()) killGroup(pid, 'SIGKILL');
      process.stderr.write('bench: quitting without cleanup; check /proc/mounts and running quorumfs processes\n');
      process.exit(130);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const notes: string[] = [];
  // Dependencies (fio; with --peers MooseFS and GlusterFS).
  const ensure = join(REPO_ROOT, 'scripts', 'ensure-bench-deps.sh');
  try {
    const r = await run('bash', [ensure, ...(args.peers ? ['--peers'] : [])], { timeoutMs: 20 * 60_000, signal: global.signal, logFile: join(LOG_DIR, 'ensure-bench-deps.log') });
    if (r.stderr.trim()) process.stderr.write(r.stderr);
    if (r.code !== 0 || r.timedOut) {
      const why = r.timedOut ? 'timed out' : r.stderr.trim().split('\n').pop();
      notes.push(`scripts/ensure-bench-deps.sh failed: ${why}`);
      log(`WARNING: ensure-bench-deps.sh failed: ${why}`);
    }
  } catch (err) {
    notes.push(`scripts/ensure-bench-deps.sh: ${errMsg(err)}`);
  }

  // Mounts left by an earlier run that was killed outright: clear those whose owner is dead.
  const parent = scratchParent();
  for (const m of readMounts()) {
    if (!m.mountpoint.startsWith(join(parent, SCRATCH_PREFIX))) continue;
    const owner = /^quorumfs@(\d+)$/.exec(m.source);
    if (owner && !pidAlive(Number(owner[1]))) {
      log(`clearing stale mount from an earlier run: ${m.mountpoint}`);
      await forceUnmount(m.mountpoint, log);
    } else log(`note: ${m.mountpoint} (${m.source}) is mounted, maybe by another bench run; leaving it`);
  }

  const scratch = await mkdtemp(join(parent, SCRATCH_PREFIX));
  chmodSync(scratch, 0o755); // peers' daemons run as their own users and must reach their dirs
  const cleanups = new Cleanups(log);
  const machine = await machineInfo(scratch);
  const git = await gitInfo();
  const results: WorkloadResult[] = [];
  const selected = WORKLOADS.filter((w) => !args.only || args.only.includes(w.name));

  for (const w of selected) {
    const out: WorkloadResult = { name: w.name, title: w.title, status: 'ok', seconds: 0, rows: [], notes: [], raw: {} };
    results.push(out);
    if (global.signal.aborted) {
      out.status = 'skipped';
      out.reason = 'interrupted before it started';
      continue;
    }
    const ac = new AbortController();
    const limitMs = w.timeoutMs(args.quick) * args.rounds;
    let timedOut = false;
    const onGlobal = () => ac.abort(global.signal.reason);
    global.signal.addEventListener('abort', onGlobal, { once: true });
    const timer = setTimeout(() => {
      timedOut = true;
      log(`${w.name}: time limit of ${limitMs / 60_000} min reached; stopping it`);
      ac.abort(new Error(`time limit of ${limitMs / 60_000} min reached`));
    }, limitMs);
    const ctx: Ctx = { quick: args.quick, peers: args.peers, rounds: args.rounds, signal: ac.signal, scratch, logDir: LOG_DIR, cleanups, log };
    log(`=== ${w.name}: ${w.title} (limit ${limitMs / 60_000} min)`);
    const started = Date.now();
    const done = w.run(ctx, out).then(() => null, (err: unknown) => err ?? new Error('failed'));
    // Once aborted, the workload gets GRACE_MS (or until a second Ctrl-C) to finish its finally blocks.
    const stuck = new Promise<'stuck'>((res) => {
      const arm = () => {
        const t = setTimeout(() => res('stuck'), GRACE_MS);
        skipGrace = () => { clearTimeout(t); res('stuck'); };
      };
      if (ac.signal.aborted) arm();
      else ac.signal.addEventListener('abort', arm, { once: true });
    });
    const outcome = await Promise.race([done, stuck]);
    clearTimeout(timer);
    global.signal.removeEventListener('abort', onGlobal);
    out.seconds = (Date.now() - started) / 1000;
    if (outcome === 'stuck') {
      out.status = timedOut ? 'TIMEOUT' : 'FAIL';
      out.reason = `${errMsg(ac.signal.reason)}; did not stop within ${GRACE_MS / 1000} s, cleaned up from outside`;
    } else if (outcome !== null) {
      out.status = timedOut ? 'TIMEOUT' : 'FAIL';
      out.reason = errMsg(outcome);
    }
    if (out.status !== 'ok') {
      log(`${w.name}: ${out.status}: ${out.reason}`);
      out.rows.push({ workload: w.title, target: '-', figure: '(workload)', value: null, unit: '', status: out.status, note: out.reason });
      // Whatever the workload did not undo itself.
      await cleanups.runAll();
    }
    log(`=== ${w.name}: ${out.status} in ${out.seconds.toFixed(0)} s`);
  }

  // Final cleanup: registered leftovers, child process groups, FUSE mounts under the scratch dir.
  await cleanups.runAll();
  for (const pid of liveChildren()) killGroup(pid, 'SIGTERM');
  const peerBases = ['/tmp/peers'];
  let left = fuseMountsUnder([scratch]);
  for (const m of left) {
    log(`WARNING: ${m.mountpoint} still mounted (${m.source}); detaching`);
    await forceUnmount(m.mountpoint, log);
  }
  left = fuseMountsUnder([scratch]);
  if (left.length === 0) {
    await rmrf(scratch).catch((err: unknown) => log(`could not remove ${scratch}: ${errMsg(err)}`));
    log(`no FUSE mount left behind under ${scratch} (checked /proc/mounts); scratch deleted`);
  } else {
    notes.push(`FUSE mounts left behind: ${left.map((m) => m.mountpoint).join(', ')}`);
    log(`ERROR: still mounted: ${left.map((m) => m.mountpoint).join(', ')}; ${scratch} kept`);
  }
  const foreign = fuseMountsUnder(peerBases);
  if (foreign.length) log(`note: FUSE mounts under ${peerBases.join(', ')} (not ours): ${foreign.map((m) => m.mountpoint).join(', ')}`);

  const report: Report = {
    version: 1,
    date,
    mode: args.quick ? 'quick' : 'full',
    peers: args.peers,
    rounds: args.rounds,
    only: args.only,
    interrupted: global.signal.aborted,
    durationSeconds: (Date.now() - t0) / 1000,
    machine: { ...machine, loadavgEnd: os.loadavg() },
    git,
    workloads: results,
    notes,
    leftoverMounts: left.map((m) => m.mountpoint),
  };
  const write = (name: string, text: string) => {
    const p = join(RESULTS_DIR, name);
    writeFileSync(p + '.tmp', text);
    renameSync(p + '.tmp', p);
  };
  write('latest.json', JSON.stringify(report, null, 2) + '\n');
  const md = markdown(report);
  write('latest.md', md);
  write('latest.svg', svgChart(report));
  log(`wrote ${join(RESULTS_DIR, 'latest.{json,md,svg}')} in ${((Date.now() - t0) / 60_000).toFixed(1)} min`);
  process.stdout.write('\n' + md);
  if (existsSync(LOG_DIR) && readdirSync(LOG_DIR).length === 0) rmSync(LOG_DIR, { recursive: true });
  if (left.length) return 1;
  return global.signal.aborted ? 130 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
