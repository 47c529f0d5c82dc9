// Mounting a cluster at a directory: clears a stale mount left by a killed process, mounts through
// the FUSE binding, and unmounts cleanly (open files are committed first).
import { mkdir, readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FsClient } from '../client/types.js';
import type { Logger } from '../common/log.js';
import { FuseNativeBinding, findMount, unmountPath, type FuseBinding, type MountEntry, type MountOptions } from './adapter.js';
import type { CapacityProbe } from './capacity.js';
import { KERNEL_MOUNT_DEFAULTS, KernelFuseBinding, kernelOptionsFromEnv } from './kernel/binding.js';
import { QuorumOps } from './ops.js';
import { DEFAULT_BINDING, parseBindingName, type BindingName } from './binding-name.js';
import { pidAlive } from '../cluster/processes.js';

/** How long a stat on an existing mount may take before we call its owner hung. */
const PROBE_TIMEOUT_MS = 3_000;
/** How often a mount checks that it is still in the mount table (to notice `quorumfs umount`). */
const MOUNT_POLL_MS = 1_000;
/** fsname of our mounts: `quorumfs@<pid>` lets anyone tell whether the owner is alive. */
const FSNAME_RE = /^quorumfs@(\d+)$/;

export interface MountFsOptions extends Partial<Omit<MountOptions, 'fsname'>> {
  capacity?: CapacityProbe;
  /** A binding object, or its name; default: QUORUMFS_FUSE_BINDING, else DEFAULT_BINDING. */
  binding?: FuseBinding | BindingName;
  owner?: { uid: number; gid: number };
}

export function createBinding(choice: FuseBinding | BindingName | undefined, logger: Logger): FuseBinding {
  if (choice !== undefined && typeof choice !== 'string') return choice;
  const env = process.env.QUORUMFS_FUSE_BINDING;
  const name = choice ?? (env ? parseBindingName(env, 'QUORUMFS_FUSE_BINDING') : DEFAULT_BINDING);
  return name === 'kernel' ? new KernelFuseBinding({ ...kernelOptionsFromEnv(), logger }) : new FuseNativeBinding();
}

export interface MountHandle {
  mountpoint: string;
  ops: QuorumOps;
  /** Commits open files and unmounts; strict by default (EBUSY while in use), or lazy. */
  unmount(opts?: { lazy?: boolean }): Promise<void>;
  /** Resolves once the mount is gone, whether by unmount() or from outside (`quorumfs umount`). */
  gone: Promise<void>;
}

export const DEFAULT_MOUNT_OPTIONS: Omit<MountOptions, 'fsname'> = {
  // 0 s: every path walk asks us, so an open on this mount sees what another mount closed.
  attrTimeoutS: 0,
  entryTimeoutS: 0,
  bigWrites: true,
  maxWriteBytes: 128 * 1024,
  maxReadBytes: 128 * 1024,
  allowOther: false,
  // Far above the client's own bound on a quorum wait; only a bug should ever reach it.
  opTimeoutMs: 10 * 60_000,
  debug: false,
};

function ownerPid(entry: MountEntry): number | null {
  const m = FSNAME_RE.exec(entry.source);
  return m ? Number(m[1]) : null;
}


