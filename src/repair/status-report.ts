// Builds GET /v1/admin/status from the engine's parts.
import type { FaultReason, MetaStore } from '../meta/api.js';
import type { Membership } from './membership.js';
import type { RecoveryTracker } from './progress.js';
import type { GarbageCollector } from './gc.js';
import type { RepairScheduler } from './repair-scheduler.js';
import type { HealStatus, RepairQueueStatus, ServerHealthStatus } from './status-types.js';

export interface StatusSources {
  store: MetaStore;
  membership: Membership;
  recoveries: RecoveryTracker;
  scheduler: RepairScheduler;
  gc: GarbageCollector;
  downAfterMs: number;
  repairConcurrency: number;
  repairRateMbPerS: number;
}

export async function buildStatus(s: StatusSources): Promise<HealStatus> {
  const nowMs = Date.now();
  await s.membership.refresh();
  const servers: ServerHealthStatus[] = s.membership.snapshot().map((h) => {
    const hb = h.heartbeat;
    return {
      index: h.index, url: h.url, id: h.id, state: h.state, lastSeenMs: h.lastSeenMs,
      lastSeenAgoMs: h.lastSeenMs === null ? null : nowMs - h.lastSeenMs,
      ...(hb ? { blocks: hb.blocks, bytes: hb.bytes, diskFreeBytes: hb.diskFreeBytes, diskTotalBytes: hb.diskTotalBytes } : {}),
      ...(hb?.scrub ? { scrub: hb.scrub } : {}),
    };
  });
  return {
    nowMs,
    downAfterMs: s.downAfterMs,
    servers,
    repairQueue: await queueStatus(s.store, nowMs),
    repair: {
      concurrency: s.repairConcurrency, rateMbPerS: s.repairRateMbPerS, inFlight: s.scheduler.inFlightCount, ...s.scheduler.counters,
    },
    recoveries: s.recoveries.list(),
    gc: s.gc.status(),
  };
}

async function queueStatus(store: MetaStore, nowMs: number): Promise<RepairQueueStatus> {
  const byReason: Record<FaultReason, number> = { missing: 0, corrupt: 0, 'write-missed': 0 };
  const byServer: Record<string, number> = {};
  let total = 0;
  let due = 0;
  for (const c of await store.countFaults({ nowMs })) {
    total += c.count;
    due += c.due;
    byReason[c.reason] = (byReason[c.reason] ?? 0) + c.count;
    byServer[String(c.server)] = (byServer[String(c.server)] ?? 0) + c.count;
  }
  return { total, due, byReason, byServer };
}
