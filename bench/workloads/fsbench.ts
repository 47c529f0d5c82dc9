// (b) The shared fsbench.sh on a local directory (the baseline), QuorumFS mounts at N=3/Qw=3/Qr=1
// and N=5/Qw=5/Qr=3, the in-memory file system mounted through the same FUSE binding (the
// binding's ceiling) and, with --peers, MooseFS and GlusterFS brought up by the shared scripts,
// MooseFS a second time with its chunkservers set to fsync before closing a chunk.
// Every figure is reported as a ratio to the local directory, to the best peer at its defaults,
// to the best "fsync before close" peer variant and to the ceiling. Before fsbench.sh, every
// QuorumFS and peer mount also gets the ack probe (lib/ackprobe.ts): did close() and fsync() wait
// for the servers' fsync?
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, readFile, rmdir, statfs, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { allServers, runningPid } from '../../src/cluster/processes.js';
import { HEAP_FLAGS, tunedEnv } from '../../src/common/tuned-env.js';
import { ackProbe, describeCase, straceAvailable, summarizeCase, type AckProbe, type ProbeServers } from '../lib/ackprobe.js';
import { QfsCluster, DEFAULT_SPEC, specLabel, type ClusterSpec } from '../lib/cluster.js';
import { forceUnmount, isMounted } from '../lib/mounts.js';
import { MEM_MOUNT_JS, MEM_MOUNT_TS, fsbenchScript, peerScript } from '../lib/paths.js';
import { run, runOk, sleep, spawnTracked, stopChild, lastLine } from '../lib/proc.js';
import type { Ctx, Row, Workload, WorkloadResult } from '../lib/types.js';
import { FSYNC_VARIANT_TAG, fmtRatio } from '../lib/report.js';
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

/**
 * 'peer': a peer as its scripts set it up (its defaults); the "best peer" baseline.
 * 'peer-fsync': a peer changed to fsync on its servers before close; the "best fsync peer" baseline.
 */
type TargetKind = 'local' | 'qfs' | 'ceiling' | 'peer' | 'peer-fsync';

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

interface Mounted {
  dir: string;
  teardown: () => Promise<void>;
  /** The server processes the ack probe follows (none for local dirs and the in-memory ceiling). */
  probeServers?: () => ProbeServers;
}

interface TargetDef {
  key: string;
  label: string;
  kind: TargetKind;
  defaultKey?: string;
  /** A reason to skip (checked before setup), or null. */
  skip?: () => string | null;
  setup: (ctx: Ctx) => Promise<Mounted>;
}

/**
 * Every target deletes its files (and a peer or cluster its data directories) when it ends, and
 * on this kind of VM (ext4 without a journal) the inode allocator then skips every inode freed in
 * the last 60 s, or 360 s while its inode-table block is still dirty (ext4's recently_deleted()).
 * Measured: right after a deletion the size of the local directory's run, a QuorumFS target lost
 * 25-50% on ls -lR, read-back, rm and cp -r against the same run 150 s later. So before each
 * disk-backed target: a sync (clean inode tables, so the 60 s window applies), then wait until
 * this long has passed since the previous disk-backed target was torn down.
 */
const SETTLE_MS = 65_000;

async function settleDisk(ctx: Ctx, until: number): Promise<number> {
  const t0 = Date.now();
  await run('sync', [], { timeoutMs: 300_000, signal: ctx.signal });
  const wait = until - Date.now();
  if (wait > 0) {
    ctx.log(`fsbench: letting the disk settle for ${Math.ceil(wait / 1000)} s after the previous target's deletions`);
    await sleep(wait, ctx.signal);
  }
  return (Date.now() - t0) / 1000;
}

/**
 * This VM hands memory the guest frees back to its host (virtio-balloon free page reporting), and
 * touching such a page again is slow. How much of it a target meets depended on the one before:
 * QuorumFS N=3 ran right after the in-memory targets, which free ~1 GiB when they exit. The same
 * QuorumFS build's 512 MiB write ran at 126 MiB/s right after a large deletion and at 233 minutes
 * later; five back-to-back runs of the in-memory ceiling's write ranged from 204 to 1,646 MiB/s,
 * the first after a pause the slowest. So before every target: a sync, the page cache dropped,
 * and a pause for the freed memory to be reported, so each one starts from the same cold state.
 */
const MEMORY_SETTLE_MS = 5_000;

async function settleMemory(ctx: Ctx): Promise<boolean> {
  await run('sync', [], { timeoutMs: 300_000, signal: ctx.signal });
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
  } catch {
    return false;
  }
  await sleep(MEMORY_SETTLE_MS, ctx.signal);
  return true;
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
        const probeServers = (): ProbeServers => ({
          pids: allServers(c.state()).filter((r) => r.kind === 'data').map((r) => runningPid(c.dir, r)).filter((p): p is number => p !== null),
          dataPrefix: c.dir,
          noun: 'data-server',
        });
        return { dir: mp, teardown: () => c.destroy(), probeServers };
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
      // The ceiling runs with the mount's own heap settings, so it measures the binding alone.
      const child = spawnTracked(process.execPath, [...HEAP_FLAGS, MEM_MOUNT_JS, mp], { env: { ...tunedEnv(), QUORUMFS_FUSE_BINDING: binding } });
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

