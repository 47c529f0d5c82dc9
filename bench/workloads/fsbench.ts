// (b) The shared fsbench.sh on a local directory (the baseline), QuorumFS mounts at N=3/Qw=3/Qr=1
// and N=5/Qw=5/Qr=3, the in-memory file system mounted through the same FUSE binding (the
// binding's ceiling) and, with --peers, MooseFS and GlusterFS brought up by the shared scripts.
// Every figure is reported as a ratio to the local directory, to the best peer and to the ceiling.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { QfsCluster, DEFAULT_SPEC, specLabel, type ClusterSpec } from '../lib/cluster.js';
import { forceUnmount, isMounted } from '../lib/mounts.js';
import { MEM_MOUNT_JS, MEM_MOUNT_TS, fsbenchScript, peerScript } from '../lib/paths.js';
import { run, spawnTracked, stopChild, lastLine } from '../lib/proc.js';
import type { Ctx, Row, Workload, WorkloadResult } from '../lib/types.js';
import { checkAbort, errMsg, ratio, rmrf } from '../lib/util.js';

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
  kind: 'local' | 'qfs' | 'ceiling' | 'peer';
  status: 'ok' | 'FAIL' | 'skipped';
  reason?: string;
  seconds?: number;
  figures: Record<string, Figure>;
}

interface Mounted {
  dir: string;
  teardown: () => Promise<void>;
}

interface TargetDef {
  key: string;
  label: string;
  kind: TargetResult['kind'];
  /** A reason to skip (checked before setup), or null. */
  skip?: () => string | null;
  setup: (ctx: Ctx) => Promise<Mounted>;
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

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('timeout', () => { s.destroy(); res(false); });
    s.once('error', () => res(false));
  });
}

function qfsTarget(key: string, spec: ClusterSpec): TargetDef {
  return {
    key,
    label: `QuorumFS ${specLabel(spec)}`,
    kind: 'qfs',
    setup: async (ctx) => {
      const c = await QfsCluster.up(ctx, key, spec);
      try {
        const mp = await c.mount();
        return { dir: mp, teardown: () => c.destroy() };
      } catch (err) {
        await c.destroy();
        throw err;
      }
    },
  };
}

function memCeiling(binding: 'kernel' | 'libfuse'): TargetDef {
  return {
    key: binding === 'kernel' ? 'fuse-mem' : 'fuse-mem-libfuse',
    label: binding === 'kernel' ? 'in-memory FS via the FUSE binding (ceiling)' : 'in-memory FS via the libfuse binding (old ceiling)',
    kind: 'ceiling',
    skip: () => (existsSync(MEM_MOUNT_JS) ? null : `${existsSync(MEM_MOUNT_TS) ? 'dist/test/helpers/fuse-mem-mount.js not built' : 'test/helpers/fuse-mem-mount.ts not found'}: no in-memory file system to mount through the binding`),
    setup: async (ctx) => {
      const mp = join(ctx.scratch, `mnt-fuse-mem-${binding}`);
      await mkdir(mp, { recursive: true });
      const child = spawnTracked(process.execPath, [MEM_MOUNT_JS, mp], { env: { ...process.env, QUORUMFS_FUSE_BINDING: binding } });
      let output = '';
      const teardown = async () => {
        await stopChild(child, 15_000);
        if (isMounted(mp)) await forceUnmount(mp, ctx.log);
        if (!isMounted(mp)) await rmdir(mp).catch(() => undefined);
      };
      const cleanup = ctx.cleanups.add(`in-memory FUSE mount ${mp}`, teardown);
      try {
        await new Promise<void>((res, rej) => {
          const t = setTimeout(() => rej(new Error(`fuse-mem-mount did not print "ready" within 30 s: ${lastLine(output)}`)), 30_000);
          const onData = (d: Buffer) => {
            output += d.toString('utf8');
            if (/^ready$/m.test(output)) { clearTimeout(t); res(); }
          };
          child.stdout!.on('data', onData);
          child.stderr!.on('data', (d: Buffer) => { output += d.toString('utf8'); });
          child.once('exit', (code) => { clearTimeout(t); rej(new Error(`fuse-mem-mount exited (${code}): ${lastLine(output) || 'no output'}`)); });
        });
        if (!isMounted(mp)) throw new Error(`fuse-mem-mount said ready but ${mp} is not in /proc/mounts`);
        ctx.log(`in-memory file system mounted at ${mp}`);
        return { dir: mp, teardown: () => cleanup.run() };
      } catch (err) {
        await cleanup.run();
        throw err;
      }
    },
  };
}

