// The JSON of GET /v1/admin/status on the metadata server: membership and health, the repair queue,
// refills in progress and garbage collection. `quorumfs status` renders it (src/cluster/status.ts).
import type { FaultReason } from '../meta/api.js';

export interface ServerHealthStatus {
  index: number;
  url: string;
  id: string | null;
  /** 'unknown': no heartbeat since the metadata server started; 'down': silent for downAfterMs. */
  state: 'up' | 'down' | 'unknown';
  lastSeenMs: number | null;
  lastSeenAgoMs: number | null;
  blocks?: number;
  bytes?: number;
  diskFreeBytes?: number;
  diskTotalBytes?: number;
  scrub?: { passStartedAtMs: number; checkedBlocks: number; corruptFound: number };
}

export interface RecoveryStatus {
  server: number;
  /** rebuild: the server came back blank; catch-up: it came back with its disk but missed blocks. */
  kind: 'rebuild' | 'catch-up';
  startedAtMs: number;
  finishedAtMs: number | null;
  totalBlocks: number;
  doneBlocks: number;
  totalBytes: number;
  doneBytes: number;
  /** Over the last ~10 s while running; the whole recovery's average once finished. */
  rateBytesPerS: number;
  etaMs: number | null;
}

export interface RepairQueueStatus {
  total: number;
  /** Entries not waiting out a backoff. */
  due: number;
  byReason: Record<FaultReason, number>;
  /** Queue length per target server (index as key). */
  byServer: Record<string, number>;
}

export interface RepairWorkStatus {
  concurrency: number;
  /** 0: unlimited. */
  rateMbPerS: number;
  inFlight: number;
  repairedBlocks: number;
  repairedBytes: number;
  /** Faults dropped because their block is no longer referenced. */
  skipped: number;
  failedAttempts: number;
}

export interface GcStatus {
  graceMs: number;
  passes: number;
  lastPassAtMs: number | null;
  deletedBlocks: number;
  orphansDeleted: number;
  /** Deletions aborted because a reservation or commit claimed the block again. */
  rescued: number;
  deletingNow: number;
}

export interface HealStatus {
  nowMs: number;
  downAfterMs: number;
  servers: ServerHealthStatus[];
  repairQueue: RepairQueueStatus;
  repair: RepairWorkStatus;
  recoveries: RecoveryStatus[];
  gc: GcStatus;
}
