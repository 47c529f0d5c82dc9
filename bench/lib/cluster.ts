// A throw-away QuorumFS cluster for one measurement: created in the run's scratch dir with the CLI
// (`up --detach`), optionally mounted (`mount`), and always unmounted, stopped and deleted by
// destroy(), which is also registered as a cleanup in case the workload never reaches its finally.
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readSecretFile } from '../../src/common/auth.js';
import { stopCluster } from '../../src/cluster/local.js';
import { allServers, killServer, runningPid } from '../../src/cluster/processes.js';
import { paths, readClusterState, type ClusterState } from '../../src/cluster/state.js';
import type { Cleanup } from './cleanup.js';
import { forceUnmount, isMounted } from './mounts.js';
import { CLI } from './paths.js';
import { runOk, type RunResult } from './proc.js';
import type { Ctx } from './types.js';
import { errMsg, rmrf } from './util.js';

export interface ClusterSpec {
  replicas: number;
  writeQuorum: number;
  readQuorum: number;
}

export const DEFAULT_SPEC: ClusterSpec = { replicas: 5, writeQuorum: 5, readQuorum: 3 };

export function specLabel(s: ClusterSpec): string {
  return `N=${s.replicas} Qw=${s.writeQuorum} Qr=${s.readQuorum}`;
}

export class QfsCluster {
  private readonly mounts = new Set<string>();
  private cleanup!: Cleanup;

  private constructor(private readonly ctx: Ctx, readonly dir: string, readonly tag: string, readonly spec: ClusterSpec) {}

  get label(): string {
    return `QuorumFS ${specLabel(this.spec)}`;
  }

  /** Creates and starts a cluster; on failure it is already cleaned up. */
  static async up(ctx: Ctx, tag: string, spec: ClusterSpec): Promise<QfsCluster> {
    const dir = await mkdtemp(join(ctx.scratch, `cluster-${tag}-`));
    const c = new QfsCluster(ctx, dir, tag, spec);
    c.cleanup = ctx.cleanups.add(`cluster ${tag} (${dir})`, () => c.teardown());
    try {
      const flags = spec.replicas === DEFAULT_SPEC.replicas && spec.writeQuorum === DEFAULT_SPEC.writeQuorum && spec.readQuorum === DEFAULT_SPEC.readQuorum
        ? [] // the CLI's defaults: measured as a user gets them
        : ['--replicas', String(spec.replicas), '--write-quorum', String(spec.writeQuorum), '--read-quorum', String(spec.readQuorum)];
      await c.cli(['up', '--dir', dir, '--detach', ...flags], 120_000);
      const st = c.state();
      if (st.config.replicas !== spec.replicas || st.config.writeQuorum !== spec.writeQuorum || st.config.readQuorum !== spec.readQuorum) {
        throw new Error(`cluster came up as N=${st.config.replicas} Qw=${st.config.writeQuorum} Qr=${st.config.readQuorum}, expected ${specLabel(spec)}`);
      }
      ctx.log(`cluster ${tag} up in ${dir} (${specLabel(spec)})`);
      return c;
    } catch (err) {
      await c.destroy();
      throw err;
    }
  }

  state(): ClusterState {
    const s = readClusterState(this.dir);
    if (!s) throw new Error(`no cluster state in ${this.dir}`);
    return s;
  }

  secret(): string {
    return readSecretFile(paths.secret(this.dir));
  }

  /** Runs the CLI; throws with its one-line error unless it exits 0. Bounded; follows ctx.signal. */
  cli(args: string[], timeoutMs: number, opts: { signal?: AbortSignal | null } = {}): Promise<RunResult> {
    return runOk(process.execPath, [CLI, ...args], {
      timeoutMs,
      signal: opts.signal === null ? undefined : (opts.signal ?? this.ctx.signal),
      logFile: join(this.ctx.logDir, `cluster-${this.tag}.log`),
    });
  }

  /** Mounts the cluster with `quorumfs mount` (a background daemon) and returns the mount point. */
  async mount(): Promise<string> {
    const mp = join(this.ctx.scratch, `mnt-${this.tag}`);
    await mkdir(mp, { recursive: true });
    this.mounts.add(mp);
    await this.cli(['mount', mp, '--dir', this.dir, '--log-file', join(this.ctx.logDir, `mount-${this.tag}.log`)], 60_000);
    if (!isMounted(mp)) throw new Error(`quorumfs mount returned but ${mp} is not in /proc/mounts`);
    this.ctx.log(`mounted ${this.tag} at ${mp}`);
    return mp;
  }

  /** `quorumfs umount`; then --lazy; then fusermount -uz / umount -l and stopping the owner. */
  async unmount(mp: string): Promise<void> {
    if (isMounted(mp)) {
      try {
        await this.cli(['umount', mp], 120_000, { signal: null });
      } catch (err) {
        this.ctx.log(`umount ${mp}: ${errMsg(err)}; retrying lazily`);
        try {
          await this.cli(['umount', '--lazy', mp], 60_000, { signal: null });
        } catch (err2) {
          this.ctx.log(`umount --lazy ${mp}: ${errMsg(err2)}`);
        }
      }
      if (isMounted(mp)) await forceUnmount(mp, this.ctx.log);
    }
    if (!isMounted(mp)) {
      this.mounts.delete(mp);
      await rmdir(mp).catch(() => undefined);
    }
  }

  /** Unmounts, stops every server, deletes the directory. Idempotent, never throws. */
  destroy(): Promise<void> {
    return this.cleanup.run();
  }

  private async teardown(): Promise<void> {
    for (const mp of [...this.mounts]) await this.unmount(mp);
    if (existsSync(paths.state(this.dir))) {
      try {
        await this.cli(['down', '--dir', this.dir], 90_000, { signal: null });
      } catch (err) {
        this.ctx.log(`quorumfs down ${this.tag}: ${errMsg(err)}; stopping servers directly`);
        const st = readClusterState(this.dir);
        if (st) await stopCluster(this.dir, st).catch(() => undefined);
      }
      const st = readClusterState(this.dir);
      if (st) {
        for (const ref of allServers(st)) {
          if (runningPid(this.dir, ref) !== null) await killServer(this.dir, ref);
        }
      }
    }
    if (this.mounts.size > 0) {
      this.ctx.log(`WARNING: not deleting ${this.dir}: ${[...this.mounts].join(', ')} still mounted`);
      return;
    }
    await rmrf(this.dir);
    this.ctx.log(`cluster ${this.tag} stopped and deleted`);
  }
}
