// Leased, invalidation-based client caching of metadata, the server's half.
//
// Every namespace change gets a sequence number and is kept in a ring. A client that caches
// metadata (a mount) long-polls for changes after the last one it applied; each poll renews its
// lease for leaseMs and acknowledges everything up to `since`. A change is answered to the client
// that made it only once every other client holding a lease has acknowledged it, or that lease has
// run out. A client uses its cache only while its own lease (counted from when it sent the poll,
// so never later than ours) runs, so no cache anywhere answers with state older than an
// acknowledged change: the cache is as strict as asking this server each time.
//
// Answers also carry the sequence number as of before the store was read (SEQ_HEADER): a client
// refuses to cache an answer older than a change it has already applied, which closes the race
// between an in-flight read and the invalidation that overtakes it.
//
// After a restart this process knows no leases. The store keeps a horizon past every lease handed
// out (written before the lease is), and changes wait until it has passed.
//
// Unlink delegation: a client alone in holding a lease may ask (`want`) to answer unlinks before this
// server has them, and send them in batches (src/client/unlink-queue.ts). Any other client's
// namespace request first recalls it (beforeRequest): the holder's poll is answered at once with
// `recall`, it delivers what it queued and releases with its next poll; the request waits for that,
// or for the holder's lease to run out. So no answer anywhere misses an unlink already answered.
import { randomUUID } from 'node:crypto';
import type { Change, ChangeEvent } from './changes.js';

export interface ChangeFeedOptions {
  leaseMs: number;
  /** Events kept for clients that fall behind; one further back gets a reset (drop the whole cache). */
  retain: number;
  /** Changes wait until then (epoch ms): leases a previous process handed out may still run. */
  graceUntil: number;
  /** Stores the horizon: no lease runs past it, also after a restart. */
  persistHorizon: (untilMs: number) => Promise<void>;
}

export interface PollAnswer {
  epoch: string;
  /** The last change included: the client's `since` for its next poll. */
  seq: number;
  /** True when the client must drop everything it cached (new epoch, or too far behind). */
  reset: boolean;
  events: ChangeEvent[];
  leaseMs: number;
  /** This client holds the unlink delegation (until its lease ends). */
  delegated: boolean;
  /** Deliver the unlinks you answered, then poll without `want` to release the delegation. */
  recall: boolean;
}

export const DEFAULT_LEASE_MS = 2_000;
const DEFAULT_RETAIN = 10_000;
/** Clients whose lease ended this long ago are forgotten. */
const FORGET_AFTER_MS = 60_000;

/** An event as kept here: who made it decides whose poll it wakes. */
interface Entry {
  event: ChangeEvent;
  origin: string | null;
}

interface ClientState {
  leaseUntil: number;
  acked: number;
}

export class ChangeFeed {
  readonly epoch = randomUUID();
  readonly leaseMs: number;
  private seq = 0;
  private ring: Entry[] = [];
  private readonly retain: number;
  private readonly graceUntil: number;
  private horizon = 0;
  private readonly persistHorizon: ((untilMs: number) => Promise<void>) | null;
  private readonly clients = new Map<string, ClientState>();
  /** Publishers waiting for acknowledgements (woken by polls). */
  private readonly ackWaiters = new Set<() => void>();
  /** Long polls waiting for a change, with the client each polls for (woken by others' changes). */
  private pollWaiters = new Map<() => void, string>();
  /**
   * The newest change and the newest one by a different origin than it: together they answer
   * "is there a change after seq not made by this client" without a walk through the ring (a
   * client's own changes, hundreds per poll during an rm -rf, made that walk grow with each one).
   */
  private newest: { seq: number; origin: string | null } = { seq: 0, origin: null };
  private newestOther: { seq: number; origin: string | null } = { seq: 0, origin: null };
  private closed = false;
  /** The client holding the unlink delegation, and whether it has been asked to give it back. */
  private holder: { client: string; recalled: boolean } | null = null;
  /** Requests waiting for the holder to release (woken when it does). */
  private readonly releaseWaiters = new Set<() => void>();

