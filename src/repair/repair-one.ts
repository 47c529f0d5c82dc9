// One repair: make `server` hold a good copy of `hash` again. Sources are found by digest checks on
// other up servers (a copy that fails its check is queued for repair in turn); the target then pulls
// the block from a verified source and stores it durably (POST /v1/blocks/<hash>/fetch).
import type { BlockFault, MetaStore } from '../meta/api.js';
import type { Membership } from './membership.js';
import { PeerError, type PeerClient } from './peer-client.js';
import type { RateLimiter } from './rate-limiter.js';

/**
 * Digest checks per repair: one verified source is enough, since the source re-hashes the block
 * again when it serves it and the target re-hashes what it receives. Servers not asked follow it in
 * the list as fallbacks, so a source failing mid-transfer does not fail the repair.
 */
const SOURCES_WANTED = 1;

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
  /** Copies found bad on a source while looking for one; queued like any reported fault. */
  onDiscovered: (faults: BlockFault[]) => void;
}

export async function repairOne(f: BlockFault, ctx: RepairContext): Promise<RepairOutcome> {
  const row = await ctx.store.getBlock({ hash: f.hash });
  // Nothing references it any more (deleted file, aborted write): garbage collection's business.
  if (!row || row.refs === 0) return { kind: 'skipped', why: 'block no longer referenced' };
  const target = ctx.membership.member(f.server);
  if (!target) return { kind: 'skipped', why: `server ${f.server} is no longer a member` };
  if (!ctx.membership.isUp(f.server)) return { kind: 'failed', error: `target server ${f.server} is not up` };

  const { verified, unasked } = await findSources(f, ctx);
  if (verified.length === 0) return { kind: 'failed', error: 'no up server has a verified copy' };

  // Charged before the transfer: the bandwidth bound holds however many workers run.
  await ctx.limiter.take(row.size ?? ctx.blockSizeBytes);
  try {
    const r = await ctx.peers.fetch(target.url, f.hash, [...verified, ...unasked]);
    return { kind: 'repaired', bytes: r.size, from: r.from };
  } catch (err) {
    return { kind: 'failed', error: `fetch by server ${f.server}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

/** Asks other up servers, rotated by block name to spread the load, to re-hash their copy. */
async function findSources(f: BlockFault, ctx: RepairContext): Promise<{ verified: string[]; unasked: string[] }> {
  const others = ctx.membership.upServers().filter((s) => s.index !== f.server);
  if (others.length === 0) return { verified: [], unasked: [] };
  const start = parseInt(f.hash.slice(0, 8), 16) % others.length;
  const order = others.slice(start).concat(others.slice(0, start));
  const verified: string[] = [];
  const discovered: BlockFault[] = [];
  let asked = 0;
  for (const s of order) {
    if (verified.length >= SOURCES_WANTED) break;
    asked++;
    try {
      await ctx.peers.verify(s.url, f.hash);
      verified.push(s.url);
    } catch (err) {
      if (err instanceof PeerError && (err.failure === 'missing' || err.failure === 'corrupt')) {
        discovered.push({ hash: f.hash, server: s.index, reason: err.failure });
      }
    }
  }
  if (discovered.length > 0) ctx.onDiscovered(discovered);
  return { verified, unasked: order.slice(asked).map((s) => s.url) };
}