/** 'ok' (a live file system answers), 'stale' (its owner is gone) or 'hung' (no answer in time). */
export async function probeMount(mountpoint: string, entry: MountEntry): Promise<'ok' | 'stale' | 'hung'> {
  const pid = ownerPid(entry);
  if (pid !== null && !pidAlive(pid)) return 'stale';
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'hung'>((r) => { timer = setTimeout(() => r('hung'), PROBE_TIMEOUT_MS); });
  // Asynchronous on purpose: this may run in a process that serves a mount (never block on one).
  const probe = stat(mountpoint).then(() => 'ok' as const, (err: NodeJS.ErrnoException) =>
    err.code === 'ENOTCONN' || err.code === 'ECONNABORTED' ? ('stale' as const) : ('ok' as const));
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Clears a dead mount at mountpoint; refuses a live one. */
export async function clearStaleMount(mountpoint: string, logger: Logger): Promise<void> {
  const entry = await findMount(mountpoint);
  if (!entry) return;
  const state = await probeMount(mountpoint, entry);
  if (state === 'ok') throw new Error(`${mountpoint} is already mounted (${entry.source}, ${entry.fstype}); unmount it first: quorumfs umount ${mountpoint}`);
  if (state === 'hung') throw new Error(`${mountpoint} is mounted (${entry.source}) and does not answer; if its process is gone, run: quorumfs umount ${mountpoint}`);
  logger.warn({ mountpoint, source: entry.source }, 'clearing stale mount left by a dead process');
  await unmountPath(mountpoint, { lazy: true });
}

export async function mountFs(client: FsClient, mountpoint: string, logger: Logger, opts: MountFsOptions = {}): Promise<MountHandle> {
  const abs = resolve(mountpoint);
  await clearStaleMount(abs, logger);
  await mkdir(abs, { recursive: true });
  const st = await stat(abs);
  if (!st.isDirectory()) throw new Error(`mountpoint ${abs} is not a directory`);
  if ((await readdir(abs)).length > 0) throw new Error(`mountpoint ${abs} is not empty`);

  const ops = new QuorumOps(client, logger, { capacity: opts.capacity, owner: opts.owner });
  const { capacity: _c, binding: _b, owner: _o, ...fuseOpts } = opts;
  const binding = createBinding(opts.binding, logger);
  // The request sizes default to what the binding can take (1 MiB in the kernel binding).
  const defaults = binding instanceof KernelFuseBinding ? { ...DEFAULT_MOUNT_OPTIONS, ...KERNEL_MOUNT_DEFAULTS } : DEFAULT_MOUNT_OPTIONS;
  const options: MountOptions = { ...defaults, ...stripUndefined(fuseOpts), fsname: `quorumfs@${process.pid}` };
  let mounted;
  try {
    mounted = await binding.mount(abs, ops, options);
  } catch (err) {
    throw new Error(`cannot mount at ${abs}: ${(err as Error).message}`);
  }
  logger.info({ mountpoint: abs, options, binding: binding instanceof KernelFuseBinding ? 'kernel' : 'libfuse' }, 'mounted');

  let resolveGone!: () => void;
  const gone = new Promise<void>((r) => { resolveGone = r; });
  let finished = false;
  let unmounting: Promise<void> | null = null;
  const finish = async (why: string) => {
    if (finished) return;
    finished = true;
    clearInterval(poll);
    await ops.closeAll();
    logger.info({ mountpoint: abs, why }, 'unmounted');
    resolveGone();
  };
  const ours = (e: MountEntry | undefined) => e !== undefined && e.source === options.fsname;
  let polling = false;
  const poll = setInterval(() => {
    if (unmounting || finished || polling) return;
    polling = true;
    (async () => {
      // Gone from the table twice in a row, a moment apart: unmounted from outside.
      if (ours(await findMount(abs))) return;
      await new Promise((r) => setTimeout(r, MOUNT_POLL_MS / 4));
      const again = await findMount(abs);
      if (ours(again) || unmounting) return;
      logger.info({ mountpoint: abs, now: again ?? null }, 'mount left the mount table');
      // Free the binding's side only: whatever is on the path now is not ours to unmount.
      unmounting = mounted.release().catch(() => undefined).then(() => finish('unmounted from outside'));
    })().catch(() => undefined).finally(() => { polling = false; });
  }, MOUNT_POLL_MS);
  poll.unref();

  return {
    mountpoint: abs,
    ops,
    gone,
    unmount: async (u) => {
      if (unmounting) return unmounting;
      const p = mounted.unmount({ lazy: u?.lazy ?? false }).then(() => finish('unmount'));
      unmounting = p;
      // A failed strict unmount (EBUSY) leaves the mount in place and usable.
      p.catch(() => { if (!finished) unmounting = null; });
      return p;
    },
  };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
