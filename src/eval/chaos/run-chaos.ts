// The chaos commands' work and wording, behind src/cli/chaos-commands.ts (which only parses):
// each returns the lines to print, or throws with the one line to show.
import { MetaClient } from '../../client/meta-client.js';
import { metaUrlOf } from '../../cluster/state.js';
import { blocksOfFile, corruptServerBlocks } from './corrupt.js';
import { formatInventory, serverInventory } from './inventory.js';
import { crashServer, restartServer, wipeServer } from './server-faults.js';
import { requireClusterRunning, resolveTarget, type ChaosTarget } from './target.js';

function target(dir: string, k: string, needsRunning = true): ChaosTarget {
  const t = resolveTarget(dir, k);
  if (needsRunning) requireClusterRunning(t);
  return t;
}

const plural = (n: number, one: string, many = one + 's') => `${n} ${n === 1 ? one : many}`;

export async function chaosKill(dir: string, k: string): Promise<string[]> {
  const t = target(dir, k);
  const pid = await crashServer(t);
  return [`data server ${t.index} killed (SIGKILL, pid ${pid})`];
}

export async function chaosRestart(dir: string, k: string): Promise<string[]> {
  const t = target(dir, k);
  const r = await restartServer(t);
  const was = r.killedPid === null ? 'was down' : `was running as pid ${r.killedPid}, killed first`;
  return [`data server ${t.index} restarted (pid ${r.pid}; ${was}): id ${r.health.id}, ${plural(r.health.blocks, 'block')}, ${r.health.quarantined} quarantined`];
}

/** `remote` is an absolute path in the file system, already normalised. */
export async function chaosCorrupt(dir: string, k: string, remote?: string): Promise<string[]> {
  // Corrupting the disk of a stopped cluster is fine; finding a file's blocks needs the metadata server.
  const t = target(dir, k, remote !== undefined);
  let hashes: string[] | 'all' = 'all';
  if (remote !== undefined) {
    const meta = new MetaClient({ url: metaUrlOf(t.state), secret: t.secret });
    try {
      hashes = await blocksOfFile(meta.api, remote);
    } finally {
      await meta.close();
    }
    if (!hashes.length) throw new Error(`${remote} has no data blocks (empty or all holes); nothing to corrupt`);
  }
  const r = await corruptServerBlocks(t.dataDir, t.dir, hashes);
  if (!r.corrupted.length) {
    throw new Error(remote ? `data server ${t.index} holds none of the blocks of ${remote}; nothing corrupted` : `data server ${t.index} stores no blocks; nothing corrupted`);
  }
  return [
    ...r.corrupted.map((c) => `corrupted ${c.file} (${c.sizeBytes} bytes; flipped bytes at offset${c.flippedOffsets.length === 1 ? '' : 's'} ${c.flippedOffsets.join(', ') || 'none, appended one'})`),
    ...r.notStored.map((h) => `not stored on data server ${t.index}: block ${h}`),
    `corrupted ${plural(r.corrupted.length, 'block copy', 'block copies')} on data server ${t.index}`,
  ];
}

export async function chaosWipe(dir: string, k: string): Promise<string[]> {
  const t = target(dir, k);
  const r = await wipeServer(t);
  return [`data server ${t.index} wiped: deleted ${plural(r.deletedBlocks, 'block')} and identity ${r.oldId ?? '(none)'}; ` +
    `restarted blank (pid ${r.pid}) with new identity ${r.health.id}, ${plural(r.health.blocks, 'block')}`];
}

export async function chaosLs(dir: string, k: string, json: boolean): Promise<string[]> {
  const inv = await serverInventory(target(dir, k));
  return [json ? JSON.stringify(inv, null, 2) : formatInventory(inv)];
}
