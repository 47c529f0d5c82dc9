// The mediator of the report, made exact: quorum reads with digest confirmation and quorum writes
// whose acknowledgement means Qw durable copies of every block. Everything here is bounded: blocks
// in flight, blocks held in memory until durable, and the time a write waits for servers.
import type { ClusterConfig } from '../common/config.js';
import type { Logger } from '../common/log.js';
import type { BufferPool } from '../common/buffer-pool.js';
import { blockName, transferChecksum } from '../common/hash.js';
import type { BlockFault, ReserveResult } from '../meta/api.js';
import { FsError } from '../common/errors.js';
import { Coalescer } from './coalescer.js';
import type { HeldBlock } from './block-cache.js';
import type { SharedBlock } from './shared-block.js';
import { DataClient, DataServerError, quorumError } from './data-client.js';

export interface MediatorOptions {
  config: ClusterConfig;
  /** Data servers in index order 1..N. */
  servers: DataClient[];
  /** Where missing/corrupt copies are reported (the metadata server's repair queue). */
  reportFaults: (faults: BlockFault[]) => Promise<void>;
  /** Protects blocks from garbage collection until they are committed (see ReserveResult). */
  reserveBlocks: (hashes: string[]) => Promise<ReserveResult>;
  /** How long a write waits for Qw servers before it fails with EIO. */
  writeWaitMs: number;
  /** Pause between retries of servers that missed a block. */
  retryIntervalMs: number;
  /** Blocks uploading at once per write session. */
  maxBlocksInFlight: number;
  /** Uploaded blocks per batched fsync (the commit point DESIGN.md allows). */
  syncBatchBlocks: number;
  /** Blocks held in memory per write session until Qw servers have them durable. */
  maxHeldBlocks: number;
  /** Reservations of a running write are renewed this often (default 60 s: far inside any sane GC grace). */
  reservationRefreshMs?: number;
  logger: Logger;
}

const DEFAULT_RESERVATION_REFRESH_MS = 60_000;
const RESERVATION_REFRESH_BATCH = 10_000;
/** Longest a streamed block's reservation waits for others to share its RPC (see reserveStreamed). */
const RESERVATION_DELAY_MS = 100;
/** Servers that failed recently are asked last, so a dead server does not slow every read. */
const FAILURE_MEMORY_MS = 5_000;

export class Mediator {
  readonly config: ClusterConfig;
  private readonly lastFailureMs = new Map<number, number>();
  private readonly reservations: Coalescer<string, ReserveResult>;
  /**
   * Blocks uploaded a second time because their reservation met a finished deletion, and
   * unreserved small-file blocks written again under a reservation after their commit refused them
   * (OpenFile). Tests read them.
   */
  readonly stats = { reuploads: 0, rewrites: 0 };
  /**
   * Whether a small file's block may go unreserved: false once the metadata server refused a commit
   * naming one (a server older than stop 28, during a rolling upgrade); blocks are reserved then.
   */
  unreservedCommits = true;

  constructor(readonly opts: MediatorOptions) {
    this.config = opts.config;
    this.reservations = new Coalescer((hashes) => opts.reserveBlocks(hashes));
  }

  /**
   * Protects a block from garbage collection; concurrent calls share one RPC. True when an upload
   * of it made meanwhile must be redone (ReserveResult).
   */
  async reserve(hash: string): Promise<boolean> {
    return (await this.reservations.add(hash)).reupload.includes(hash);
  }

  /** reserve() for several blocks in one RPC (unless one is on the wire already: then in the next). */
  reserveAll(hashes: string[]): Array<Promise<boolean>> {
    return this.reservations.addAll(hashes).map(async (r, i) => (await r).reupload.includes(hashes[i]!));
  }

  get servers(): DataClient[] {
    return this.opts.servers;
  }

  noteFailure(server: number): void {
    this.lastFailureMs.set(server, Date.now());
  }

  noteSuccess(server: number): void {
    this.lastFailureMs.delete(server);
  }

