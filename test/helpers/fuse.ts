// Mounts for tests. The mount always runs in a separate process (`quorumfs mount --foreground`):
// a process must never do file system calls on a mount it serves itself. Every mount made here is
// unmounted by unmountAll() (call it from `after`), also when a test failed.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './procs.js';

/**
 * Where test mountpoints go. Defaults to the temp dir; QFS_FUSE_TEST_DIR moves them elsewhere
 * (.ci/run lazily unmounts every FUSE mount under /tmp when it starts, which kills mounts of tests
 * running at the same time on a shared machine).
 */
export function mountBaseDir(): string {
  return process.env.QFS_FUSE_TEST_DIR ?? tmpdir();
}

export interface TestMount {
  mountpoint: string;
  child: ChildProcess;
  output(): string;
  /** Unmounts through `quorumfs umount` and waits for the mount process to exit. */
  unmount(): Promise<void>;
}

const live = new Set<TestMount>();

async function mountSource(mountpoint: string): Promise<string | null> {
  const text = await readFile('/proc/mounts', 'utf8');
  for (const line of text.split('\n')) {
    const [src, target] = line.split(' ');
    if (target === mountpoint) return src ?? null;
  }
  return null;
}

export function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** bash -c script, asynchronously (the test process stays free). */
export function bash(script: string, cwd?: string, timeoutMs?: number) {
  return run('bash', ['-c', script], { cwd, timeoutMs });
}

/** Starts `quorumfs mount --foreground` against a cluster and waits until the kernel lists it. */
export async function startMount(opts: { metaUrl: string; secretFile: string; mountpoint?: string; args?: string[]; logLevel?: string }): Promise<TestMount> {
  const mountpoint = opts.mountpoint ?? join(mkdtempSync(join(mountBaseDir(), 'qfs-mnt-')), 'mnt');
  const child = spawn(process.execPath, [CLI, 'mount', mountpoint, '--foreground', '--meta', opts.metaUrl, '--secret-file', opts.secretFile, ...(opts.args ?? [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, QUORUMFS_LOG_LEVEL: opts.logLevel ?? process.env.QUORUMFS_LOG_LEVEL ?? 'warn' },
  });
  // The last 256 KiB of the mount's output (a debug log can grow long).
  let out = '';
  const keep = (d: Buffer) => { out = (out + d.toString()).slice(-256 * 1024); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const m: TestMount = {
    mountpoint,
    child,
    output: () => out,
    unmount: async () => {
      if (!live.has(m)) return;
      live.delete(m);
      if (child.exitCode === null && child.signalCode === null) {
        const r = await run(process.execPath, [CLI, 'umount', mountpoint], { timeoutMs: 60_000 });
        if (r.code !== 0) {
          // Busy or hung: stop the process (it detaches lazily on SIGTERM), then make sure.
          child.kill('SIGTERM');
        }
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }
      if (await mountSource(mountpoint)) await run('fusermount', ['-u', '-z', mountpoint]);
      // Never recurse into something still mounted (that would delete through the mount).
      if (!opts.mountpoint && !(await mountSource(mountpoint))) rmSync(join(mountpoint, '..'), { recursive: true, force: true });
    },
  };
  live.add(m);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const src = await mountSource(mountpoint);
    if (src === `quorumfs@${child.pid}`) return m;
    if (child.exitCode !== null) {
      live.delete(m);
      throw new Error(`mount process exited (${child.exitCode}): ${out}`);
    }
    if (Date.now() > deadline) {
      await m.unmount();
      throw new Error(`mount did not appear in 20 s: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Unmounts every mount started by startMount that is still up. */
export async function unmountAll(): Promise<void> {
  await Promise.allSettled([...live].map((m) => m.unmount()));
}
