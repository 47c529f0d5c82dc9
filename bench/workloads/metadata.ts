// (d) Metadata at scale: create, stat, readdir and unlink of 1,000 / 10,000 (/ 100,000 unless
// --quick) empty files, all in one directory and spread over a tree (100 files per leaf directory,
// 10 leaves per middle directory), one operation at a time, through a QuorumFS mount (N=3, Qw=3,
// Qr=1) beside the same on a local directory, after an untimed pass at the smallest size (so that
// no size is measured on cold code). Reported as ops/s per size, so whether the rate
// stays flat as the directory grows is visible (the note gives each rate relative to the smallest
// size). Falls back to the client library when the mount cannot be made.
import { mkdir, open, readdir, rmdir, stat, unlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { connectClient } from '../../src/client/connect.js';
import type { QuorumFsClient } from '../../src/client/fs-client.js';
import { metaUrlOf } from '../../src/cluster/state.js';
import { QfsCluster, specLabel, type ClusterSpec } from '../lib/cluster.js';
import type { Ctx, Row, Workload, WorkloadResult } from '../lib/types.js';
import { checkAbort, errMsg, nowMs, ratio, rmrf } from '../lib/util.js';

const SPEC: ClusterSpec = { replicas: 3, writeQuorum: 3, readQuorum: 1 };
const PHASES = ['create', 'stat', 'readdir', 'unlink'] as const;
type Phase = (typeof PHASES)[number];
type Layout = 'flat' | 'tree';

interface Ops {
  join(...parts: string[]): string;
  mkdir(p: string): Promise<void>;
  create(p: string): Promise<void>;
  stat(p: string): Promise<void>;
  /** Number of entries. */
  readdir(p: string): Promise<number>;
  unlink(p: string): Promise<void>;
  rmdir(p: string): Promise<void>;
}

const localOps: Ops = {
  join: (...p) => join(...p),
  mkdir: async (p) => { await mkdir(p); },
  create: async (p) => { await (await open(p, 'wx')).close(); },
  stat: async (p) => { await stat(p); },
  readdir: async (p) => (await readdir(p)).length,
  unlink: (p) => unlink(p),
  rmdir: (p) => rmdir(p),
};

function clientOps(c: QuorumFsClient): Ops {
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  return {
    join: (...p) => posix.join(...p),
    mkdir: async (path) => { await c.meta.mkdir({ path, mode: 0o755, owner }); },
    create: async (path) => { await c.meta.create({ path, mode: 0o644, owner, exclusive: true }); },
    stat: async (path) => { await c.meta.lookup({ path }); },
    readdir: async (path) => (await c.meta.readdir({ path })).length,
    unlink: (path) => c.meta.unlink({ path }),
    rmdir: (path) => c.meta.rmdir({ path }),
  };
}

/** Operations per slice of a phase's timeline (see PhaseResult.firstTenthRate). */
const SLICE_OPS = 500;

interface PhaseResult {
  ops: number;
  planned: number;
  seconds: number;
  rate: number | null;
  /**
   * Median rate of the first and of the last tenth of the phase's 500-operation slices (create
   * and unlink with at least 10,000 files): the same run at both ends of the directory's growth
   * (create) or shrinking (unlink), minutes apart instead of a run apart, and a median, so a
   * burst of load on the shared host moves it less than it moves a whole-phase rate.
   */
  firstTenthRate?: number;
  lastTenthRate?: number;
  timedOut: boolean;
  error?: string;
}

/** The files of one layout, each with the directories to make just before it. */
function plan(root: string, n: number, layout: Layout, ops: Ops): { files: Array<{ path: string; pre: string[] }>; leaves: string[] } {
  const files: Array<{ path: string; pre: string[] }> = [];
  const leaves: string[] = [];
  if (layout === 'flat') {
    for (let i = 0; i < n; i++) files.push({ path: ops.join(root, `f${String(i).padStart(6, '0')}`), pre: [] });
    leaves.push(root);
    return { files, leaves };
  }
  for (let i = 0; i < n; i++) {
    const top = ops.join(root, `t${String(Math.floor(i / 1000)).padStart(3, '0')}`);
    const leaf = ops.join(top, `s${String(Math.floor(i / 100) % 10).padStart(2, '0')}`);
    const pre: string[] = [];
    if (i % 1000 === 0) pre.push(top);
    if (i % 100 === 0) { pre.push(leaf); leaves.push(leaf); }
    files.push({ path: ops.join(leaf, `f${String(i).padStart(6, '0')}`), pre });
  }
  return { files, leaves };
}

/** Median rates of the first and last tenth of the slices; nothing below 20 slices (10,000 operations). */
function tenths(rates: number[]): { firstTenthRate?: number; lastTenthRate?: number } {
  if (rates.length < 20) return {};
  const k = Math.floor(rates.length / 10);
  return { firstTenthRate: median(rates.slice(0, k)), lastTenthRate: median(rates.slice(-k)) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Runs the four phases on one target; each phase bounded by budgetMs (partial rate reported). */
async function runPhases(ctx: Ctx, ops: Ops, root: string, n: number, layout: Layout, budgetMs: number): Promise<Record<Phase, PhaseResult>> {
  const { files, leaves } = plan(root, n, layout, ops);
  const res = {} as Record<Phase, PhaseResult>;
  const timed = async (phase: Phase, items: number, fn: (i: number) => Promise<number | void>): Promise<number> => {
    const t0 = nowMs();
    const deadline = t0 + budgetMs;
    let done = 0;
    let count = 0;
    let error: string | undefined;
    let timedOut = false;
    const sliceRates: number[] = [];
    let sliceStart = t0;
    try {
      for (let i = 0; i < items; i++) {
        if ((i & 63) === 0) checkAbort(ctx.signal);
        const r = await fn(i);
        count += typeof r === 'number' ? r : 1;
        done++;
        if (done % SLICE_OPS === 0) {
          const now = nowMs();
          sliceRates.push(SLICE_OPS / ((now - sliceStart) / 1000));
          sliceStart = now;
        }
        if (nowMs() > deadline && i < items - 1) { timedOut = true; break; }
      }
    } catch (err) {
      checkAbort(ctx.signal);
      error = errMsg(err);
    }
    const seconds = (nowMs() - t0) / 1000;
    const ends = phase === 'create' || phase === 'unlink' ? tenths(sliceRates) : {};
    res[phase] = { ops: count, planned: phase === 'readdir' ? count : items, seconds, rate: count > 0 ? count / seconds : null, ...ends, timedOut, ...(error ? { error } : {}) };
    return done;
  };
  await ops.mkdir(root);
  // Directories of a tree are made on the way, inside the timing: a tree costs its mkdirs.
  const created = await timed('create', files.length, async (i) => {
    const f = files[i]!;
    for (const d of f.pre) await ops.mkdir(d);
    await ops.create(f.path);
  });
  const made = files.slice(0, created).map((f) => f.path);
  await timed('stat', made.length, async (i) => ops.stat(made[i]!));
  const usedLeaves = layout === 'flat' ? (created > 0 ? leaves : []) : leaves.slice(0, Math.ceil(created / 100));
  await timed('readdir', usedLeaves.length, async (i) => ops.readdir(usedLeaves[i]!));
  await timed('unlink', made.length, async (i) => ops.unlink(made[i]!));
  return res;
}

export const metadata: Workload = {
  name: 'metadata',
  title: 'metadata scale',
  timeoutMs: (quick) => (quick ? 40 : 240) * 60_000,
  async run(ctx: Ctx, out: WorkloadResult) {
    const sizes = ctx.quick ? [1000, 10000] : [1000, 10000, 100000];
    const budgetMs = (ctx.quick ? 90 : 600) * 1000;
    out.raw.sizes = sizes;
    out.raw.phaseBudgetSeconds = budgetMs / 1000;
    const cluster = await QfsCluster.up(ctx, 'metadata', SPEC);
    let client: QuorumFsClient | null = null;
    try {
      let qfsOps: Ops;
      let qfsRoot: string;
      let via: string;
      try {
        qfsRoot = await cluster.mount();
        qfsOps = localOps;
        via = 'mount';
      } catch (err) {
        checkAbort(ctx.signal);
        const why = errMsg(err);
        ctx.log(`metadata: mount failed (${why}); using the client library`);
        out.notes.push(`metadata scale: through the client library, not the mount (mount failed: ${why})`);
        client = await connectClient({ metaUrl: metaUrlOf(cluster.state()), secret: cluster.secret() });
        qfsOps = clientOps(client);
        qfsRoot = '/';
        via = 'client library';
      }
      out.raw.via = via;
      const target = `QuorumFS ${specLabel(SPEC)} (${via})`;
      const localRoot = join(ctx.scratch, 'metadata-local');
      await mkdir(localRoot, { recursive: true });
      const results: Array<{ layout: Layout; n: number; local: Record<Phase, PhaseResult> | { error: string }; qfs: Record<Phase, PhaseResult> | { error: string } }> = [];
      out.raw.results = results;
      /** The four phases on the local directory, then on QuorumFS; a failure becomes { error }. */
      const measure = async (name: string, n: number, layout: Layout) => {
        const safe = async (fn: () => Promise<Record<Phase, PhaseResult>>) => {
          try {
            return await fn();
          } catch (err) {
            checkAbort(ctx.signal);
            return { error: errMsg(err) };
          }
        };
        const local = await safe(() => runPhases(ctx, localOps, join(localRoot, name), n, layout, budgetMs));
        await rmrf(join(localRoot, name)).catch(() => undefined);
        const qfs = await safe(() => runPhases(ctx, qfsOps, qfsOps.join(qfsRoot, name), n, layout, budgetMs));
        return { local, qfs };
      };
      // Untimed: measured cold, the first size paid V8's compiling of the hot paths (in the mount,
      // the servers and this process), and the larger sizes looked flatter against it than they
      // are (create 1,000 in one dir 178 ops/s cold, 912 after this pass).
      for (const layout of ['flat', 'tree'] as Layout[]) {
        checkAbort(ctx.signal);
        const w = await measure(`warmup-${layout}`, sizes[0]!, layout);
        for (const [where, r] of Object.entries(w)) if ('error' in r) out.notes.push(`metadata scale: warm-up (${layout}, ${where}) failed: ${r.error}`);
      }
      out.notes.push(`metadata scale: an untimed pass of ${sizes[0]!.toLocaleString('en-US')} files per layout (all four phases) ran before the timed sizes.`);
      out.notes.push(`metadata scale: "last tenth ... the first" compares, within one phase of 10,000 or more files, the median rate of its first and its last tenth of ${SLICE_OPS}-operation slices: a create's first tenth adds to an almost empty directory (or tree) and its last to one at 90-100% of its size, an unlink the other way round.`);
      const firstRate: Record<string, number | null> = {};
      for (const n of sizes) {
        for (const layout of ['flat', 'tree'] as Layout[]) {
          checkAbort(ctx.signal);
          ctx.log(`metadata: ${n} files, ${layout}`);
          const { local, qfs } = await measure(`${layout}-${n}`, n, layout);
          results.push({ layout, n, local, qfs });
          for (const phase of PHASES) {
            const q = 'error' in qfs ? null : qfs[phase];
            const l = 'error' in local ? null : local[phase];
            const key = `${phase}-${layout}`;
            if (!(key in firstRate)) firstRate[key] = q?.rate ?? null;
            const notes: string[] = [];
            if ('error' in qfs) notes.push(qfs.error);
            if (q?.error) notes.push(q.error);
            if (q?.timedOut) notes.push(`time limit: ${q.ops.toLocaleString('en-US')} of ${q.planned.toLocaleString('en-US')} in ${Math.round(q.seconds)} s`);
            const scale = ratio(q?.rate, firstRate[key]);
            if (scale !== null && n !== sizes[0]) notes.push(`${scale.toFixed(2)}× the ${sizes[0]!.toLocaleString('en-US')}-file rate`);
            if (q?.firstTenthRate !== undefined && q.lastTenthRate !== undefined) {
              notes.push(`last tenth ${(q.lastTenthRate / q.firstTenthRate).toFixed(2)}× the first (${Math.round(q.firstTenthRate).toLocaleString('en-US')} -> ${Math.round(q.lastTenthRate).toLocaleString('en-US')} ops/s)`);
            }
            if ('error' in local) notes.push(`local: ${local.error}`);
            const row: Row = {
              workload: 'metadata scale',
              target,
              figure: `${phase} ${n.toLocaleString('en-US')} ${layout === 'flat' ? 'in one dir' : 'in a tree'}`,
              value: q?.rate ?? null,
              unit: phase === 'readdir' ? 'entries/s' : 'ops/s',
              status: q === null || q.rate === null ? 'FAIL' : q.timedOut ? 'TIMEOUT' : q.error ? 'FAIL' : 'ok',
              baseline: { label: 'local dir', value: l?.rate ?? null, unit: phase === 'readdir' ? 'entries/s' : 'ops/s' },
              vsBaseline: ratio(q?.rate, l?.rate),
            };
            if (notes.length) row.note = notes.join('; ');
            out.rows.push(row);
          }
        }
      }
    } finally {
      await client?.close().catch(() => undefined);
      await cluster.destroy();
    }
  },
};