  /** Rotates by the block name so single-copy reads spread over servers; recently failed ones go last. */
  private candidates(hash: string): DataClient[] {
    const all = this.opts.servers;
    const start = parseInt(hash.slice(0, 8), 16) % all.length;
    const rotated = all.slice(start).concat(all.slice(0, start));
    const now = Date.now();
    const healthy = rotated.filter((s) => now - (this.lastFailureMs.get(s.index) ?? 0) > FAILURE_MEMORY_MS);
    const suspect = rotated.filter((s) => !healthy.includes(s));
    return healthy.concat(suspect);
  }

  /**
   * Returns the block's bytes once Qr servers confirm a good copy: one sends the bytes (re-hashed
   * here), the others confirm by re-hashing their own copy. Never returns bytes that do not hash to
   * the name; fails with EIO when fewer than Qr good copies can be found. A whole block may come in
   * a buffer of `buffers` (see BlockCache).
   */
  async readBlock(hash: string, buffers?: BufferPool): Promise<Buffer> {
    const qr = this.config.readQuorum;
    const cands = this.candidates(hash);
    let next = 0;
    const reasons: string[] = [];
    const faults: BlockFault[] = [];
    const failed = (s: DataClient, err: unknown) => {
      const e = err instanceof DataServerError ? err : new DataServerError(s.index, 'unreachable', String(err));
      reasons.push(e.message);
      if (e.failure === 'missing' || e.failure === 'corrupt') faults.push({ hash, server: s.index, reason: e.failure });
      else this.noteFailure(s.index);
    };
    const fetchFrom = async (s: DataClient): Promise<Buffer | null> => {
      try {
        const bytes = await s.getBlock(hash, buffers);
        if (blockName(bytes) === hash) {
          this.noteSuccess(s.index);
          return bytes;
        }
        // The server did not hash what it sent (getBlock): have it check its copy, which quarantines
        // a bad one, before the fault is reported and repair puts a good copy in its place.
        await s.verify(hash).catch(() => undefined);
        failed(s, new DataServerError(s.index, 'corrupt', `server ${s.index}: sent bytes that do not hash to the block name`));
      } catch (err) {
        failed(s, err);
      }
      return null;
    };
    const getter = async (): Promise<Buffer | null> => {
      while (next < cands.length) {
        const bytes = await fetchFrom(cands[next++]!);
        if (bytes) return bytes;
      }
      return null;
    };
    const verifier = async (): Promise<DataClient | null> => {
      while (next < cands.length) {
        const s = cands[next++]!;
        try {
          await s.verify(hash);
          this.noteSuccess(s.index);
          return s;
        } catch (err) {
          failed(s, err);
        }
      }
      return null;
    };
    const [bytes0, ...confirmed] = await Promise.all([getter(), ...Array.from({ length: qr - 1 }, verifier)]);
    const verified = confirmed.filter((s): s is DataClient => s !== null);
    let bytes = bytes0;
    let good = verified.length + (bytes ? 1 : 0);
    // Every server was tried and none sent good bytes, but some confirmed their copy: ask one of them.
    for (let i = 0; !bytes && i < verified.length; i++) {
      bytes = await fetchFrom(verified[i]!);
      if (!bytes) good--;
    }
    if (faults.length) this.report(faults);
    if (bytes && good >= qr) return bytes;
    throw quorumError(`read quorum not met for block ${hash.slice(0, 12)}: ${good} good cop${good === 1 ? 'y' : 'ies'} of Qr=${qr} (${reasons.join('; ') || 'no servers'})`);
  }

  report(faults: BlockFault[]): void {
    this.opts.reportFaults(faults).catch((err: unknown) => {
      this.opts.logger.warn({ err: String(err), faults: faults.length }, 'could not report faults to the metadata server');
    });
  }

  newWriteSession(): WriteSession {
    return new WriteSession(this);
  }
}

