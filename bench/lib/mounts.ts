// The kernel's mount table, and getting rid of a FUSE mount whatever state its owner is in.
import { readFileSync } from 'node:fs';
import { run, pidAlive, sleep } from './proc.js';

export interface MountEntry {
  source: string;
  mountpoint: string;
  fstype: string;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function readMounts(): MountEntry[] {
  let text = '';
  try {
    text = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter(Boolean).map((line) => {
    const [source = '', mountpoint = '', fstype = ''] = line.split(' ');
    return { source: unescape(source), mountpoint: unescape(mountpoint), fstype };
  });
}

export function isMounted(mountpoint: string): MountEntry | undefined {
  return readMounts().find((m) => m.mountpoint === mountpoint);
}

/** FUSE mounts (any kind) whose mount point is under one of the given roots. */
export function fuseMountsUnder(roots: string[]): MountEntry[] {
  return readMounts().filter((m) => (m.fstype.startsWith('fuse') || m.source.startsWith('quorumfs'))
    && roots.some((r) => m.mountpoint === r || m.mountpoint.startsWith(r.endsWith('/') ? r : r + '/')));
}

/**
 * Last resort: lazy-detaches a mount (fusermount -uz, then umount -l) and, for a QuorumFS mount,
 * stops its owner process (source quorumfs@PID) if it is still alive.
 */
export async function forceUnmount(mountpoint: string, log: (m: string) => void): Promise<void> {
  const entry = isMounted(mountpoint);
  if (entry) {
    for (const [cmd, args] of [['fusermount', ['-uz', mountpoint]], ['umount', ['-l', mountpoint]]] as const) {
      if (!isMounted(mountpoint)) break;
      try {
        await run(cmd, [...args], { timeoutMs: 20_000 });
      } catch {
        // tool missing: try the next
      }
    }
    if (isMounted(mountpoint)) log(`WARNING: ${mountpoint} is still mounted`);
    else log(`detached ${mountpoint} lazily`);
  }
  const m = entry ? /^quorumfs@(\d+)$/.exec(entry.source) : null;
  if (m) {
    const pid = Number(m[1]);
    if (pidAlive(pid)) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
      for (let i = 0; i < 100 && pidAlive(pid); i++) await sleep(100);
      if (pidAlive(pid)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
  }
}
