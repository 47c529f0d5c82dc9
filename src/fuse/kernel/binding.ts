// FuseBinding over the kernel protocol itself: /dev/fuse read and written from Node, no libfuse,
// no native addon. Needs root (the mount is made by mount(8)); for anyone else it hands over to
// the libfuse binding and says so in the log.
import type { Logger } from '../../common/log.js';
import { silentLogger } from '../../common/log.js';
import { FuseNativeBinding, findMount, unmountPath, type FuseBinding, type FuseOps, type MountedFs, type MountOptions } from '../adapter.js';
import { EpollSource, FuseDevice, ThreadpoolSource, epollAvailable, type RequestSource } from './device.js';
import { connectionOf, mountDevice, setReadaheadKb } from './kernel-mount.js';
import { InitFlag } from './protocol.js';
import { Session, type SessionConfig } from './session.js';
import { threadpoolSize } from './threadpool.js';

export type RequestSourceKind = 'epoll' | 'threadpool';

export interface KernelBindingOptions {
  logger?: Logger;
  /** How requests are read (see device.ts); epoll unless Node lacks the pipe binding. */
  source?: RequestSourceKind;
  /** Reader loops of the threadpool source. */
  readers?: number;
  /**
   * Kernel write-back cache (FUSE_WRITEBACK_CACHE). Off: with it the kernel trusts its own size
   * and mtime of a cached file over ours, so a file another mount rewrote keeps its old size
   * here; and measured, it cost 3-5x the CPU of write-through 1 MiB requests for dd-style writes.
   */
  writebackCache?: boolean;
  /**
   * Handles that only write, or whose file held nothing to read at open, bypass the page cache
   * (FOPEN_DIRECT_IO; needs Linux 6.6, see Session.handleInit and bypassesPageCache). Default on, off with the write-back cache (whose point is that cache).
   * Sequential 512 MiB writes, alternating solo runs: 133-176 MiB/s without, 201-263 with, soon
   * after large deletions; on a settled machine the two were within noise of each other.
   */
  directWrites?: boolean;
  /**
   * READDIRPLUS (adaptive: the kernel asks for it on a directory's first read, and on later ones
   * only after lookups in it). Default: on when the mount caches under a metadata lease, which lets
   * the kernel keep the names and attributes it brings (`ls -lR`, `rm -r` skip a LOOKUP per name;
   * cold `ls -lR` of 1,000 files 134 -> 78 ms, mean of six pairs); off otherwise, as at an entry
   * timeout of 0 every name is looked up again anyway. FuseOps has no bulk attributes: one getattr
   * per listed name, answered from the metadata cache.
   */
  readdirplus?: boolean;
  /** Read-ahead window set on the mount's bdi after INIT; 0 keeps the kernel's 128 KiB. */
  readaheadKb?: number;
  /** Background (read-ahead, async) requests the kernel keeps in flight. */
  maxBackground?: number;
  /**
   * Entry cache time of directories only. Every path walk otherwise revalidates each directory on
   * the way (a LOOKUP per component per syscall): caching them made `ls -lR` about 3x faster on
   * the in-memory file system. The price: a directory another mount removed or replaced still
   * resolves here for that long (stat of it still answers ENOENT, but mkdir of the name says
   * EEXIST). Off unless asked for (QUORUMFS_FUSE_DIR_ENTRY_TIMEOUT).
   */
  dirEntryTimeoutS?: number;
}

/** The kernel binding's own request sizes: 1 MiB (256 pages), libfuse2 stops at 128 KiB. */
export const KERNEL_MOUNT_DEFAULTS: Pick<MountOptions, 'maxWriteBytes' | 'maxReadBytes'> = {
  maxWriteBytes: 1024 * 1024,
  maxReadBytes: 1024 * 1024,
};
/** libfuse2's ceiling, for the fallback. */
const LIBFUSE_MAX_REQUEST_BYTES = 128 * 1024;
const DEFAULT_READERS = 4;
const DEFAULT_MAX_BACKGROUND = 64;
const DEFAULT_READAHEAD_KB = 1024;
/** How long INIT may take after the mount appeared. */
const INIT_TIMEOUT_MS = 30_000;
/**
 * After a lazy unmount (or one from outside) the kernel keeps the connection while files are
 * still open there and sends their FLUSH and RELEASE: we serve it this long, then abort it.
 */
const DETACH_GRACE_MS = 5_000;

