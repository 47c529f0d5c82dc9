// fsck end to end: walk the namespace, verify every copy of every block, judge each file, and with
// repair refill under-replicated blocks and verify again. Read-only without repair, except that
// data servers quarantine the corrupt copies the verification finds (they would on any read).
import { DataClient } from '../client/data-client.js';
import { MetaClient } from '../client/meta-client.js';
import type { ClusterConfig } from '../common/config.js';
import { probeServers, verifyBlocks, type BlockCopies, type ServerProbe } from './block-copies.js';
import { classifyFile, summarize, type FileReport, type FsckSummary } from './classify.js';
import { walkFiles, type WalkedFile } from './namespace-walk.js';
import type { Progress } from './progress.js';
import { planRepair, runRepair, type RepairAction, type RepairPlan } from './repair.js';

export interface FsckOptions {
  metaUrl: string;
  secret: string;
  repair: boolean;
  progress: Progress;
}

export interface RepairReport {
  before: FsckSummary;
  actions: RepairAction[];
  skipped: RepairPlan['skipped'];
  unrecoverableBlocks: string[];
}

export interface FsckResult {
  config: ClusterConfig;
  servers: Array<{ index: number; url: string; up: boolean; error?: string }>;
  /** The final state (after repair when repair ran). */
  files: FileReport[];
  summary: FsckSummary;
  /** Paths rewritten while we checked them: their old blocks may be legitimately gone. */
  changedDuringCheck: string[];
  repair?: RepairReport;
}

export async function runFsck(opts: FsckOptions): Promise<FsckResult> {
  const meta = new MetaClient({ url: opts.metaUrl, secret: opts.secret, requestTimeoutMs: 15_000 });
  let clients: DataClient[] = [];
  try {
    const cluster = await meta.api.getCluster({});
    const N = cluster.config.replicas;
    clients = cluster.servers
      .slice()
      .sort((a, b) => a.index - b.index)
      .map((s) => new DataClient({ index: s.index, url: s.url, secret: opts.secret, requestTimeoutMs: 15_000, connectTimeoutMs: 2_000, connections: 8 }));
    const servers = await probeServers(clients);
    const files = await walkFiles(meta.api);
    const hashes = uniqueBlocks(files);
    const copies = await verifyWithProgress(opts.progress, 'verifying copies', servers, hashes);
    let { reports, changed } = await judge(meta, files, copies, N);
    const result: FsckResult = {
      config: cluster.config,
      servers: servers.map((s) => ({ index: s.client.index, url: s.client.url, up: s.up, ...(s.error ? { error: s.error } : {}) })),
      files: reports,
      summary: summarize(reports, hashes.length),
      changedDuringCheck: changed,
    };
    if (opts.repair) {
      const plan = planRepair(servers, copies, N);
      opts.progress.phase('repairing copies', plan.actions.length);
      const actions = await runRepair(servers, plan, opts.secret, () => opts.progress.tick());
      const touched = [...new Set([...plan.actions.map((a) => a.hash), ...plan.skipped.map((s) => s.hash)])];
      const after = await verifyWithProgress(opts.progress, 're-verifying', servers, touched);
      for (const [hash, c] of after) copies.set(hash, c);
      ({ reports, changed } = await judge(meta, files, copies, N));
      result.repair = { before: result.summary, actions, skipped: plan.skipped, unrecoverableBlocks: plan.unrecoverable };
      result.files = reports;
      result.summary = summarize(reports, hashes.length);
      result.changedDuringCheck = changed;
    }
    return result;
  } finally {
    opts.progress.stop();
    await Promise.all([meta.close(), ...clients.map((c) => c.close())]);
  }
}

function uniqueBlocks(files: readonly WalkedFile[]): string[] {
  const set = new Set<string>();
  for (const f of files) for (const b of f.blocks) if (b !== null) set.add(b);
  return [...set];
}

async function verifyWithProgress(progress: Progress, label: string, servers: ServerProbe[], hashes: string[]): Promise<Map<string, BlockCopies>> {
  progress.phase(label, hashes.length * servers.length);
  return verifyBlocks(servers, hashes, () => progress.tick());
}

/**
 * Classifies every file. A file that looks damaged is re-read: if it was rewritten meanwhile its old
 * blocks may have been collected, which is no damage, so it is left out and named instead.
 */
async function judge(meta: MetaClient, files: readonly WalkedFile[], copies: Map<string, BlockCopies>, N: number): Promise<{ reports: FileReport[]; changed: string[] }> {
  const reports: FileReport[] = [];
  const changed: string[] = [];
  for (const f of files) {
    const r = classifyFile(f, copies, N);
    if (r.status !== 'healthy') {
      const now = await meta.api.getLayout({ ino: f.ino }).catch(() => null);
      if (!now || now.version !== f.version) {
        changed.push(...f.paths);
        continue;
      }
    }
    reports.push(r);
  }
  return { reports, changed };
}
