// Silent corruption as a disk would do it: bytes of a stored block changed in place, same file,
// same size, same name. The server notices only when it re-hashes the copy (read, verify, scrub).
import { open } from 'node:fs/promises';
import { relative } from 'node:path';
import { FsError } from '../../common/errors.js';
import type { MetaApi } from '../../meta/api.js';
import { listBlockFiles, type BlockFile } from './block-files.js';

export interface Corruption {
  hash: string;
  /** Path relative to the cluster directory, as printed. */
  file: string;
  sizeBytes: number;
  flippedOffsets: number[];
}

/**
 * Inverts the first, middle and last byte. Three spread-out offsets, so a block is damaged at its
 * start, inside and at its end, and no two corrupted copies of a block can agree by accident.
 */
export async function flipBytes(f: BlockFile, clusterDir: string): Promise<Corruption> {
  const fh = await open(f.path, 'r+');
  try {
    const size = (await fh.stat()).size;
    const offsets = [...new Set([0, Math.floor(size / 2), size - 1])].filter((o) => o >= 0 && o < size);
    const one = Buffer.alloc(1);
    for (const o of offsets) {
      await fh.read(one, 0, 1, o);
      one[0] = one[0]! ^ 0xff;
      await fh.write(one, 0, 1, o);
    }
    // An empty copy has no byte to flip; one extra byte makes it just as wrong.
    if (size === 0) await fh.write(Buffer.from([0x5a]), 0, 1, 0);
    return { hash: f.hash, file: relative(clusterDir, f.path), sizeBytes: size, flippedOffsets: size === 0 ? [] : offsets };
  } finally {
    await fh.close();
  }
}

export interface CorruptResult {
  corrupted: Corruption[];
  /** Blocks of the requested file that this server does not hold (nothing to corrupt). */
  notStored: string[];
}

/** Corrupts the given blocks' copies on one server, or every block it stores when hashes is 'all'. */
export async function corruptServerBlocks(dataDir: string, clusterDir: string, hashes: readonly string[] | 'all'): Promise<CorruptResult> {
  const stored = await listBlockFiles(dataDir);
  if (hashes === 'all') return { corrupted: await Promise.all(stored.map((f) => flipBytes(f, clusterDir))), notStored: [] };
  const byHash = new Map(stored.map((f) => [f.hash, f]));
  const wanted = [...new Set(hashes)];
  const corrupted: Corruption[] = [];
  for (const h of wanted) {
    const f = byHash.get(h);
    if (f) corrupted.push(await flipBytes(f, clusterDir));
  }
  return { corrupted, notStored: wanted.filter((h) => !byHash.has(h)) };
}

/** The distinct blocks (holes excluded) of a file, by its path in the file system. */
export async function blocksOfFile(meta: MetaApi, path: string): Promise<string[]> {
  const attr = await meta.lookup({ path });
  if (attr.type !== 'file') throw new FsError('EINVAL', `${path} is not a regular file`);
  const layout = await meta.getLayout({ ino: attr.ino });
  return [...new Set(layout.blocks.filter((b): b is string => b !== null))];
}
