// The block files of one data server as they are on its disk: DIR/data-K/blocks/ab/<sha256>
// (src/dataserver/block-paths.ts), and blocks/ab/cd/<sha256> of a store in the old two-level
// layout that no server has opened since (it moves them when it does). Read straight from disk,
// so it works with the server down.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { BLOCK_NAME_RE } from '../../common/protocol.js';
import { blocksDirOf, quarantineDirOf } from '../../dataserver/block-paths.js';

export interface BlockFile {
  hash: string;
  path: string;
  sizeBytes: number;
}

const FAN_OUT_RE = /^[0-9a-f]{2}$/;

export async function listBlockFiles(dataDir: string): Promise<BlockFile[]> {
  const out: BlockFile[] = [];
  const blocksDir = blocksDirOf(dataDir);
  const seen = new Set<string>();
  const add = async (dir: string) => {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (!BLOCK_NAME_RE.test(name) || seen.has(name)) continue;
      const path = join(dir, name);
      const st = await stat(path).catch(() => null);
      if (st?.isFile()) {
        seen.add(name);
        out.push({ hash: name, path, sizeBytes: st.size });
      }
    }
  };
  for (const l1 of await dirNames(blocksDir)) {
    await add(join(blocksDir, l1));
    for (const l2 of await dirNames(join(blocksDir, l1))) await add(join(blocksDir, l1, l2));
  }
  return out.sort((a, b) => (a.hash < b.hash ? -1 : 1));
}

/** Copies the server set aside as corrupt (DIR/data-K/quarantine/<hash>.<ms>). */
export async function countQuarantined(dataDir: string): Promise<number> {
  return (await readdir(quarantineDirOf(dataDir)).catch(() => [])).length;
}

async function dirNames(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory() && FAN_OUT_RE.test(e.name)).map((e) => e.name).sort();
}