interface PendingBlock {
  hash: string;
  /** Held until Qw servers confirmed the block durable, then dropped. */
  bytes: Buffer | null;
  /** The buffer the bytes lie in, referenced until they are dropped. */
  owner: SharedBlock;
  /** The bytes' transfer checksum, taken when they arrived here, right after they were named. */
  crc32: number;
  stored: Set<number>;
  durable: Set<number>;
  lastError: Map<number, string>;
  /** The block's reservation, settled by the sync round that takes the block (see settleReservations). */
  reservation: Promise<boolean> | null;
}

/**
 * Uploads the blocks of one commit as a pipeline: up to maxBlocksInFlight blocks are being sent,
 * uploaded blocks are made durable by batched fsyncs (POST /v1/sync) that run behind the uploads
 * instead of stopping them, and at most maxHeldBlocks blocks are held in memory until durable.
 * `add` applies that back-pressure; `finish` returns only when every block is durable on Qw
 * servers (or throws EIO once writeWaitMs passed without that).
 */
export class WriteSession {
  private readonly blocks = new Map<string, PendingBlock>();
  private readonly uploading = new Set<Promise<void>>();
  private unsynced: PendingBlock[] = [];
  /** Blocks whose bytes are still held (not yet durable on Qw servers). */
  private held = 0;
  private readonly heldWaiters: Array<() => void> = [];
  private syncChain: Promise<void> = Promise.resolve();
  private failure: Error | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  /** Reservations of streamed blocks not yet asked for (see reserveStreamed). */
  private deferred: Array<{ hash: string; resolve: (again: boolean) => void; reject: (err: unknown) => void }> = [];
  private deferTimer: NodeJS.Timeout | null = null;

  constructor(private readonly m: Mediator) {}

  /**
   * Starts uploading a block; resolves once there is room for another (bounded memory). With
   * syncNow the servers fsync it before answering: the last block of a small write is then durable
   * one round trip earlier than with a separate sync. With unreserved it is not reserved (see
   * upload): only for a block whose commit follows at once, by a writer that handles EAGAIN.
   */
  async add(hash: string, bytes: Buffer, owner: SharedBlock, opts: { syncNow?: boolean; unreserved?: boolean } = {}): Promise<void> {
    this.throwIfFailed();
    if (this.blocks.has(hash)) return;
    const b: PendingBlock = { hash, bytes, owner: owner.ref(), crc32: transferChecksum(bytes), stored: new Set(), durable: new Set(), lastError: new Map(), reservation: null };
    this.blocks.set(hash, b);
    this.held++;
    this.refreshTimer ??= setInterval(() => void this.refreshReservations(), this.m.opts.reservationRefreshMs ?? DEFAULT_RESERVATION_REFRESH_MS).unref();
    const p = this.upload(b, opts.syncNow ?? false, opts.unreserved ?? false).finally(() => this.uploading.delete(p));
    this.uploading.add(p);
    while (this.uploading.size >= this.m.opts.maxBlocksInFlight) await Promise.race(this.uploading);
    while (this.held >= this.m.opts.maxHeldBlocks && !this.failure) await new Promise<void>((r) => this.heldWaiters.push(r));
    this.throwIfFailed();
  }

  /** A hold on the bytes of a block added here and not yet durable on Qw servers (until then, servers may not have it). */
  hold(hash: string): HeldBlock | null {
    const b = this.blocks.get(hash);
    return b?.bytes ? b.owner.hold(b.bytes) : null;
  }

  /** Waits until every added block is durable on at least Qw servers. Returns the copies that missed. */
  async finish(): Promise<BlockFault[]> {
    this.throwIfFailed();
    this.askReservations();
    await Promise.all(this.uploading);
    await this.scheduleSync();
    this.stopRefreshing();
    this.throwIfFailed();
    const n = this.m.config.replicas;
    const missed: BlockFault[] = [];
    for (const b of this.blocks.values()) {
      if (b.durable.size >= n) continue;
      for (const s of this.m.servers) if (!b.durable.has(s.index)) missed.push({ hash: b.hash, server: s.index, reason: 'write-missed' });
    }
    return missed;
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.stopRefreshing();
    // A failed session commits nothing: reservations not asked for yet are not needed any more.
    if (this.deferTimer) clearTimeout(this.deferTimer);
    this.deferTimer = null;
    for (const d of this.deferred.splice(0)) d.reject(err);
    for (const w of this.heldWaiters.splice(0)) w();
  }

