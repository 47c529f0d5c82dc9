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
  private ackWaiters = new Set<() => void>();
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
  async poll(client: string, since: number | null, epoch: string | null, waitMs: number): Promise<PollAnswer> {
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
      return { epoch: this.epoch, seq: this.seq, reset: true, events: [], leaseMs: this.leaseMs };
    }
    state.acked = Math.max(state.acked, since);
    this.clients.set(client, state);
    this.wakePublishers();
    const deadline = now + waitMs;
    // A client's own changes do not end its wait (nor wake it): it applied them when they were
    // answered, and nobody waits for it to acknowledge them. Answering them at once cost each
    // mutation a second round trip and a wake-up of the mount.
    while (!this.hasNewsFor(client, since) && !this.closed && Date.now() < deadline) {
      await this.sleepUntil(deadline, (w) => this.pollWaiters.set(w, client), (w) => this.pollWaiters.delete(w));
    }
    return { epoch: this.epoch, seq: this.seq, reset: false, events: this.eventsAfter(since), leaseMs: this.leaseMs };
  }

  /** Ends waiting polls and publishers (the server is stopping). */
  close(): void {
    this.closed = true;
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
    const w = this.ackWaiters;
    this.ackWaiters = new Set();
    for (const f of w) f();
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
