// Who is alive: heartbeats from data servers, last-seen times, and the events that start repair.
// A server is up from its first heartbeat until downAfterMs pass without one. Its identity tells a
// restart with its disk (same id: reconcile what it holds) from a blank one (new id: rebuild it).
import { FsError } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import type { Heartbeat } from '../common/protocol.js';
import type { MetaStore, ServerInfo } from '../meta/api.js';

export type ServerState = 'unknown' | 'up' | 'down';

export interface ServerHealth {
  index: number;
  /** From the membership list: where clients and repair reach the server. */
  url: string;
  id: string | null;
  /** 'unknown': not heard from since this metadata server started. */
  state: ServerState;
  lastSeenMs: number | null;
  heartbeat?: Heartbeat;
}

/**
 * first: never seen with an id before (or the id record was empty): reconcile.
 * returned: same id after being down, silent for a while, or at the first heartbeat since the
 *   metadata server started: it may have missed writes, so reconcile.
 * blank: a different id than recorded: a wiped disk or a replacement: rebuild everything.
 */
export type MembershipEvent = { kind: 'first' | 'returned' | 'blank'; index: number; url: string };

/**
 * Silence longer than this (three missed heartbeats) may have been a restart even if the server is
 * back before downAfterMs: reconciling then is cheap and catches writes it missed meanwhile.
 */
export const RETURN_GAP_MS = 3_000;
/** How long a replaced identity that heartbeats again is taken for a second process, not a blank restart. */
const CONFLICT_WINDOW_MS = 30_000;

export interface MembershipOptions {
  store: MetaStore;
  downAfterMs: number;
  logger: Logger;
  onEvent: (e: MembershipEvent) => void;
}

export class Membership {
  private readonly health = new Map<number, ServerHealth>();
  private members: ServerInfo[] = [];
  /** index -> the identity a blank server replaced, to catch two processes claiming one index. */
  private readonly ousted = new Map<number, { id: string; atMs: number }>();

  private readonly startedAtMs = Date.now();

  constructor(private readonly o: MembershipOptions) {}

  async heartbeat(hb: Heartbeat): Promise<void> {
    const now = Date.now();
    await this.refresh();
    const member = this.members.find((m) => m.index === hb.index);
    if (!member) throw new FsError('ENOENT', `data server ${hb.index} is not in the membership list (register it with the cluster first)`);
    const recorded = member.id;
    const ousted = this.ousted.get(hb.index);
    if (recorded !== null && hb.id !== recorded && ousted?.id === hb.id && now - ousted.atMs < CONFLICT_WINDOW_MS) {
      // The identity a "blank" server replaced is still alive: two processes share one index.
      // Rebuilding back and forth would serve neither; refuse the older one while it keeps beating.
      ousted.atMs = now;
      this.o.logger.error({ server: hb.index, ids: [hb.id, recorded] }, 'two data servers heartbeat with the same index; refusing the older identity');
      throw new FsError('EEXIST', `data server ${hb.index} is registered with identity ${recorded}, not ${hb.id}`);
    }
    const prev = this.health.get(hb.index);
    const wasAway = !prev || prev.state !== 'up' || prev.lastSeenMs === null || now - prev.lastSeenMs > RETURN_GAP_MS;
    if (prev?.state === 'down') this.o.logger.info({ server: hb.index, downForMs: now - (prev.lastSeenMs ?? now) }, 'data server is up again');
    if (hb.url !== member.url && prev?.heartbeat?.url !== hb.url) {
      this.o.logger.warn({ server: hb.index, reported: hb.url, registered: member.url }, 'data server reports a URL other than the registered one; repair uses the registered one');
    }
    this.health.set(hb.index, { index: hb.index, url: member.url, id: hb.id, state: 'up', lastSeenMs: now, heartbeat: hb });

    if (hb.id !== recorded) {
      await this.o.store.setServerId({ index: hb.index, id: hb.id });
      member.id = hb.id;
      if (recorded !== null) {
        this.ousted.set(hb.index, { id: recorded, atMs: now });
        this.o.logger.warn({ server: hb.index, oldId: recorded, newId: hb.id }, 'data server came back blank (new identity); rebuilding it');
      }
      this.emit(recorded === null ? 'first' : 'blank', member);
    } else if (wasAway) {
      this.emit('returned', member);
    }
  }

  /** Marks servers silent for downAfterMs as down; called on a timer. */
  tick(): void {
    const now = Date.now();
    for (const h of this.health.values()) {
      if (h.state === 'up' && h.lastSeenMs !== null && now - h.lastSeenMs > this.o.downAfterMs) {
        h.state = 'down';
        this.o.logger.warn({ server: h.index, silentForMs: now - h.lastSeenMs }, 'data server is down (no heartbeat)');
      }
    }
  }

  /** Re-reads the membership list (servers may be registered or changed at any time). */
  async refresh(): Promise<void> {
    // An unformatted cluster has no members yet; nothing to track or repair.
    if (!(await this.o.store.isFormatted())) return;
    const servers = (await this.o.store.getCluster({})).servers;
    this.members = servers;
    for (const h of this.health.values()) {
      const m = servers.find((s) => s.index === h.index);
      if (m) h.url = m.url;
      else this.health.delete(h.index);
    }
  }

  private emit(kind: MembershipEvent['kind'], m: ServerInfo): void {
    this.o.onEvent({ kind, index: m.index, url: m.url });
  }

  isUp(index: number): boolean {
    return this.health.get(index)?.state === 'up';
  }

  /** Members that are up, in index order. */
  upServers(): ServerHealth[] {
    return [...this.health.values()].filter((h) => h.state === 'up').sort((a, b) => a.index - b.index);
  }

  /** Whether the membership list has been read (after a restart, before it is, nothing may be judged). */
  get loaded(): boolean {
    return this.members.length > 0;
  }

  /** Indexes of members that are not up (repair does not target them). */
  notUp(): number[] {
    return this.members.filter((m) => !this.isUp(m.index)).map((m) => m.index);
  }

  member(index: number): ServerInfo | undefined {
    return this.members.find((m) => m.index === index);
  }

  /**
   * True once every member has been heard from since this metadata server started, or once long
   * enough has passed that a silent member counts as down (a dead server must not stop GC forever).
   */
  settled(): boolean {
    if (this.members.length === 0) return false;
    return this.members.every((m) => this.health.has(m.index)) || Date.now() - this.startedAtMs > 2 * this.o.downAfterMs;
  }

  snapshot(): ServerHealth[] {
    return this.members.map((m) => this.health.get(m.index) ?? { index: m.index, url: m.url, id: m.id, state: 'unknown', lastSeenMs: null });
  }
}
