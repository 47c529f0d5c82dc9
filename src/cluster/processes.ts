// Starting, finding and stopping the local cluster's server processes. Each server is its own OS
// process whose command line names its directory; its pid is recorded in that directory.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync, existsSync, rmSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { socketPathFits } from '../common/local-socket.js';
import { HEAP_FLAGS, tunedEnv } from '../common/tuned-env.js';
import type { ClusterState } from './state.js';
import { paths } from './state.js';

export const CLI_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'bin', 'quorumfs.js');

export type ServerRef = { kind: 'meta' } | { kind: 'data'; index: number };

export function serverName(ref: ServerRef): string {
  return ref.kind === 'meta' ? 'metadata server' : `data server ${ref.index}`;
}

export function allServers(state: ClusterState): ServerRef[] {
  return [{ kind: 'meta' }, ...state.dataPorts.map((_, i) => ({ kind: 'data' as const, index: i + 1 }))];
}

function pidFile(dir: string, ref: ServerRef): string {
  return ref.kind === 'meta' ? paths.metaPid(dir) : paths.dataPid(dir, ref.index);
}

function logFile(dir: string, ref: ServerRef): string {
  return ref.kind === 'meta' ? paths.metaLog(dir) : paths.dataLog(dir, ref.index);
}

export function serverArgs(dir: string, state: ClusterState, ref: ServerRef): string[] {
  const socket = ref.kind === 'meta' ? paths.metaSocket(dir) : paths.dataSocket(dir, ref.index);
  const common = ['--secret-file', paths.secret(dir), ...(socketPathFits(socket) ? ['--socket', socket] : [])];
  if (ref.kind === 'meta') {
    return ['meta-server', '--meta', `sqlite://${paths.metaDb(dir)}`, '--listen', `${state.host}:${state.metaPort}`, ...common];
  }
  return [
    'data-server', '--dir', paths.dataDir(dir, ref.index), '--listen', `${state.host}:${state.dataPorts[ref.index - 1]}`,
    ...common, '--block-size', String(state.config.blockSizeBytes), '--index', String(ref.index),
    // Heartbeats and fault reports: how the metadata server learns who is up and what to repair.
    '--meta', `http://${state.host}:${state.metaPort}`,
  ];
}

/** Pid of the server if its process is alive and really is that server (pids get reused). */
export function runningPid(dir: string, ref: ServerRef): number | null {
  const f = pidFile(dir, ref);
  if (!existsSync(f)) return null;
  const pid = Number(readFileSync(f, 'utf8').trim());
  return isServerPid(pid, dir, ref) ? pid : null;
}

/**
 * Whether pid is a live process whose command line names this server's directory. The command line
 * never changes, so this holds after the directory was deleted too.
 */
export function isServerPid(pid: number, dir: string, ref: ServerRef): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes(ref.kind === 'meta' ? `sqlite://${paths.metaDb(dir)}` : paths.dataDir(dir, ref.index));
  } catch {
    return false;
  }
}

/**
 * Starts one server detached from this process, its output appended to its server.log; `extra`
 * arguments follow its usual ones (the bench restarts servers with changed limits).
 */
export function startServer(dir: string, state: ClusterState, ref: ServerRef, extra: string[] = []): number {
  const log = logFile(dir, ref);
  mkdirSync(dirname(log), { recursive: true });
  mkdirSync(paths.runDir(dir), { recursive: true, mode: 0o700 });
  const fd = openSync(log, 'a');
  try {
    const child = spawn(process.execPath, [...HEAP_FLAGS, CLI_PATH, ...serverArgs(dir, state, ref), ...extra], {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: tunedEnv(),
    });
    child.unref();
    if (!child.pid) throw new Error(`could not start ${serverName(ref)}`);
    writeFileSync(pidFile(dir, ref), `${child.pid}\n`);
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function signalServer(dir: string, ref: ServerRef, signal: NodeJS.Signals): number | null {
  const pid = runningPid(dir, ref);
  if (pid === null) return null;
  try {
    process.kill(pid, signal);
  } catch {
    return null;
  }
  return pid;
}

/** True while a process exists (EPERM: it exists but belongs to someone else). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** SIGTERM, wait up to graceMs, then SIGKILL; resolves when the process is gone. */
export async function stopServer(dir: string, ref: ServerRef, graceMs = 10_000): Promise<boolean> {
  const pid = runningPid(dir, ref);
  if (pid !== null) await terminate(pid, graceMs);
  rmSync(pidFile(dir, ref), { force: true });
  return pid !== null;
}

/** Stops pid if it still is this server, whatever its pid file says now (see stopCluster). */
export async function stopServerPid(dir: string, ref: ServerRef, pid: number, graceMs = 10_000): Promise<boolean> {
  if (!isServerPid(pid, dir, ref)) return false;
  await terminate(pid, graceMs);
  return true;
}

async function terminate(pid: number, graceMs: number): Promise<void> {
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
  while (pidAlive(pid)) await new Promise((r) => setTimeout(r, 20));
}

/** SIGKILL (the chaos commands' crash) and wait until the process is gone. */
export async function killServer(dir: string, ref: ServerRef): Promise<boolean> {
  const pid = signalServer(dir, ref, 'SIGKILL');
  if (pid === null) return false;
  while (pidAlive(pid)) await new Promise((r) => setTimeout(r, 20));
  return true;
}

/** Last non-empty line of a server's log, for one-line error messages. */
export function lastLogLine(dir: string, ref: ServerRef): string {
  try {
    const lines = readFileSync(logFile(dir, ref), 'utf8').trim().split('\n');
    const last = lines[lines.length - 1] ?? '';
    try {
      const j = JSON.parse(last) as { msg?: string; err?: unknown };
      return [j.msg, j.err ? String((j.err as { message?: string }).message ?? j.err) : ''].filter(Boolean).join(': ');
    } catch {
      return last;
    }
  } catch {
    return '';
  }
}
