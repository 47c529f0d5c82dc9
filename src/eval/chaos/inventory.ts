// chaos ls: what one data server stores on its disk and which files need each block (the report's
// list_contents, plus the reverse map an operator needs before breaking a server on purpose).
import { MetaClient } from '../../client/meta-client.js';
import { metaUrlOf } from '../../cluster/state.js';
import { runningPid } from '../../cluster/processes.js';
import { blockReferences, walkFiles } from '../../fsck/namespace-walk.js';
import { countQuarantined, listBlockFiles } from './block-files.js';
import { readIdentity } from './server-faults.js';
import type { ChaosTarget } from './target.js';

export interface StoredBlock {
  hash: string;
  sizeBytes: number;
  /** Files referencing the block; empty for garbage (a failed write, a deleted file). */
  paths: string[];
}

export interface ServerInventory {
  index: number;
  running: boolean;
  id: string | null;
  dataDir: string;
  blocks: StoredBlock[];
  totalBytes: number;
  quarantined: number;
}

export async function serverInventory(t: ChaosTarget): Promise<ServerInventory> {
  const meta = new MetaClient({ url: metaUrlOf(t.state), secret: t.secret, requestTimeoutMs: 15_000 });
  let refs: Map<string, string[]>;
  try {
    refs = blockReferences(await walkFiles(meta.api));
  } finally {
    await meta.close();
  }
  const files = await listBlockFiles(t.dataDir);
  return {
    index: t.index,
    running: runningPid(t.dir, t.ref) !== null,
    id: await readIdentity(t.dataDir),
    dataDir: t.dataDir,
    blocks: files.map((f) => ({ hash: f.hash, sizeBytes: f.sizeBytes, paths: refs.get(f.hash) ?? [] })),
    totalBytes: files.reduce((s, f) => s + f.sizeBytes, 0),
    quarantined: await countQuarantined(t.dataDir),
  };
}

export function formatInventory(inv: ServerInventory): string {
  const lines = [
    `data server ${inv.index} (${inv.running ? 'running' : 'DOWN'}, id ${inv.id ?? 'none'}): ${inv.blocks.length} block${inv.blocks.length === 1 ? '' : 's'}, ${inv.totalBytes} bytes in ${inv.dataDir}`,
  ];
  for (const b of inv.blocks) lines.push(`${b.hash}  ${String(b.sizeBytes).padStart(9)}  ${b.paths.length ? b.paths.join(', ') : '(unreferenced)'}`);
  if (inv.quarantined) lines.push(`quarantined: ${inv.quarantined} corrupt cop${inv.quarantined === 1 ? 'y' : 'ies'} set aside in ${inv.dataDir}/quarantine`);
  return lines.join('\n');
}
