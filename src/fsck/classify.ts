// Judges each file by its weakest block: DESIGN.md wants N verified copies of every block; one
// fewer is a repair job, none at all is data loss that no repair can undo.
import type { BlockCopies, CopyState } from './block-copies.js';
import type { WalkedFile } from './namespace-walk.js';

export type FileHealth = 'healthy' | 'under-replicated' | 'unrecoverable';

export interface BlockProblem {
  hash: string;
  goodCopies: number;
  /** Server indexes by what was wrong with their copy. */
  missingOn: number[];
  corruptOn: number[];
  downOn: number[];
  errorOn: number[];
}

export interface FileReport {
  paths: string[];
  ino: number;
  sizeBytes: number;
  /** Blocks with data (holes excluded). */
  blocks: number;
  status: FileHealth;
  /** Fewest verified copies over the file's blocks (N for an empty file). */
  minGoodCopies: number;
  problems: BlockProblem[];
}

export interface FsckSummary {
  files: number;
  blocks: number;
  healthy: number;
  underReplicated: number;
  unrecoverable: number;
}

export function classifyFile(f: WalkedFile, copies: Map<string, BlockCopies>, replicas: number): FileReport {
  const hashes = [...new Set(f.blocks.filter((b): b is string => b !== null))];
  let minGood = replicas;
  const problems: BlockProblem[] = [];
  for (const hash of hashes) {
    const c = copies.get(hash);
    const good = c?.good.length ?? 0;
    minGood = Math.min(minGood, good);
    if (good >= replicas) continue;
    const on = (s: CopyState) => (c ? [...c.copies].filter(([, st]) => st === s).map(([i]) => i).sort((x, y) => x - y) : []);
    problems.push({ hash, goodCopies: good, missingOn: on('missing'), corruptOn: on('corrupt'), downOn: on('down'), errorOn: on('error') });
  }
  const status: FileHealth = minGood >= replicas ? 'healthy' : minGood === 0 ? 'unrecoverable' : 'under-replicated';
  return { paths: f.paths, ino: f.ino, sizeBytes: f.size, blocks: hashes.length, status, minGoodCopies: minGood, problems };
}

export function summarize(reports: readonly FileReport[], blocks: number): FsckSummary {
  const count = (s: FileHealth) => reports.filter((r) => r.status === s).length;
  return { files: reports.length, blocks, healthy: count('healthy'), underReplicated: count('under-replicated'), unrecoverable: count('unrecoverable') };
}