  private stopRefreshing(): void {
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    this.refreshTimer = null;
  }

  /**
   * A write that lasts longer than the GC grace period (a large file, a slow writer) would see its
   * first blocks collected before its commit names them: reservations are renewed while it runs.
   */
  private async refreshReservations(): Promise<void> {
    const hashes = [...this.blocks.keys()];
    try {
      for (let i = 0; i < hashes.length && !this.failure; i += RESERVATION_REFRESH_BATCH) {
        const r = await this.m.opts.reserveBlocks(hashes.slice(i, i + RESERVATION_REFRESH_BATCH));
        // Collected although reserved (a writer stalled past the grace period): its copies may be
        // gone, so the write must not commit it.
        if (r.reupload.length > 0) {
          this.fail(new FsError('EAGAIN', `block ${r.reupload[0]!.slice(0, 12)} was garbage-collected during this write; write the data again`));
        }
      }
    } catch (err) {
      // EAGAIN: a block was already being collected; anything else: the next round tries again.
      if ((err as { code?: string }).code === 'EAGAIN') this.fail(err as Error);
      else this.m.opts.logger.warn({ err: String(err) }, 'could not renew block reservations; retrying');
    }
  }

  /**
   * Reserves and uploads at once: the reservation's round trip is off the path of every write. Its
   * answer says when a garbage collection that finished just before it may have deleted what was
   * uploaded meanwhile; the sync round that takes the block waits for it and uploads the block
   * again if so (settleReservations). A synced block (a small write, finished at once) asks for
   * its reservation now; a streamed one with the rest of its round (reserveStreamed).
   *
   * An unreserved block (the one block of a small file, committed right after this) has no
   * reservation at all: its commit names it unreserved and is refused (EAGAIN) if a deletion may
   * have met this upload (src/meta/sqlite/gc.ts has the rule), and the writer then writes it again
   * under a reservation (OpenFile). That saved the metadata server ~0.1 ms of CPU and the mount
   * ~0.06 ms per small file: a tenth of a create's CPU.
   */
  private async upload(b: PendingBlock, syncNow: boolean, unreserved: boolean): Promise<void> {
    b.reservation = unreserved ? null : syncNow ? this.m.reserve(b.hash) : this.reserveStreamed(b.hash);
    // Settled (and failures handled) by the sync round; this only keeps it from being "unhandled".
    b.reservation?.catch(() => undefined);
    await this.putEverywhere(b, syncNow);
    this.unsynced.push(b);
    if (this.unsynced.length >= this.m.opts.syncBatchBlocks) void this.scheduleSync();
  }

  /**
   * A streamed block's reservation waits to be asked for with the others of its sync round (or
   * RESERVATION_DELAY_MS after the first of them, for a writer that pauses): one RPC per block had
   * the metadata server spend ~1.1 ms of CPU per MiB of a sequential write.
   */
  private reserveStreamed(hash: string): Promise<boolean> {
    this.deferTimer ??= setTimeout(() => this.askReservations(), RESERVATION_DELAY_MS);
    return new Promise((resolve, reject) => this.deferred.push({ hash, resolve, reject }));
  }

  private askReservations(): void {
    if (this.deferTimer) clearTimeout(this.deferTimer);
    this.deferTimer = null;
    const batch = this.deferred.splice(0);
    if (!batch.length) return;
    this.m.reserveAll(batch.map((d) => d.hash)).forEach((p, i) => p.then(batch[i]!.resolve, batch[i]!.reject));
  }

