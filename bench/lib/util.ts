// Small helpers shared by the workloads.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, writeFile } from 'node:fs/promises';
import { run, runOk } from './proc.js';

export const MiB = 1024 * 1024;

let dropWarned = false;

/** sync + drop the page cache (root only; otherwise warns once and reads may be warm). */
export async function dropCaches(log: (m: string) => void): Promise<boolean> {
  await run('sync', [], { timeoutMs: 120_000 });
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    if (!dropWarned) log('WARNING: cannot drop caches (not root?); cold reads may be warm');
    dropWarned = true;
    return false;
  }
}

/** Writes `bytes` of random data to path (1 MiB at a time) and fsyncs it. */
export async function makeRandomFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    for (let off = 0; off < bytes; off += MiB) {
      const n = Math.min(MiB, bytes - off);
      await fh.write(randomBytes(n), 0, n, off);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path, { highWaterMark: MiB })
      .on('data', (d) => h.update(d))
      .on('error', rej)
      .on('end', () => res(h.digest('hex')));
  });
}

export async function rmrf(path: string, timeoutMs = 300_000): Promise<void> {
  await runOk('rm', ['-rf', '--one-file-system', '--', path], { timeoutMs });
}

export function errMsg(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split('\n')[0]!.slice(0, 300);
}

/** Throws the abort reason if the signal fired. */
export function checkAbort(signal: AbortSignal): void {
  if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason));
}

export function ratio(value: number | null | undefined, base: number | null | undefined): number | null {
  if (value === null || value === undefined || base === null || base === undefined) return null;
  if (!Number.isFinite(value) || !Number.isFinite(base) || base <= 0) return null;
  return value / base;
}

export function nowMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}