  constructor(opts: Partial<ChangeFeedOptions> = {}) {
    this.leaseMs = opts.leaseMs ?? DEFAULT_LEASE_MS;
    this.retain = opts.retain ?? DEFAULT_RETAIN;
    // Bounded, in case the clock was set back since the horizon was written.
    this.graceUntil = Math.min(opts.graceUntil ?? 0, Date.now() + 2 * this.leaseMs);
    this.persistHorizon = opts.persistHorizon ?? null;
  }

  /** The sequence number of the last change published; stamp it on an answer before reading the store. */
  current(): number {
    return this.seq;
  }

  /** Records a change made by `origin` (a client id, or null) and resolves once no other lease can still hide it. */
  async publish(change: Change, origin: string | null): Promise<number> {
    const seq = ++this.seq;
    this.ring.push({ event: { seq, ...change }, origin });
    if (this.ring.length > 2 * this.retain) this.ring = this.ring.slice(-this.retain);
    if (origin !== this.newest.origin) this.newestOther = this.newest;
    this.newest = { seq, origin };
    this.wakePolls(origin);
    for (;;) {
      const now = Date.now();
      let wakeAt = this.graceUntil > now ? this.graceUntil : Infinity;
      for (const [id, c] of this.clients) {
        if (id === origin || c.acked >= seq || c.leaseUntil <= now) continue;
        wakeAt = Math.min(wakeAt, c.leaseUntil);
      }
      if (wakeAt === Infinity || this.closed) return seq;
      await this.sleepUntil(wakeAt, (w) => this.ackWaiters.add(w), (w) => this.ackWaiters.delete(w));
    }
  }

  /**
   * A client's poll: renews its lease, takes `since` as its acknowledgement, and answers the events
   * after it, waiting up to waitMs for one.
   */
  async poll(client: string, since: number | null, epoch: string | null, waitMs: number, want = false): Promise<PollAnswer> {
    const now = Date.now();
    const known = since !== null && epoch === this.epoch && since <= this.seq && since >= this.oldestKept() - 1;
    const state = this.clients.get(client) ?? { leaseUntil: 0, acked: -1 };
    state.leaseUntil = now + this.leaseMs;
    if (this.persistHorizon && state.leaseUntil > this.horizon) {
      // One lease ahead, so that this is written about once per lease term, not on every poll.
      this.horizon = state.leaseUntil + this.leaseMs;
      await this.persistHorizon(this.horizon);
    }
    if (!known) {
      // It drops everything it holds when this answer arrives, and only its next poll says it has:
      // until then changes still wait for it (its acknowledgement stays where it was, -1 if new).
      this.clients.set(client, state);
      this.forgetOld(now);
      this.wakePublishers();
      // With its lease set first: a holder that releases cannot be granted again before this cache fills.
      await this.beforeRequest(client);
      // A cache starting over holds nothing it could answer unlinks against.
      if (this.holder?.client === client) this.release();
      return { epoch: this.epoch, seq: this.seq, reset: true, events: [], leaseMs: this.leaseMs, ...this.delegationOf(client) };
    }
    state.acked = Math.max(state.acked, since);
    this.clients.set(client, state);
    this.wakePublishers();
    await this.beforeRequest(client);
    // Newly granted: answered at once, so the client starts using it now rather than after the wait.
    const deadline = this.delegate(client, want, now) ? now : now + waitMs;
    // A client's own changes do not end its wait (nor wake it): it applied them when they were
    // answered, and nobody waits for it to acknowledge them. Answering them at once cost each
    // mutation a second round trip and a wake-up of the mount.
    while (!this.hasNewsFor(client, since) && !this.delegationOf(client).recall && !this.closed && Date.now() < deadline) {
      await this.sleepUntil(deadline, (w) => this.pollWaiters.set(w, client), (w) => this.pollWaiters.delete(w));
    }
    return { epoch: this.epoch, seq: this.seq, reset: false, events: this.eventsAfter(since), leaseMs: this.leaseMs, ...this.delegationOf(client) };
  }

