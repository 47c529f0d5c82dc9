// The FUSE mounts that serve a local cluster, so `quorumfs down` can unmount them before their
// servers go (a mount left behind would answer EIO to everything until unmounted by hand).
import { readFileSync, readlinkSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_CLUSTER_DIR } from '../cluster/state.js';
import { readMounts, unmountPath, type MountEntry } from '../fuse/adapter.js';

const FSNAME_RE = /^quorumfs@(\d+)$/;

/** Mounts whose serving process was started for cluster `dir` (by --dir) or its metadata URL (by --meta). */
export async function clusterMounts(dir: string, metaUrl: string): Promise<MountEntry[]> {
  const mounts = (await readMounts()).filter((m) => m.fstype === 'fuse.quorumfs');
  return mounts.filter((m) => {
    const pid = FSNAME_RE.exec(m.source)?.[1];
    if (!pid) return false;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const value = (flag: string) => {
        const i = args.indexOf(flag);
        return i >= 0 ? args[i + 1] : undefined;
      };
      const meta = value('--meta');
      if (meta !== undefined) return meta.replace(/\/$/, '') === metaUrl;
      return resolve(cwd, value('--dir') ?? DEFAULT_CLUSTER_DIR) === dir;
    } catch {
      return false; // the process is gone or not ours to inspect
    }
  });
}

/** Unmounts each (strictly; lazily if busy) and returns the mount points that went. */
export async function unmountClusterMounts(dir: string, metaUrl: string): Promise<string[]> {
  const done: string[] = [];
  for (const m of await clusterMounts(dir, metaUrl)) {
    try {
      await unmountPath(m.target, { lazy: false }).catch(() => unmountPath(m.target, { lazy: true }));
      done.push(m.target);
    } catch (err) {
      process.stderr.write(`quorumfs down: could not unmount ${m.target}: ${(err as Error).message}\n`);
    }
  }
  return done;
}
