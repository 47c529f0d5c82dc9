// What the figures were measured on.
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { run } from './proc.js';
import { REPO_ROOT } from './paths.js';

export async function machineInfo(scratch: string): Promise<Record<string, unknown>> {
  const cpus = os.cpus();
  const q = async (cmd: string, args: string[]) => {
    try {
      const r = await run(cmd, args, { timeoutMs: 10_000 });
      return r.code === 0 ? r.stdout.trim() : null;
    } catch {
      return null;
    }
  };
  const disk = await q('findmnt', ['-n', '-o', 'SOURCE,FSTYPE', '--target', scratch]);
  const fio = await q('fio', ['--version']);
  return {
    hostname: os.hostname(),
    cpus: cpus.length,
    cpuModel: cpus[0]?.model.replace(/\s+/g, ' ').trim() ?? null,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    disk: disk ? disk.split(/\s+/).join(' ') : null,
    fio,
    uid: process.getuid?.() ?? null,
    loadavgStart: os.loadavg(),
  };
}

export async function gitInfo(): Promise<{ commit: string | null; dirty: boolean | null }> {
  try {
    const c = await run('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { timeoutMs: 10_000 });
    const s = await run('git', ['-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no'], { timeoutMs: 10_000 });
    return { commit: c.code === 0 ? c.stdout.trim() : null, dirty: s.code === 0 ? s.stdout.trim().length > 0 : null };
  } catch {
    return { commit: null, dirty: null };
  }
}

/** The machine's CPU times from /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal), in ticks. */
export function cpuTimes(): number[] {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    return line.trim().split(/\s+/).slice(1, 9).map(Number);
  } catch {
    return [];
  }
}

export function stealPercent(before: number[], after: number[]): number | undefined {
  if (before.length < 8 || after.length < 8) return undefined;
  const d = after.map((v, i) => v - before[i]!);
  const total = d.reduce((a, b) => a + b, 0);
  return total > 0 ? (100 * d[7]!) / total : undefined;
}