  /**
   * Called before any namespace request of `client` (null: a client without a lease) is served:
   * if another client holds the unlink delegation, recalls it and waits until its unlinks are in.
   */
  async beforeRequest(client: string | null): Promise<void> {
    for (;;) {
      const h = this.holder;
      if (!h || h.client === client || this.closed) return;
      const leaseUntil = this.clients.get(h.client)?.leaseUntil ?? 0;
      // A holder that stopped polling answers nothing more: what it queued is refused when it comes.
      if (leaseUntil <= Date.now()) return this.release();
      if (!h.recalled) {
        h.recalled = true;
        for (const [f, c] of this.pollWaiters) if (c === h.client) f();
      }
      await this.sleepUntil(leaseUntil, (w) => this.releaseWaiters.add(w), (w) => this.releaseWaiters.delete(w));
    }
  }

  /** Whether `client` may still deliver unlinks it answered: it holds the delegation and its lease runs. */
  holds(client: string | null): boolean {
    return client !== null && this.holder?.client === client && (this.clients.get(client)?.leaseUntil ?? 0) > Date.now();
  }

  /** Grants, keeps or releases the unlink delegation as `client` asks; true when newly granted. */
  private delegate(client: string, want: boolean, now: number): boolean {
    const h = this.holder;
    if (h?.client === client) {
      if (!want) this.release();
      return false;
    }
    if (!want || h) return false;
    for (const [id, c] of this.clients) if (id !== client && c.leaseUntil > now) return false;
    this.holder = { client, recalled: false };
    return true;
  }

  private delegationOf(client: string): { delegated: boolean; recall: boolean } {
    const mine = this.holder?.client === client;
    return { delegated: mine && !this.holder!.recalled, recall: mine && this.holder!.recalled };
  }

  private release(): void {
    this.holder = null;
    wakeAll(this.releaseWaiters);
  }

  /** Ends waiting polls and publishers (the server is stopping). */
  close(): void {
    this.closed = true;
    this.release();
    this.wakePublishers();
    this.wakePolls(null);
  }

  private oldestKept(): number {
    return this.ring.length > 0 ? this.ring[0]!.event.seq : this.seq + 1;
  }

  private hasNewsFor(client: string, since: number): boolean {
    // newestOther's origin differs from newest's: if newest is this client's, newestOther is not.
    const byOther = this.newest.origin !== client ? this.newest : this.newestOther;
    return byOther.seq > since;
  }

  private eventsAfter(since: number): ChangeEvent[] {
    const first = this.ring.length - (this.seq - since);
    return this.ring.slice(Math.max(0, first)).map((e) => e.event);
  }

  private forgetOld(now: number): void {
    for (const [id, c] of this.clients) if (c.leaseUntil + FORGET_AFTER_MS < now) this.clients.delete(id);
  }

  private wakePublishers(): void {
    wakeAll(this.ackWaiters);
  }

  /** Wakes the polls a change by `origin` is news for (all of them for null: no client made it). */
  private wakePolls(origin: string | null): void {
    for (const [f, client] of this.pollWaiters) if (client !== origin) f();
  }

  /** Resolves at `at` or when woken; add/remove register the waker where it can be woken. */
  private sleepUntil(at: number, add: (w: () => void) => void, remove: (w: () => void) => void): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        remove(done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, at - Date.now()));
      add(done);
    });
  }
}

/** Wakes every sleeper of a set (sleepUntil): each takes itself out of it, so a copy is walked. */
function wakeAll(waiters: Set<() => void>): void {
  for (const f of [...waiters]) f();
}