function peerTarget(key: 'moosefs' | 'gluster', label: string): TargetDef {
  const up = peerScript(`${key}-up.sh`);
  const down = peerScript(`${key}-down.sh`);
  return {
    key,
    label,
    kind: 'peer',
    skip: () => (existsSync(up) && existsSync(down) ? null : `${up} not found (set QUORUMFS_SHARED_BENCH)`),
    setup: async (ctx) => {
      const base = join(ctx.scratch, key);
      const env = { ...process.env, MFS_BASE: base, GL_BASE: base };
      // Fixed ports: another engineer's instance would make ours fail halfway; refuse up front.
      const busy = key === 'moosefs'
        ? (await Promise.all([19419, 19420, 19421, 19422, 19423, 19424].map(async (p) => ((await portOpen('127.0.0.1', p)) ? p : 0)))).filter(Boolean)
        : ((await portOpen('127.0.0.2', 24007)) ? [24007] : []);
      if (busy.length) throw new Error(`port(s) ${busy.join(',')} already in use: another ${label} instance is running`);
      const logFile = join(ctx.logDir, `peer-${key}.log`);
      const teardown = async () => {
        const r = await run('bash', [down, '--purge'], { timeoutMs: 240_000, env, logFile }).catch((e: unknown) => ({ code: -1, stderr: errMsg(e) }));
        if (r.code !== 0) ctx.log(`${key}-down.sh --purge failed: ${lastLine(r.stderr)}`);
        if (isMounted(join(base, 'mnt'))) await forceUnmount(join(base, 'mnt'), ctx.log);
        if (existsSync(base) && !isMounted(join(base, 'mnt'))) await rmrf(base).catch(() => undefined);
      };
      const cleanup = ctx.cleanups.add(`${label} (${base})`, teardown);
      try {
        const r = await run('bash', [up], { timeoutMs: 300_000, env, logFile, signal: ctx.signal });
        if (r.timedOut) throw new Error(`${key}-up.sh timed out`);
        if (r.code !== 0) throw new Error(`${key}-up.sh failed: ${lastLine(r.stderr) || lastLine(r.stdout)}`);
        const mp = join(base, 'mnt');
        if (!isMounted(mp)) throw new Error(`${key}-up.sh returned but ${mp} is not mounted`);
        return { dir: mp, teardown: () => cleanup.run() };
      } catch (err) {
        await cleanup.run();
        throw err;
      }
    },
  };
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
      {
        key: 'local', label: 'local dir', kind: 'local',
        setup: async (c) => {
          const d = join(c.scratch, 'fsbench-local');
          await mkdir(d, { recursive: true });
          return { dir: d, teardown: () => rmrf(d) };
        },
      },
      qfsTarget('fsbench-n3', { replicas: 3, writeQuorum: 3, readQuorum: 1 }),
      qfsTarget('fsbench-n5', DEFAULT_SPEC),
      memCeiling('kernel'),
      memCeiling('libfuse'),
    ];
    if (ctx.peers) targets.push(peerTarget('moosefs', 'MooseFS goal 3'), peerTarget('gluster', 'GlusterFS replica 3'));

    const results: TargetResult[] = [];
    out.raw.targets = results;
    try {
      for (const t of targets) {
        checkAbort(ctx.signal);
        const res: TargetResult = { key: t.key, label: t.label, kind: t.kind, status: 'ok', figures: {} };
        results.push(res);
        const why = t.skip?.() ?? null;
        if (why) {
          res.status = 'skipped';
          res.reason = why;
          out.notes.push(`fsbench on ${t.label}: skipped (${why})`);
          continue;
        }
        ctx.log(`fsbench: ${t.label}`);
        let m: Mounted | null = null;
        const started = Date.now();
        try {
          m = await t.setup(ctx);
          const tsv = join(ctx.scratch, `fsbench-${t.key}.tsv`);
          const r = await run('bash', [script, m.dir, t.key, tsv], {
            timeoutMs: fsbenchBoundMs(tun),
            signal: ctx.signal,
            env: { ...process.env, ...tun },
            logFile: join(ctx.logDir, `fsbench-${t.key}.log`),
          });
          res.figures = existsSync(tsv) ? parseTsv(await readFile(tsv, 'utf8')) : {};
          if (r.timedOut) throw new Error(`fsbench.sh exceeded ${Math.round(fsbenchBoundMs(tun) / 1000)} s`);
          if (r.code !== 0) throw new Error(`fsbench.sh exited ${r.code ?? r.signal}: ${lastLine(r.stderr)}`);
        } catch (err) {
          checkAbort(ctx.signal);
          res.status = 'FAIL';
          res.reason = errMsg(err);
          ctx.log(`fsbench on ${t.label} failed: ${res.reason}`);
        } finally {
          res.seconds = (Date.now() - started) / 1000;
          await m?.teardown();
        }
      }
    } finally {
      // Also after a failure or Ctrl-C: the targets measured so far still make rows.
      out.rows.push(...fsbenchRows(title, results));
    }
  },
};

function fsbenchRows(title: string, results: TargetResult[]): Row[] {
  const rows: Row[] = [];
  const local = results.find((r) => r.kind === 'local');
  const ceiling = results.find((r) => r.kind === 'ceiling' && r.status === 'ok');
  const peers = results.filter((r) => r.kind === 'peer' && r.status === 'ok');
  if (local && local.status !== 'ok') {
    rows.push({ workload: title, target: local.label, figure: '(baseline)', value: null, unit: '', status: local.status, note: local.reason });
  }
  for (const t of results) {
    if (t.kind === 'local') continue;
    if (t.status !== 'ok' && Object.keys(t.figures).length === 0) {
      rows.push({ workload: title, target: t.label, figure: '(all)', value: null, unit: '', status: t.status, note: t.reason });
      continue;
    }
    for (const f of RATE_FIGURES) {
      const fig = t.figures[f];
      const base = local?.figures[f];
      const bestPeer = peers.map((p) => p.figures[f]?.value ?? null).filter((v): v is number => v !== null).sort((a, b) => b - a)[0] ?? null;
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
        if (peers.length) row.vsBestPeer = ratio(fig?.value, bestPeer);
        if (ceiling) row.vsCeiling = ratio(fig?.value, ceiling.figures[f]?.value);
      }
      const notes: string[] = [];
      if (!fig) notes.push(t.reason ?? 'figure missing');
      if (fig && base && fig.unit !== base.unit) notes.push(`${fig.unit} vs local ${base.unit}`);
      if (f === 'cp_r_files_per_s' && t.figures.cp_r_seconds && t.figures.cp_r_seconds.value === null) {
        notes.push(`cp -r hit its limit: ${t.figures.cp_r_files?.text ?? '?'} files copied`);
      }
      if (notes.length) row.note = notes.join('; ');
      rows.push(row);
    }
  }
  return rows;
}
