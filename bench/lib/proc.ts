// Child processes for the benchmark. Every child gets its own process group (detached), so a
// Ctrl-C on the terminal reaches only this process, which then stops children in order; a timeout
// or an abort kills the child's whole group (fsbench.sh and its fio, cp, perl...).
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { basename } from 'node:path';
import { pidAlive } from '../../src/cluster/processes.js';

export { pidAlive };

export interface RunOptions {
  /** Hard bound; the group gets SIGTERM, then SIGKILL 5 s later. */
  timeoutMs: number;
  /** Aborting kills the group and makes run() reject with the signal's reason. */
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Output (both streams, with a header line) is appended there too. */
  logFile?: string;
  /** Keep at most this many characters of each stream in memory (the end). */
  keepChars?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

const live = new Set<ChildProcess>();

/** Process groups still running (for the last-resort cleanup on exit). */
export function liveChildren(): number[] {
  return [...live].map((c) => c.pid).filter((p): p is number => typeof p === 'number');
}

export function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}


export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((res, rej) => {
    if (signal?.aborted) return rej(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      res();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      rej(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function tail(s: string, n: number): string {
  return s.length > n ? s.slice(s.length - n) : s;
}

/** Starts a tracked child in its own process group. */
export function spawnTracked(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; stdio?: 'pipe' | 'ignore' } = {}): ChildProcess {
  const child = spawn(cmd, args, {
    detached: true,
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: opts.stdio === 'ignore' ? 'ignore' : ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** Stops a tracked child's group: SIGTERM, then SIGKILL after graceMs. Resolves once it exited. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  killGroup(child.pid, 'SIGTERM');
  const t = setTimeout(() => { if (child.pid) killGroup(child.pid, 'SIGKILL'); }, graceMs);
  await exited;
  clearTimeout(t);
}

/** Runs a command to completion (or timeout/abort). Never throws for a non-zero exit. */
export function run(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const keep = opts.keepChars ?? 200_000;
  return new Promise((resolvePromise, reject) => {
    if (opts.signal?.aborted) return reject(opts.signal.reason);
    const started = Date.now();
    let log: WriteStream | undefined;
    if (opts.logFile) {
      log = createWriteStream(opts.logFile, { flags: 'a' });
      log.write(`\n$ ${[cmd, ...args].join(' ')}   # ${new Date().toISOString()}\n`);
    }
    const child = spawnTracked(cmd, args, { env: opts.env, cwd: opts.cwd });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => { stdout = tail(stdout + d.toString('utf8'), keep); log?.write(d); });
    child.stderr!.on('data', (d: Buffer) => { stderr = tail(stderr + d.toString('utf8'), keep); log?.write(d); });
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const kill = () => {
      if (child.pid === undefined) return;
      killGroup(child.pid, 'SIGTERM');
      killTimer = setTimeout(() => { if (child.pid) killGroup(child.pid, 'SIGKILL'); }, 5_000);
    };
    const timer = setTimeout(() => { timedOut = true; kill(); }, opts.timeoutMs);
    const onAbort = () => { aborted = true; kill(); };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('error', (err) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      log?.end();
      reject(err);
    });
    child.once('close', (code, sig) => {
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      opts.signal?.removeEventListener('abort', onAbort);
      const ms = Date.now() - started;
      log?.end(`# exit ${code ?? sig} after ${(ms / 1000).toFixed(1)} s${timedOut ? ' (TIMEOUT)' : ''}\n`);
      if (aborted && opts.signal) return reject(opts.signal.reason);
      resolvePromise({ code, signal: sig, stdout, stderr, timedOut, ms });
    });
  });
}

/** run() that throws unless the command exits 0; the error carries the last line of stderr. */
export async function runOk(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.timedOut) throw new Error(`${shortCmd(cmd, args)} timed out after ${Math.round(opts.timeoutMs / 1000)} s`);
  if (r.code !== 0) throw new Error(`${shortCmd(cmd, args)} failed (${r.code ?? r.signal}): ${lastLine(r.stderr) || lastLine(r.stdout) || 'no output'}`);
  return r;
}

export function lastLine(s: string): string {
  const lines = s.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines[lines.length - 1] ?? '';
}

function shortCmd(cmd: string, args: string[]): string {
  if (cmd === process.execPath && args[0]?.endsWith('quorumfs.js')) return `quorumfs ${args[1] ?? ''}`.trim();
  return [basename(cmd), ...args.slice(0, 1).map((a) => basename(a))].join(' ');
}
