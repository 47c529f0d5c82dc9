// fsck --repair: every block with some but fewer than N verified copies is pulled by each server
// that lacks it from the servers that verified theirs. Blocks with no good copy are beyond repair;
// servers that are down cannot be refilled now (the repair queue does it when they return).
import type { BlockCopies, ServerProbe } from './block-copies.js';
import { fetchBlock } from './fetch-block.js';
import { mapLimit } from './map-limit.js';

export interface RepairAction {
  hash: string;
  server: number;
  /** Servers offered as sources, in the order the target tries them. */
  from: number[];
  ok: boolean;
  reason?: string;
}

export interface RepairPlan {
  actions: Array<Omit<RepairAction, 'ok' | 'reason'>>;
  /** Copies that cannot be refilled now, with why. */
  skipped: Array<{ hash: string; server: number; reason: string }>;
  unrecoverable: string[];
}

/** Copies fetched at once: each is a block-sized transfer plus an fsync on the target. */
const FETCH_CONCURRENCY = 8;

export function planRepair(servers: ServerProbe[], copies: Map<string, BlockCopies>, replicas: number): RepairPlan {
  const plan: RepairPlan = { actions: [], skipped: [], unrecoverable: [] };
  const byIndex = new Map(servers.map((s) => [s.client.index, s]));
  for (const b of copies.values()) {
    if (b.good.length === 0) {
      plan.unrecoverable.push(b.hash);
      continue;
    }
    let needed = replicas - b.good.length;
    for (const [index, state] of [...b.copies].sort(([x], [y]) => x - y)) {
      if (needed <= 0) break;
      if (state === 'good') continue;
      if (!byIndex.get(index)?.up || state === 'down') {
        plan.skipped.push({ hash: b.hash, server: index, reason: `server ${index} is down` });
        continue;
      }
      // Spread the copying load: each target starts with a different source.
      const rot = index % b.good.length;
      plan.actions.push({ hash: b.hash, server: index, from: b.good.slice(rot).concat(b.good.slice(0, rot)) });
      needed--;
    }
  }
  return plan;
}

export async function runRepair(servers: ServerProbe[], plan: RepairPlan, secret: string, onDone: () => void = () => undefined): Promise<RepairAction[]> {
  const urlOf = new Map(servers.map((s) => [s.client.index, s.client.url]));
  return mapLimit(plan.actions, FETCH_CONCURRENCY, async (a) => {
    const out = await fetchBlock(urlOf.get(a.server)!, secret, a.hash, a.from.map((i) => urlOf.get(i)!));
    onDone();
    return out.ok ? { ...a, ok: true } : { ...a, ok: false, reason: out.reason };
  });
}
