// Putting a /dev/fuse fd on a mountpoint without libfuse or fusermount: as root, util-linux
// mount(8) with -i (no /sbin/mount.fuse* helper) passes `fd=N` to the kernel, which takes the
// connection from the fd it finds in the mount process; the fd stays ours after mount exits.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';

/** How long mount(8) may take (it only makes the mount syscall; no request reaches us before). */
const MOUNT_TIMEOUT_MS = 30_000;
/** Where mount(8) lives when PATH is minimal (services, sudo). */
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface DeviceMountArgs {
  fd: number;
  mountpoint: string;
  fsname: string;
  uid: number;
  gid: number;
  allowOther: boolean;
  maxReadBytes: number;
}

export function mountOptionString(a: DeviceMountArgs): string {
  const list = [
    // libfuse's defaults for a mount made by root, kept for the same mount table entry.
    'nosuid',
    'nodev',
    'fd=3',
    'rootmode=40000',
    `user_id=${a.uid}`,
    `group_id=${a.gid}`,
    `max_read=${a.maxReadBytes}`,
  ];
  // With other users in, the kernel checks modes itself (as the libfuse binding asks for too).
  if (a.allowOther) list.push('allow_other', 'default_permissions');
  return list.join(',');
}

/** Mounts the device fd at mountpoint as `fuse.quorumfs` with source fsname. */
export function mountDevice(a: DeviceMountArgs): Promise<void> {
  if (/[,\s]/.test(a.fsname)) return Promise.reject(new Error(`fsname ${JSON.stringify(a.fsname)} cannot be a mount source`));
  const args = ['-i', '-t', 'fuse.quorumfs', '-o', mountOptionString(a), a.fsname, a.mountpoint];
  return new Promise((resolve, reject) => {
    const child = spawn('mount', args, {
      // The device becomes fd 3 of mount(8), which the option fd=3 names.
      stdio: ['ignore', 'pipe', 'pipe', a.fd],
      env: { ...process.env, PATH: `${process.env.PATH ?? ''}:${SYSTEM_PATH}`, LC_ALL: 'C' },
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), MOUNT_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run mount(8): ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve();
      const why = out.trim().split('\n').pop() || (signal ? `killed by ${signal}` : `exit code ${code}`);
      reject(new Error(`mount(8) failed: ${why}`));
    });
  });
}

/**
 * The connection number of our mount (the minor of its anonymous device), from mountinfo: the
 * name of its directory in /sys/fs/fuse/connections and of its bdi in /sys/class/bdi/0:N.
 * Read from the mount table, never from the mount itself (we would be asking ourselves).
 */
export async function connectionOf(mountpoint: string, fsname: string): Promise<{ major: number; minor: number } | null> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  let found: { major: number; minor: number } | null = null;
  for (const line of text.split('\n')) {
    // id parent major:minor root mountpoint options [optional fields] - fstype source superopts
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash < 0 || fields.length < dash + 3) continue;
    const mp = fields[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp !== mountpoint || fields[dash + 2] !== fsname) continue;
    const [maj, min] = fields[2]!.split(':').map(Number);
    found = { major: maj!, minor: min! };
  }
  return found;
}

/**
 * Raises the read-ahead window of our mount's bdi. The kernel offers 128 KiB in INIT and caps the
 * mount there; root can widen it afterwards, and files opened later read ahead in bigger requests.
 */
export async function setReadaheadKb(dev: { major: number; minor: number }, kb: number): Promise<void> {
  await writeFile(`/sys/class/bdi/${dev.major}:${dev.minor}/read_ahead_kb`, `${kb}\n`);
}
