// Starts real QuorumFS server processes for tests, on loopback ports, and cleans them up.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, connect } from 'node:net';
import { mkdtempSync, writeFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI = join(REPO_ROOT, 'bin', 'quorumfs.js');

const madeDirs: string[] = [];

/** A fresh directory under the system's temp dir, removed when the test process exits. */
export function tempDir(prefix = 'qfs-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (madeDirs.length === 0) process.once('exit', removeMadeDirs);
  madeDirs.push(dir);
  return dir;
}

function removeMadeDirs(): void {
  // A directory with something still mounted in it (a test that failed half-way) stays: removing
  // through a live FUSE mount could hang the exit, and through a dead one fails anyway.
  let mounts: string[] = [];
  try {
    mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '');
  } catch {
    // no /proc: remove what we can
  }
  for (const dir of madeDirs) {
    if (mounts.some((m) => m === dir || m.startsWith(dir + '/'))) continue;
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // left for the system's temp cleaner
    }
  }
}

/** Writes a fresh secret file (mode 0600) into dir and returns [path, secret]. */
export function makeSecret(dir: string): [string, string] {
  mkdirSync(dir, { recursive: true });
  const secret = randomBytes(32).toString('hex');
  const path = join(dir, 'secret');
  writeFileSync(path, secret + '\n', { mode: 0o600 });
  return [path, secret];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

export interface Proc {
  child: ChildProcess;
  port: number;
  url: string;
  output: () => string;
  /** SIGKILL and wait for exit. */
  kill(): Promise<void>;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
}

/** Spawns `quorumfs <args>` and waits until it accepts connections on `port` (max 15 s). */
export async function startCli(args: string[], port: number): Promise<Proc> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null) throw new Error(`process exited early (${child.exitCode}): ${out}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`process did not listen on ${port}: ${out}`); }
    await new Promise((r) => setTimeout(r, 50));
  }
  const end = async (sig: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return { child, port, url: `http://127.0.0.1:${port}`, output: () => out, kill: () => end('SIGKILL'), stop: () => end('SIGTERM') };
}

/** dataArgs: extra command-line flags (e.g. ['--meta', url, '--scrub-rate-mb-per-s', '0']). */
export async function startDataServer(opts: { dir: string; secretFile: string; blockSizeBytes?: number; port?: number; index?: number; dataArgs?: string[] }): Promise<Proc> {
  const port = opts.port ?? (await freePort());
  return startCli([
    'data-server', '--dir', opts.dir, '--listen', `127.0.0.1:${port}`, '--secret-file', opts.secretFile,
    '--block-size', String(opts.blockSizeBytes ?? 1024 * 1024), '--index', String(opts.index ?? 0), ...(opts.dataArgs ?? []),
  ], port);
}

/** metaArgs: extra command-line flags (e.g. ['--gc-grace-ms', '1000']). */
export async function startMetaServer(opts: { dbPath: string; secretFile: string; port?: number; metaArgs?: string[] }): Promise<Proc> {
  const port = opts.port ?? (await freePort());
  return startCli([
    'meta-server', '--meta', `sqlite://${opts.dbPath}`, '--listen', `127.0.0.1:${port}`, '--secret-file', opts.secretFile, ...(opts.metaArgs ?? []),
  ], port);
}

/** Runs `quorumfs <args>` to completion (bounded at 60 s). */
export function qfs(args: string[], input?: string): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Like qfs, but the command must succeed; returns its standard output. */
export function qfsOk(args: string[]): string {
  const r = qfs(args);
  if (r.code !== 0) throw new Error(`quorumfs ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}