/** Knobs for measurements, from the environment (QUORUMFS_FUSE_*). */
export function kernelOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): KernelBindingOptions {
  const num = (v: string | undefined) => (v !== undefined && v !== '' && Number.isFinite(Number(v)) ? Number(v) : undefined);
  const bool = (v: string | undefined) => (v === undefined || v === '' ? undefined : v === '1' || v === 'true');
  const source = env.QUORUMFS_FUSE_SOURCE;
  return {
    source: source === 'epoll' || source === 'threadpool' ? source : undefined,
    readers: num(env.QUORUMFS_FUSE_READERS),
    writebackCache: bool(env.QUORUMFS_FUSE_WRITEBACK),
    directWrites: bool(env.QUORUMFS_FUSE_DIRECT_WRITES),
    readdirplus: bool(env.QUORUMFS_FUSE_READDIRPLUS),
    readaheadKb: num(env.QUORUMFS_FUSE_READAHEAD_KB),
    maxBackground: num(env.QUORUMFS_FUSE_MAX_BACKGROUND),
    dirEntryTimeoutS: num(env.QUORUMFS_FUSE_DIR_ENTRY_TIMEOUT),
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

export class KernelFuseBinding implements FuseBinding {
  private readonly logger: Logger;

  constructor(private readonly opts: KernelBindingOptions = {}) {
    this.logger = opts.logger ?? silentLogger();
  }

  async mount(mountpoint: string, ops: FuseOps, options: MountOptions): Promise<MountedFs> {
    const uid = process.getuid?.() ?? -1;
    if (uid !== 0) {
      this.logger.warn({ uid }, 'the kernel FUSE binding mounts with mount(8) and needs root; using the libfuse binding instead');
      return new FuseNativeBinding().mount(mountpoint, ops, {
        ...options,
        maxWriteBytes: Math.min(options.maxWriteBytes, LIBFUSE_MAX_REQUEST_BYTES),
        maxReadBytes: Math.min(options.maxReadBytes, LIBFUSE_MAX_REQUEST_BYTES),
      });
    }
    const o = this.opts;
    const config: SessionConfig = {
      timeouts: { entryS: options.entryTimeoutS, attrS: options.attrTimeoutS, dirEntryS: o.dirEntryTimeoutS ?? 0 },
      maxWriteBytes: options.bigWrites ? options.maxWriteBytes : 4096,
      maxReadBytes: options.maxReadBytes,
      maxReadaheadBytes: Math.max(options.maxReadBytes, 128 * 1024),
      directWrites: (o.directWrites ?? true) && !o.writebackCache,
      extraFlags: (o.writebackCache ? InitFlag.WRITEBACK_CACHE : 0) |
        ((o.readdirplus ?? ops.coherence !== undefined) ? InitFlag.DO_READDIRPLUS | InitFlag.READDIRPLUS_AUTO : 0),
      maxBackground: o.maxBackground ?? DEFAULT_MAX_BACKGROUND,
      opTimeoutMs: options.opTimeoutMs,
      debug: options.debug,
    };
    const dev = FuseDevice.open();
    const session = new Session(dev, ops, config, this.logger);
    const source = this.makeSource(dev, session);
    try {
      await mountDevice({
        fd: dev.fd, mountpoint, fsname: options.fsname, uid, gid: process.getgid?.() ?? 0,
        allowOther: options.allowOther, maxReadBytes: options.maxReadBytes,
      });
    } catch (err) {
      session.close();
      dev.close();
      throw err;
    }
    source.start(session.onRequest);
    let timer: NodeJS.Timeout | undefined;
    try {
      const init = await Promise.race([
        session.initialized,
        source.ended.then((e) => { throw e ?? new Error('the kernel closed the connection before INIT'); }),
        new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error(`no INIT from the kernel within ${INIT_TIMEOUT_MS / 1000} s`)), INIT_TIMEOUT_MS); }),
      ]);
      this.logger.info({ source: source.kind, kernel: `7.${init.kernelMinor}`, minor: init.minor, flags: `0x${init.flags.toString(16)}`, flags2: `0x${init.flags2.toString(16)}`, directWrites: init.directWrites, maxWrite: init.maxWrite, maxReadahead: init.maxReadahead }, 'kernel FUSE session started');
    } catch (err) {
      source.stop();
      session.close();
      await unmountPath(mountpoint, { lazy: true }).catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    await this.widenReadahead(mountpoint, options.fsname);

    let released = false;
    let releasing: Promise<void> | null = null;
    const release = (): Promise<void> => {
      releasing ??= (async () => {
        released = true;
        const ended = await Promise.race([source.ended.then(() => true), sleep(DETACH_GRACE_MS).then(() => false)]);
        if (!ended) this.logger.warn({ mountpoint, pending: session.pending }, 'the kernel still holds the detached mount; aborting its connection');
        source.stop();
        session.close();
        dev.close();
      })();
      return releasing;
    };
    // A connection that ends on its own (not through us) leaves a dead mount behind: detach it, so
    // that mount.ts notices the mount left the table and finishes.
    void source.ended.then(async (err) => {
      if (released) return;
      if (err) this.logger.error({ err: String(err) }, 'reading /dev/fuse failed');
      // Unmounted: nothing to do. Still listed (aborted, or reading failed): ours to detach, but
      // only while the entry on the path is still ours (a new mount may be there already).
      const entry = await findMount(mountpoint).catch(() => undefined);
      if (released || entry?.source !== options.fsname) return;
      this.logger.warn({ mountpoint }, 'the FUSE connection ended while mounted; detaching the mount');
      source.stop();
      await unmountPath(mountpoint, { lazy: true }).catch(() => undefined);
    });
    return {
      unmount: async (u) => {
        if (released) return;
        await unmountPath(mountpoint, { lazy: u?.lazy ?? false });
        await release();
      },
      release,
    };
  }

  private makeSource(dev: FuseDevice, session: Session): RequestSource {
    let kind = this.opts.source ?? 'epoll';
    if (kind === 'epoll' && !epollAvailable()) {
      this.logger.warn('no pipe binding in this Node: reading /dev/fuse from the threadpool');
      kind = 'threadpool';
    }
    if (kind === 'epoll') return new EpollSource(dev, session.requestBuffers);
    // Leave at least two pool threads for the rest of the process (file reads, DNS, crypto).
    const poolThreads = threadpoolSize();
    const readers = Math.max(1, Math.min(this.opts.readers ?? DEFAULT_READERS, poolThreads - 2));
    this.logger.info({ readers, poolThreads }, 'reading /dev/fuse from the threadpool');
    return new ThreadpoolSource(dev, session.requestBuffers, readers);
  }

  private async widenReadahead(mountpoint: string, fsname: string): Promise<void> {
    const kb = this.opts.readaheadKb ?? DEFAULT_READAHEAD_KB;
    if (kb <= 0) return;
    try {
      const dev = await connectionOf(mountpoint, fsname);
      if (dev) await setReadaheadKb(dev, kb);
    } catch (err) {
      this.logger.warn({ err: String(err) }, 'cannot widen the read-ahead window; keeping the kernel default');
    }
  }
}