  private async putEverywhere(b: PendingBlock, syncNow: boolean): Promise<void> {
    const bytes = b.bytes!;
    await Promise.all(this.m.servers.map(async (s) => {
      try {
        await s.putBlock(b.hash, bytes, syncNow, b.crc32);
        b.stored.add(s.index);
        if (syncNow) b.durable.add(s.index);
      } catch (err) {
        b.lastError.set(s.index, err instanceof Error ? err.message : String(err));
        if (err instanceof DataServerError && err.failure === 'unreachable') this.m.noteFailure(s.index);
      }
    }));
  }

  /** Queues a sync round for the blocks uploaded so far; rounds run one after another. */
  private scheduleSync(): Promise<void> {
    this.syncChain = this.syncChain.then(() => this.syncRound());
    return this.syncChain;
  }

  /** One batched fsync per server for the blocks it stored, then retries for blocks below Qw. */
  private async syncRound(): Promise<void> {
    if (this.failure) return;
    const batch = this.unsynced.splice(0);
    if (!batch.length) return;
    this.askReservations();
    try {
      await this.settleReservations(batch);
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    await Promise.all(this.m.servers.map(async (s) => {
      const names = batch.filter((b) => b.stored.has(s.index) && !b.durable.has(s.index)).map((b) => b.hash);
      if (!names.length) return;
      try {
        const r = await s.sync(names);
        const durable = new Set(r.durable);
        for (const b of batch) if (durable.has(b.hash)) b.durable.add(s.index);
      } catch (err) {
        for (const b of batch) b.lastError.set(s.index, err instanceof Error ? err.message : String(err));
      }
    }));
    try {
      await this.ensureQuorum(batch);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  /**
   * Waits for the reservations of the batch's blocks. A block whose deletion by the
   * collector finished before its reservation (the answer says so) may have lost the copies just
   * uploaded: it is uploaded again, synced at once, now under the reservation.
   */
  private async settleReservations(batch: PendingBlock[]): Promise<void> {
    await Promise.all(batch.map(async (b) => {
      const r = b.reservation;
      if (!r) return;
      b.reservation = null;
      if (!(await r)) return;
      this.m.stats.reuploads++;
      b.stored.clear();
      b.durable.clear();
      await this.putEverywhere(b, true);
    }));
  }

  /** The write waits, bounded by writeWaitMs, for Qw durable copies of each block. */
  private async ensureQuorum(batch: PendingBlock[]): Promise<void> {
    const qw = this.m.config.writeQuorum;
    const deadline = Date.now() + this.m.opts.writeWaitMs;
    let short = batch.filter((b) => b.durable.size < qw);
    while (short.length) {
      if (Date.now() >= deadline) {
        const b = short[0]!;
        const why = [...b.lastError.entries()].filter(([s]) => !b.durable.has(s)).map(([, e]) => e).join('; ');
        throw quorumError(`write quorum not met: block ${b.hash.slice(0, 12)} durable on ${b.durable.size} of Qw=${qw} servers after ${this.m.opts.writeWaitMs} ms (${why || 'no answer'})`);
      }
      await new Promise((r) => setTimeout(r, this.m.opts.retryIntervalMs));
      await Promise.all(short.flatMap((b) => this.m.servers.filter((s) => !b.durable.has(s.index)).map(async (s) => {
        try {
          await s.putBlock(b.hash, b.bytes!, true, b.crc32);
          b.durable.add(s.index);
          b.stored.add(s.index);
        } catch (err) {
          b.lastError.set(s.index, err instanceof Error ? err.message : String(err));
        }
      })));
      short = short.filter((b) => b.durable.size < qw);
    }
    // Durable on Qw: the bytes are no longer needed here; repair fills the remaining copies.
    for (const b of batch) {
      if (b.bytes === null) continue;
      b.bytes = null;
      // Every upload of it has ended; readers that still hold it keep it from the pool.
      b.owner.unref();
      this.held--;
      this.heldWaiters.shift()?.();
    }
  }
}
