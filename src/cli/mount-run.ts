// What `quorumfs mount` and `quorumfs umount` do (mount-commands.ts only declares them, so other
// commands do not load the client and the FUSE bindings).
//
// A mount runs in its own process: by default a background daemon (this command re-runs itself with
// --foreground, detached, its output in a log file) and returns once the kernel lists the mount;
// with --foreground it stays attached and Ctrl-C/SIGTERM unmount cleanly.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { connectClient, resolveEndpoint } from '../client/connect.js';
import { createLogger } from '../common/log.js';
import { findMount, unmountPath } from '../fuse/adapter.js';
import { healthCapacityProbe } from '../fuse/capacity.js';
import { parseBindingName } from '../fuse/binding-name.js';
import { mountFs, probeMount } from '../fuse/mount.js';
import { lifecycle } from './lifecycle.js';
import type { EndpointOptions } from './options.js';
import { pidAlive } from '../cluster/processes.js';
import { HEAP_FLAGS, tunedEnv } from '../common/tuned-env.js';

export interface MountFlags extends EndpointOptions {
  foreground?: boolean;
  logFile?: string;
  attrTimeout: string;
  allowOther?: boolean;
  binding?: string;
  syncUnlink?: boolean;
}

/** How long the background form waits for the kernel to list the mount. */
const DAEMON_START_TIMEOUT_MS = 30_000;
/** How long umount waits for the mount process to commit and exit after the kernel let go. */
const OWNER_EXIT_WAIT_MS = 15_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}


export function parseSeconds(name: string, raw: string): number {
  if (!/^\d+(\.\d+)?$/.test(raw.trim())) throw new Error(`${name} must be a number of seconds, got "${raw}"`);
  return Number(raw);
}

export function defaultLogFile(mountpoint: string): string {
  const tag = createHash('sha256').update(mountpoint).digest('hex').slice(0, 12);
  return join(tmpdir(), `quorumfs-mount-${process.getuid?.() ?? 0}-${tag}.log`);
}

function lastLogLine(file: string): string {
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean);
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    // The CLI's own one-line error wins over structured log lines.
    if (l.startsWith('quorumfs')) return l.replace(/^quorumfs( mount)?: /, '');
  }
  const last = lines[lines.length - 1] ?? '';
  try {
    const j = JSON.parse(last) as { msg?: string };
    return j.msg ?? last;
  } catch {
    return last;
  }
}

/** Serves the mount in this process until it is unmounted (SIGINT/SIGTERM or `quorumfs umount`). */
export async function runForeground(mountpoint: string, o: MountFlags): Promise<void> {
  lifecycle.longRunning = true;
  const attrTimeoutS = parseSeconds('--attr-timeout', o.attrTimeout);
  const logger = createLogger('mount');
  const endpoint = resolveEndpoint(o);
  const client = await connectClient({ ...endpoint, logger, cacheMetadata: true, asyncUnlink: !o.syncUnlink });
  let m;
  try {
    m = await mountFs(client, mountpoint, logger, {
      attrTimeoutS,
      entryTimeoutS: attrTimeoutS,
      allowOther: !!o.allowOther,
      // Unset: QUORUMFS_FUSE_BINDING, else the default (see mount.ts).
      binding: o.binding !== undefined ? parseBindingName(o.binding) : undefined,
      capacity: healthCapacityProbe(client.mediator.servers, client.config.replicas, logger),
    });
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
  process.stdout.write(`mounted at ${m.mountpoint}\n`);
  const mounted = m;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'unmounting');
    // Strict first (commits and leaves nothing behind); if something still uses the mount, detach
    // it lazily: we are going away either way.
    mounted.unmount()
      .catch((err: unknown) => {
        logger.warn({ err: String(err) }, 'mount busy, detaching lazily');
        return mounted.unmount({ lazy: true });
      })
      .catch((err: unknown) => logger.error({ err: String(err) }, 'unmount failed'));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGHUP', () => undefined);
  await mounted.gone;
  await client.close().catch((err: unknown) => logger.warn({ err: String(err) }, 'closing the client'));
  logger.info('mount process exiting');
  process.exit(0);
}