type PeerName = 'moosefs' | 'gluster';

interface PeerVariant {
  peer: PeerName;
  /** Target key: fsbench label, log names, its own scratch dir (MFS_BASE / GL_BASE). */
  key: string;
  label: string;
  kind: 'peer' | 'peer-fsync';
  defaultKey?: string;
  /** Applied after <peer>-up.sh and before any measurement (the shared scripts have no hook). */
  configure?: (ctx: Ctx, p: PeerEnv) => Promise<void>;
}

interface PeerEnv {
  base: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
}

const MFS_CHUNKSERVERS = [1, 2, 3];
const MFS_CLIENT_PORT = 19421;

/**
 * The peers --peers measures. MooseFS chunkservers do not fsync a chunk before closing it unless
 * HDD_FSYNC_BEFORE_CLOSE = 1 (mfschunkserver.cfg(5), default 0), so MooseFS is measured both ways.
 * GlusterFS 10 has no setting that makes close() wait for the bricks' disks (see GLUSTER_NOTE), so
 * it is measured at its defaults only.
 */
function peerVariants(): PeerVariant[] {
  return [
    { peer: 'moosefs', key: 'moosefs', label: 'MooseFS goal 3', kind: 'peer' },
    {
      peer: 'moosefs', key: 'moosefs-g3-fsync', label: `MooseFS goal 3 ${FSYNC_VARIANT_TAG}`, kind: 'peer-fsync',
      defaultKey: 'moosefs', configure: mooseFsyncBeforeClose,
    },
    { peer: 'gluster', key: 'gluster', label: 'GlusterFS replica 3', kind: 'peer' },
  ];
}

const MOOSE_FSYNC_NOTE = [
  `MooseFS goal 3 ${FSYNC_VARIANT_TAG}: a fresh cluster from moosefs-up.sh, then HDD_FSYNC_BEFORE_CLOSE = 1 (default 0)`,
  "appended to every chunkserver's mfschunkserver.cfg and each chunkserver restarted on it (moosefs-down.sh / moosefs-up.sh cs N)",
  'before anything is written; the ack probe rows show whether close() and fsync() waited for those fsyncs.',
].join(' ');
const GLUSTER_NOTE = [
  `GlusterFS has no ${FSYNC_VARIANT_TAG} variant: no volume option of GlusterFS 10 makes close() wait for the bricks' disks.`,
  "performance.flush-behind off and performance.write-behind off make close() wait for the bricks' replies, but the bricks",
  'still do not fsync on close (checked by hand with the same probe); cluster.ensure-durability is on by default and its',
  "fsyncs are AFR's own; storage.batch-fsync-* only batch fsync() calls. An application's fsync() does wait for the",
  "bricks' fsyncs (ack probe rows).",
].join(' ');

/** Appends HDD_FSYNC_BEFORE_CLOSE = 1 to each chunkserver's config and restarts it with the shared script. */
async function mooseFsyncBeforeClose(ctx: Ctx, p: PeerEnv): Promise<void> {
  const up = peerScript('moosefs-up.sh');
  const down = peerScript('moosefs-down.sh');
  for (const n of MFS_CHUNKSERVERS) {
    // moosefs-up.sh writes this file and, in its `cs N` mode, restarts the chunkserver on it as is.
    const cfg = join(p.base, 'etc', `mfschunkserver-cs${n}.cfg`);
    if (!existsSync(cfg)) throw new Error(`${cfg} not found: moosefs-up.sh no longer keeps per-chunkserver configs there`);
    await appendFile(cfg, '# added by QuorumFS bench/workloads/fsbench.ts: fsync each chunk before closing it\nHDD_FSYNC_BEFORE_CLOSE = 1\n');
    const opts = { timeoutMs: 90_000, env: p.env, logFile: p.logFile, signal: ctx.signal };
    await runOk('bash', [down, 'cs', String(n)], opts);
    await runOk('bash', [up, 'cs', String(n)], opts);
  }
  // A restarted chunkserver is in temporary maintenance and reports no space for a few seconds;
  // writes in that window would go to fewer than 3 copies, and fsbench.sh checks free space.
  let last = '';
  for (let i = 0; i < 120; i++) {
    const r = await run('mfscli', ['-H', '127.0.0.1', '-P', String(MFS_CLIENT_PORT), '-SCS', '-p'], { timeoutMs: 15_000, signal: ctx.signal });
    const ready = r.stdout.split('\n').filter((l) => l.startsWith('chunk servers:')).filter((l) => {
      const f = l.split('\t');
      const m = f.findIndex((x) => x.startsWith('maintenance'));
      return m > 0 && f[m] === 'maintenance_off' && Number(f[m + 3]) > 0;
    }).length;
    const fs = await statfs(join(p.base, 'mnt')).catch(() => null);
    last = `${ready}/${MFS_CHUNKSERVERS.length} chunkservers ready, ${fs ? fs.bavail : '?'} blocks free`;
    if (ready === MFS_CHUNKSERVERS.length && fs && fs.bavail > 0) {
      ctx.log(`moosefs-g3-fsync: chunkservers restarted with HDD_FSYNC_BEFORE_CLOSE = 1 (${last})`);
      return;
    }
    await sleep(500, ctx.signal);
  }
  throw new Error(`chunkservers not back after the restart with HDD_FSYNC_BEFORE_CLOSE = 1: ${last}`);
}

