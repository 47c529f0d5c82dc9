// What `quorumfs status` shows: each server up or down with its blocks and bytes, the config, and
// how many referenced blocks have fewer than N copies in the servers' inventories; from the
// metadata server's self-healing engine: servers down by heartbeat, refills in progress with their
// rate and ETA, the repair queue and garbage collection.
import { request } from 'undici';
import { DataClient } from '../client/data-client.js';
import { MetaClient } from '../client/meta-client.js';
import type { ClusterConfig } from '../common/config.js';
import { authValue } from '../common/protocol.js';
import { describeRecovery } from '../repair/progress.js';
import type { HealStatus } from '../repair/status-types.js';
import type { ClusterState } from './state.js';
import { metaUrlOf, dataUrlOf } from './state.js';

const STATUS_TIMEOUT_MS = 5_000;

export interface ServerStatus {
  index: number;
  url: string;
  up: boolean;
  id?: string;
  blocks?: number;
  bytes?: number;
  diskFreeBytes?: number;
  error?: string;
}

export interface ClusterStatus {
  config: ClusterConfig;
  meta: { url: string; up: boolean; error?: string };
  servers: ServerStatus[];
  /** Referenced blocks, and those with fewer than N copies in the inventories of servers that are up. */
  blocks?: { referenced: number; underReplicated: number; unavailable: number };
  files?: number;
  /** GET /v1/admin/status of the metadata server (absent if it did not answer). */
  heal?: HealStatus;
}

/** The self-healing engine's view; undefined if the metadata server does not answer it. */
export async function fetchHealStatus(metaUrl: string, secret: string): Promise<HealStatus | undefined> {
  try {
    const res = await request(`${metaUrl}/v1/admin/status`, {
      headers: { authorization: authValue(secret) }, headersTimeout: STATUS_TIMEOUT_MS, bodyTimeout: STATUS_TIMEOUT_MS,
    });
    const body = (await res.body.json()) as { result?: HealStatus };
    return res.statusCode === 200 ? body.result : undefined;
  } catch {
    return undefined;
  }
}

export async function clusterStatus(state: ClusterState, secret: string): Promise<ClusterStatus> {
  const metaUrl = metaUrlOf(state);
  const meta = new MetaClient({ url: metaUrl, secret, requestTimeoutMs: 5_000 });
  const clients = state.dataPorts.map((_, i) => new DataClient({ index: i + 1, url: dataUrlOf(state, i + 1), secret, requestTimeoutMs: 5_000, connectTimeoutMs: 1_000, connections: 1 }));
  try {
    const servers = await Promise.all(clients.map(async (c): Promise<ServerStatus & { inv?: Set<string> }> => {
      try {
        const h = await c.health();
        const inv = new Set((await c.inventory()).blocks.map(([hash]) => hash));
        return { index: c.index, url: c.url, up: true, id: h.id, blocks: h.blocks, bytes: h.bytes, diskFreeBytes: h.diskFreeBytes, inv };
      } catch (err) {
        return { index: c.index, url: c.url, up: false, error: err instanceof Error ? err.message : String(err) };
      }
    }));
    const status: ClusterStatus = { config: state.config, meta: { url: metaUrl, up: false }, servers: servers.map(({ inv: _inv, ...s }) => s) };
    try {
      const referenced = await meta.listBlocks();
      const fs = await meta.api.statfs({});
      status.meta.up = true;
      status.files = fs.files;
      let under = 0;
      let unavailable = 0;
      for (const b of referenced) {
        const copies = servers.filter((s) => s.inv?.has(b.hash)).length;
        if (copies < state.config.replicas) under++;
        if (copies < state.config.readQuorum) unavailable++;
      }
      status.blocks = { referenced: referenced.length, underReplicated: under, unavailable };
      status.heal = await fetchHealStatus(metaUrl, secret);
    } catch (err) {
      status.meta.error = err instanceof Error ? err.message : String(err);
    }
    return status;
  } finally {
    await Promise.all([meta.close(), ...clients.map((c) => c.close())]);
  }
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? '-' : `${(bytes / 1048576).toFixed(1)} MiB`;
}

export function formatStatus(s: ClusterStatus): string {
  const c = s.config;
  const lines = [
    `config: N=${c.replicas} Qw=${c.writeQuorum} Qr=${c.readQuorum} block size=${c.blockSizeBytes} bytes`,
    `metadata server: ${s.meta.up ? 'up' : 'DOWN'}  ${s.meta.url}${s.meta.error ? `  (${s.meta.error})` : ''}`,
  ];
  for (const d of s.servers) {
    const beat = heartbeatNote(s.heal, d.index);
    lines.push(d.up
      ? `data server ${d.index}: up    ${d.url}  blocks=${d.blocks} bytes=${mib(d.bytes)} free=${mib(d.diskFreeBytes)} id=${d.id?.slice(0, 8)}${beat}`
      : `data server ${d.index}: DOWN  ${d.url}${beat}`);
  }
  if (s.blocks) {
    lines.push(`files: ${s.files}  blocks: ${s.blocks.referenced} referenced, ${s.blocks.underReplicated} under-replicated (fewer than N=${c.replicas} copies), ${s.blocks.unavailable} below Qr`);
  }
  if (s.heal) lines.push(...healLines(s.heal));
  return lines.join('\n');
}

/** What the metadata server concluded from heartbeats, when it differs from "up". */
function heartbeatNote(h: HealStatus | undefined, index: number): string {
  const srv = h?.servers.find((x) => x.index === index);
  if (!srv || srv.state === 'up') return '';
  if (srv.state === 'unknown') return '  (no heartbeat received by the metadata server)';
  return `  (down by heartbeat: last seen ${Math.round((srv.lastSeenAgoMs ?? 0) / 1000)}s ago)`;
}

function healLines(h: HealStatus): string[] {
  const lines: string[] = [];
  for (const r of h.recoveries) if (r.finishedAtMs === null) lines.push(`data server ${r.server}: ${describeRecovery(r)}`);
  const q = h.repairQueue;
  const reasons = Object.entries(q.byReason).map(([k, v]) => `${k} ${v}`).join(', ');
  lines.push(`repair queue: ${q.total} cop${q.total === 1 ? 'y' : 'ies'} (${reasons}), ${q.total - q.due} waiting to retry, ${h.repair.inFlight} in flight; repaired ${h.repair.repairedBlocks} so far`);
  const down = h.servers.filter((x) => x.state === 'down').map((x) => x.index);
  if (down.length) lines.push(`down by heartbeat (no heartbeat for ${h.downAfterMs} ms): data server${down.length > 1 ? 's' : ''} ${down.join(', ')}`);
  lines.push(`gc: grace ${Math.round(h.gc.graceMs / 1000)}s, ${h.gc.deletedBlocks} unreferenced and ${h.gc.orphansDeleted} leaked blocks deleted, ${h.gc.deletingNow} being deleted`);
  return lines;
}
