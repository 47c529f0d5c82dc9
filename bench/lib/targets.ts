// The targets the file-system workloads measure, each set up fresh and torn down after: a local
// directory, a QuorumFS cluster and mount, the in-memory file system behind the FUSE binding (the
// binding's ceiling) and the peers brought up by the shared scripts (MooseFS also with its
// chunkservers set to fsync before close), and how the disk and memory are let settle between
// them. Used by fsbench (workloads/fsbench.ts) and the create curve (workloads/create-curve.ts).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { appendFile, mkdir, rmdir, statfs, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { allServers, runningPid } from '../../src/cluster/processes.js';
import { HEAP_FLAGS, tunedEnv } from '../../src/common/tuned-env.js';
import type { ProbeServers } from './ackprobe.js';
import { QfsCluster, specLabel, type ClusterSpec } from './cluster.js';
import { forceUnmount, isMounted } from './mounts.js';
import { MEM_MOUNT_JS, MEM_MOUNT_TS, peerScript } from './paths.js';
import { run, runOk, sleep, spawnTracked, stopChild, lastLine } from './proc.js';
import { FSYNC_VARIANT_TAG } from './report.js';
import type { Ctx } from './types.js';
import { errMsg, rmrf } from './util.js';

/** A local directory, DIRNAME under the run's scratch dir: the baseline. */
export function localTarget(dirName: string): TargetDef {
  return {
    key: 'local', label: 'local dir', kind: 'local',
    setup: async (c) => {
      const d = join(c.scratch, dirName);
      await mkdir(d, { recursive: true });
      return { dir: d, teardown: () => rmrf(d) };
    },
  };
}

/**
 * 'peer': a peer as its scripts set it up (its defaults); the "best peer" baseline.
 * 'peer-fsync': a peer changed to fsync on its servers before close; the "best fsync peer" baseline.
 */
export type TargetKind = 'local' | 'qfs' | 'ceiling' | 'peer' | 'peer-fsync';

export interface Mounted {
  dir: string;
  teardown: () => Promise<void>;
  /** The server processes the ack probe follows (none for local dirs and the in-memory ceiling). */
  probeServers?: () => ProbeServers;
}

export interface TargetDef {
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
export const SETTLE_MS = 65_000;

export async function settleDisk(ctx: Ctx, until: number): Promise<number> {
  const t0 = Date.now();
  await run('sync', [], { timeoutMs: 300_000, signal: ctx.signal });
  const wait = until - Date.now();
  if (wait > 0) {
    ctx.log(`letting the disk settle for ${Math.ceil(wait / 1000)} s after the previous target's deletions`);
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
export const MEMORY_SETTLE_MS = 5_000;

export async function settleMemory(ctx: Ctx): Promise<boolean> {
  await run('sync', [], { timeoutMs: 300_000, signal: ctx.signal });
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
  } catch {
    return false;
  }
  await sleep(MEMORY_SETTLE_MS, ctx.signal);
  return true;
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host, port, timeout: 1000 });
    s.once('connect', () => { s.destroy(); res(true); });
    s.once('timeout', () => { s.destroy(); res(false); });
    s.once('error', () => res(false));
  });
}

export function qfsTarget(key: string, spec: ClusterSpec): TargetDef {
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

export function memCeiling(binding: 'kernel' | 'libfuse'): TargetDef {
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

export interface PeerVariant {
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
export function peerVariants(): PeerVariant[] {
  return [
    { peer: 'moosefs', key: 'moosefs', label: 'MooseFS goal 3', kind: 'peer' },
    {
      peer: 'moosefs', key: 'moosefs-g3-fsync', label: `MooseFS goal 3 ${FSYNC_VARIANT_TAG}`, kind: 'peer-fsync',
      defaultKey: 'moosefs', configure: mooseFsyncBeforeClose,
    },
    { peer: 'gluster', key: 'gluster', label: 'GlusterFS replica 3', kind: 'peer' },
  ];
}

export const MOOSE_FSYNC_NOTE = [
  `MooseFS goal 3 ${FSYNC_VARIANT_TAG}: a fresh cluster from moosefs-up.sh, then HDD_FSYNC_BEFORE_CLOSE = 1 (default 0)`,
  "appended to every chunkserver's mfschunkserver.cfg and each chunkserver restarted on it (moosefs-down.sh / moosefs-up.sh cs N)",
  'before anything is written; the ack probe rows show whether close() and fsync() waited for those fsyncs.',
].join(' ');
export const GLUSTER_NOTE = [
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

export function peerTarget(v: PeerVariant): TargetDef {
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