function pidIfCmdlineHas(pidFile: string, needle: string): number | null {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(needle) ? pid : null;
  } catch {
    return null;
  }
}

/** The processes that write a peer's data to disk, found the way its down script finds them. */
function peerProbeServers(peer: PeerName, base: string): ProbeServers {
  if (peer === 'moosefs') {
    return {
      pids: MFS_CHUNKSERVERS.map((n) => pidIfCmdlineHas(join(base, 'run', `cs${n}.pid`), 'mfschunkserver')).filter((x): x is number => x !== null),
      dataPrefix: join(base, 'cs'),
      noun: 'chunkserver',
    };
  }
  // glusterd keeps the brick pid files in its compiled-in /var/run/gluster; ours name our base.
  const dir = '/var/run/gluster/vols/gv0';
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => /-bricks-b\d+\.pid$/.test(f)) : [];
  return {
    pids: files.map((f) => pidIfCmdlineHas(join(dir, f), base)).filter((x): x is number => x !== null),
    dataPrefix: join(base, 'bricks'),
    noun: 'brick',
  };
}

function peerTarget(v: PeerVariant): TargetDef {
  const up = peerScript(`${v.peer}-up.sh`);
  const down = peerScript(`${v.peer}-down.sh`);
  const { key, label } = v;
  return {
    key,
    label,
    kind: v.kind,
    defaultKey: v.defaultKey,
    skip: () => (existsSync(up) && existsSync(down) ? null : `${up} not found (set QUORUMFS_SHARED_BENCH)`),
    setup: async (ctx) => {
      const base = join(ctx.scratch, key);
      const env = { ...process.env, MFS_BASE: base, GL_BASE: base };
      // Fixed ports: another engineer's instance would make ours fail halfway; refuse up front.
      const busy = v.peer === 'moosefs'
        ? (await Promise.all([19419, 19420, 19421, 19422, 19423, 19424].map(async (p) => ((await portOpen('127.0.0.1', p)) ? p : 0)))).filter(Boolean)
        : ((await portOpen('127.0.0.2', 24007)) ? [24007] : []);
      if (busy.length) throw new Error(`port(s) ${busy.join(',')} already in use: another ${label} instance is running`);
      const logFile = join(ctx.logDir, `peer-${key}.log`);
      const teardown = async () => {
        const r = await run('bash', [down, '--purge'], { timeoutMs: 240_000, env, logFile }).catch((e: unknown) => ({ code: -1, stderr: errMsg(e) }));
        if (r.code !== 0) ctx.log(`${v.peer}-down.sh --purge failed: ${lastLine(r.stderr)}`);
        if (isMounted(join(base, 'mnt'))) await forceUnmount(join(base, 'mnt'), ctx.log);
        if (existsSync(base) && !isMounted(join(base, 'mnt'))) await rmrf(base).catch(() => undefined);
      };
      const cleanup = ctx.cleanups.add(`${label} (${base})`, teardown);
      try {
        const r = await run('bash', [up], { timeoutMs: 300_000, env, logFile, signal: ctx.signal });
        if (r.timedOut) throw new Error(`${v.peer}-up.sh timed out`);
        if (r.code !== 0) throw new Error(`${v.peer}-up.sh failed: ${lastLine(r.stderr) || lastLine(r.stdout)}`);
        const mp = join(base, 'mnt');
        if (!isMounted(mp)) throw new Error(`${v.peer}-up.sh returned but ${mp} is not mounted`);
        await v.configure?.(ctx, { base, env, logFile });
        return { dir: mp, teardown: () => cleanup.run(), probeServers: () => peerProbeServers(v.peer, base) };
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

/** The machine's CPU times from /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal), in ticks. */
function cpuTimes(): number[] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    return line.trim().split(/\s+/).slice(1, 9).map(Number);
  } catch {
    return [];
  }
}

function stealPercent(before: number[], after: number[]): number | undefined {
  if (before.length < 8 || after.length < 8) return undefined;
  const d = after.map((v, i) => v - before[i]!);
  const total = d.reduce((a, b) => a + b, 0);
  return total > 0 ? (100 * d[7]!) / total : undefined;
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