/** Starts the mount as a detached daemon and returns once the kernel lists it. */
export async function mountInBackground(mountpoint: string, o: EndpointOptions & { logFile?: string; attrTimeout?: string; allowOther?: boolean; binding?: string; syncUnlink?: boolean }): Promise<string> {
  const abs = resolve(mountpoint);
  // Fail fast, with the same one-line errors as the foreground form.
  resolveEndpoint(o);
  const existing = await findMount(abs);
  if (existing && (await probeMount(abs, existing)) === 'ok') throw new Error(`${abs} is already mounted (${existing.source})`);

  const logFile = resolve(o.logFile ?? defaultLogFile(abs));
  const args = [...HEAP_FLAGS, process.argv[1]!, 'mount', abs, '--foreground'];
  if (o.meta) args.push('--meta', o.meta);
  if (o.secretFile) args.push('--secret-file', resolve(o.secretFile));
  if (o.dir) args.push('--dir', resolve(o.dir));
  if (o.attrTimeout !== undefined) args.push('--attr-timeout', o.attrTimeout);
  if (o.allowOther) args.push('--allow-other');
  if (o.syncUnlink) args.push('--sync-unlink');
  if (o.binding !== undefined) args.push('--binding', parseBindingName(o.binding));
  const fd = openSync(logFile, 'a', 0o600);
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd], cwd: process.cwd(), env: tunedEnv() });
  closeSync(fd);
  let exited: number | null = null;
  child.once('exit', (code, signal) => { exited = code ?? (signal ? 128 : 1); });
  child.unref();

  const deadline = Date.now() + DAEMON_START_TIMEOUT_MS;
  for (;;) {
    const e = await findMount(abs);
    if (e && e.source === `quorumfs@${child.pid}`) return abs;
    if (exited !== null) {
      throw new Error(lastLogLine(logFile) || `the mount process exited (${exited}); see ${logFile}`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error(`mount did not appear within ${DAEMON_START_TIMEOUT_MS / 1000} s; see ${logFile}`);
    }
    await sleep(50);
  }
}

/** Unmounts a QuorumFS mount; a stale one (its process died) is detached lazily. */
export async function unmountQuorumFs(mountpoint: string, opts: { lazy?: boolean } = {}): Promise<void> {
  const abs = resolve(mountpoint);
  const entry = await findMount(abs);
  if (!entry) throw new Error(`${abs} is not mounted`);
  if (entry.fstype !== 'fuse.quorumfs' && !entry.source.startsWith('quorumfs')) {
    throw new Error(`${abs} is not a QuorumFS mount (${entry.source}, ${entry.fstype})`);
  }
  const state = await probeMount(abs, entry);
  const lazy = opts.lazy || state === 'stale';
  try {
    await unmountPath(abs, { lazy });
  } catch (err) {
    const msg = (err as Error).message;
    if (/busy/i.test(msg)) throw new Error(`${abs} is busy (a process has a file open or its working directory there); close it, or use --lazy`);
    throw err;
  }
  // The mount process notices and exits after committing whatever was still open; wait for it so
  // that when we return, the data is in the cluster.
  const m = /^quorumfs@(\d+)$/.exec(entry.source);
  if (m && state !== 'stale') {
    const pid = Number(m[1]);
    const deadline = Date.now() + OWNER_EXIT_WAIT_MS;
    while (pidAlive(pid) && Date.now() < deadline) await sleep(50);
  }
}

/** For `quorumfs up --mount`: a background mount of the local cluster in dir, and how to undo it. */
export async function mountLocalCluster(dir: string, mountpoint: string): Promise<() => Promise<void>> {
  const abs = await mountInBackground(mountpoint, { dir });
  process.stdout.write(`mounted at ${abs}\n`);
  return () => unmountQuorumFs(abs, { lazy: false }).catch(() => unmountQuorumFs(abs, { lazy: true }));
}
