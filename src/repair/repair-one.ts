// One repair: make `server` hold a good copy of `hash` again. The target pulls the block from the
// other up servers in turn (POST /v1/blocks/<hash>/fetch) and stores it durably. Each source
// re-hashes its copy before it sends it and the target re-hashes what it receives, so no separate
// digest check of the sources is needed first: that was a second disk read, hash and round trip
// per block, a third of a rebuild's cost. Sources found missing or corrupt on the way are queued
// for repair in turn.
import type { BlockFault, MetaStore } from '../meta/api.js';
import type { Membership } from './membership.js';
import type { PeerClient } from './peer-client.js';
import type { RateLimiter } from './rate-limiter.js';

export type RepairOutcome =
  | { kind: 'repaired'; bytes: number; from: string }
  | { kind: 'skipped'; why: string }
  | { kind: 'failed'; error: string };

export interface RepairContext {
  store: MetaStore;
  membership: Membership;
  peers: PeerClient;
  limiter: RateLimiter;
  blockSizeBytes: number;
  /** Copies found bad on a source while fetching from it; queued like any reported fault. */
  onDiscovered: (faults: BlockFault[]) => void;
}

export async function repairOne(f: BlockFault, ctx: RepairContext): Promise<RepairOutcome> {
  const row = await ctx.store.getBlock({ hash: f.hash });
  // Nothing references it any more (deleted file, aborted write): garbage collection's business.
  if (!row || row.refs === 0) return { kind: 'skipped', why: 'block no longer referenced' };
  const target = ctx.membership.member(f.server);
  if (!target) return { kind: 'skipped', why: `server ${f.server} is no longer a member` };
  if (!ctx.membership.isUp(f.server)) return { kind: 'failed', error: `target server ${f.server} is not up` };

  const sources = sourceOrder(f, ctx);
  if (sources.length === 0) return { kind: 'failed', error: 'no other server is up to copy from' };

  // Charged before the transfer: the bandwidth bound holds however many workers run.
  await ctx.limiter.take(row.size ?? ctx.blockSizeBytes);
  try {
    const r = await ctx.peers.fetch(target.url, f.hash, sources.map((s) => s.url));
    if (r.failed?.length) reportBadSources(f.hash, r.failed, sources, ctx);
    return { kind: 'repaired', bytes: r.size, from: r.from };
  } catch (err) {
    return { kind: 'failed', error: `fetch by server ${f.server}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** The other up servers, rotated by block name so that a rebuild reads from all of them evenly. */
function sourceOrder(f: BlockFault, ctx: RepairContext): Array<{ index: number; url: string }> {
  const others = ctx.membership.upServers().filter((s) => s.index !== f.server);
  if (others.length === 0) return [];
  const start = parseInt(f.hash.slice(0, 8), 16) % others.length;
  return others.slice(start).concat(others.slice(0, start));
}

function reportBadSources(
  hash: string, failed: Array<{ peer: string; failure: string }>, sources: Array<{ index: number; url: string }>, ctx: RepairContext,
): void {
  const byUrl = new Map(sources.map((s) => [s.url.replace(/\/$/, ''), s.index]));
  const found: BlockFault[] = [];
  for (const x of failed) {
    const server = byUrl.get(x.peer.replace(/\/$/, ''));
    if (server !== undefined && (x.failure === 'missing' || x.failure === 'corrupt')) found.push({ hash, server, reason: x.failure });
  }
  if (found.length > 0) ctx.onDiscovered(found);
}
