// Random real faults on a test cluster's data servers, never more than `budget` servers faulty at
// once: SIGKILL and a later restart, bytes flipped in stored block files, and a wipe (kill, delete
// the data directory, restart blank). A server stays faulty after the fault itself is over, until
// the test has seen it whole again: up, nothing queued for it, every referenced block in its
// inventory, and every copy corrupted here re-hashing right on its disk. Counting it healthy any
// sooner would let the next faults take a block below Qr good copies, which is outside the
// tolerance the test promises to stay within.
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { MetaClient } from '../../src/client/meta-client.js';
import { flipBytes } from '../../src/eval/chaos/corrupt.js';
import type { TestCluster } from './cluster.js';
import { blockPath } from './files.js';
import { adminStatus, inventoryOf } from './healing.js';
import type { Prng } from './soak-model.js';

export type FaultKind = 'kill' | 'corrupt' | 'wipe';

interface Fault {
  kind: FaultKind;
  startedMs: number;
  /** Killed servers come back at this time. */
  restartAtMs: number | null;
  /** When the server answered again after its restart (at once for a corruption). */
  upSinceMs: number | null;
  /** Blocks whose copies were corrupted here. */
  corrupted: string[];
  lastCheckMs: number;
}

export interface InjectorOptions {
  cluster: TestCluster;
  budget: number;
  rnd: Prng;
  /**
   * Start of the oldest write still running: a server is not judged whole before the writes that
   * began while it was away have ended (they may still report copies it missed).
   */
  oldestWriteMs: () => number | null;
  log: (line: string) => void;
}

/** Pause between faults, drawn at random. */
const GAP_MS: [number, number] = [1_000, 4_000];
/** How long a killed server stays dead: sometimes less than --down-after-ms, sometimes more. */
const DOWN_MS: [number, number] = [200, 5_000];
const CHECK_EVERY_MS = 1_000;

export class FaultInjector {
  readonly injected: Record<FaultKind, number> = { kill: 0, corrupt: 0, wipe: 0 };
  readonly recoveryMs: number[] = [];
  /** Faults that could not be made or undone (a server that would not restart). */
  readonly errors: string[] = [];
  /** Most servers faulty at the same time, as counted here. */
  maxFaulty = 0;
  private readonly faulty = new Map<number, Fault>();
  private readonly meta: MetaClient;
  private stopping = false;
  private bag: FaultKind[] = [];
  private loop: Promise<void> | null = null;

  constructor(private readonly o: InjectorOptions) {
    this.meta = new MetaClient({ url: o.cluster.metaUrl, secret: o.cluster.secret });
  }

  start(): void {
    this.loop = this.run().catch((err: unknown) => {
      if (this.errors.length === 0) this.errors.push(`fault injector: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    });
  }

  /** Stops injecting and restarts whatever is down; faults already made are left for the cluster to heal. */
  async stop(): Promise<void> {
    await this.abort();
    for (const [k, f] of this.faulty) {
      if (f.upSinceMs === null) await this.restart(k, f);
    }
  }

  /** Stops injecting and waits until nothing of ours runs (servers down stay down). */
  async abort(): Promise<void> {
    this.stopping = true;
    await this.loop?.catch(() => undefined);
    await this.meta.close().catch(() => undefined);
  }

  private async run(): Promise<void> {
    let nextFaultMs = Date.now() + this.gap();
    while (!this.stopping) {
      for (const [k, f] of [...this.faulty]) {
        if (f.upSinceMs === null && f.restartAtMs !== null && Date.now() >= f.restartAtMs) await this.restart(k, f);
        if (f.upSinceMs !== null && Date.now() - f.lastCheckMs >= CHECK_EVERY_MS) {
          f.lastCheckMs = Date.now();
          // A status call that fails under load only means: not known to be whole yet.
          if (await this.whole(k, f).catch(() => false)) {
            this.faulty.delete(k);
            this.recoveryMs.push(Date.now() - f.startedMs);
            this.o.log(`server ${k} whole again ${Date.now() - f.startedMs} ms after ${f.kind}`);
          }
        }
      }
      if (Date.now() >= nextFaultMs && this.faulty.size < this.o.budget) {
        await this.inject();
        nextFaultMs = Date.now() + this.gap();
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private gap(): number {
    return this.o.rnd.int(GAP_MS[0], GAP_MS[1]);
  }

  private async inject(): Promise<void> {
    const c = this.o.cluster;
    const healthy = Array.from({ length: c.config.replicas }, (_, i) => i + 1).filter((k) => !this.faulty.has(k));
    const k = this.o.rnd.pick(healthy);
    // Drawn from a shuffled bag, so that every kind comes up within any five faults.
    if (this.bag.length === 0) this.bag = shuffle<FaultKind>(['kill', 'kill', 'corrupt', 'corrupt', 'wipe'], this.o.rnd);
    const kind = this.bag.pop()!;
    const now = Date.now();
    // Counted before it is done: from its first instant the server is faulty.
    const f: Fault = { kind, startedMs: now, restartAtMs: null, upSinceMs: null, corrupted: [], lastCheckMs: 0 };
    this.faulty.set(k, f);
    this.maxFaulty = Math.max(this.maxFaulty, this.faulty.size);
    this.injected[kind]++;
    if (kind === 'kill') {
      await c.kill(k);
      f.restartAtMs = now + this.o.rnd.int(DOWN_MS[0], DOWN_MS[1]);
      this.o.log(`kill -9 server ${k} for ${f.restartAtMs - now} ms (faulty: ${[...this.faulty.keys()].join(',')})`);
    } else if (kind === 'wipe') {
      await c.kill(k);
      await rm(c.dataDir(k), { recursive: true, force: true });
      await this.restart(k, f);
      this.o.log(`wiped server ${k}, restarted blank (faulty: ${[...this.faulty.keys()].join(',')})`);
    } else {
      // Picked from the referenced blocks, not by walking the server's directory tree: that walk
      // takes seconds on a loaded machine, and corrupting garbage would prove nothing.
      const referenced = (await this.meta.listBlocks()).map((b) => b.hash);
      const n = this.o.rnd.int(1, 8);
      for (let i = 0; i < n && referenced.length > 0; i++) {
        const hash = referenced.splice(this.o.rnd.int(0, referenced.length - 1), 1)[0]!;
        try {
          await flipBytes({ hash, path: blockPath(c.dataDir(k), hash), sizeBytes: 0 }, c.dir);
          f.corrupted.push(hash);
        } catch (err) {
          // Not on this server (yet, or any more): nothing to corrupt.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
      f.upSinceMs = Date.now();
      this.o.log(`corrupted ${f.corrupted.length} block copies on server ${k} (faulty: ${[...this.faulty.keys()].join(',')})`);
    }
  }

  /** A server that does not come back is a finding, not something to retry: errors reach the test. */
  private async restart(k: number, f: Fault): Promise<void> {
    try {
      await this.o.cluster.restart(k);
    } catch (err) {
      this.errors.push(`restarting server ${k} after ${f.kind}: ${err instanceof Error ? err.message : String(err)}`);
      this.stopping = true;
      throw err;
    }
    f.upSinceMs = Date.now();
  }

  /** Whether server k holds a good copy of every referenced block again (see the header). */
  private async whole(k: number, f: Fault): Promise<boolean> {
    const oldest = this.o.oldestWriteMs();
    if (oldest !== null && oldest <= f.upSinceMs!) return false;
    const c = this.o.cluster;
    const st = await adminStatus(c.metaUrl, c.secret);
    if (st.servers.find((s) => s.index === k)?.state !== 'up') return false;
    if ((st.repairQueue.byServer[String(k)] ?? 0) > 0) return false;
    if (st.recoveries.some((r) => r.server === k && r.finishedAtMs === null)) return false;
    // References first, inventory second: a block committed in between is not asked for.
    const referenced = new Set((await this.meta.listBlocks()).map((b) => b.hash));
    const inventory = await inventoryOf(c.dataServers[k - 1]!.url, c.secret);
    for (const h of referenced) if (!inventory.has(h)) return false;
    for (const h of f.corrupted) {
      if (!referenced.has(h)) continue;
      const bytes = await readFile(blockPath(c.dataDir(k), h)).catch(() => null);
      if (!bytes || createHash('sha256').update(bytes).digest('hex') !== h) return false;
    }
    return true;
  }

  /** Servers faulty now (for the summary). */
  get faultyNow(): number[] {
    return [...this.faulty.keys()];
  }
}

function shuffle<T>(xs: T[], rnd: Prng): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rnd.int(0, i);
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}
