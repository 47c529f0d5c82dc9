// Where a data server keeps a block on its disk: DATA/blocks/ab/<sha256>, one level of 256 fan-out
// directories, and corrupt copies it set aside: DATA/quarantine/<sha256>.<ms>. The one definition,
// for the store and for what reads a server's disk directly (chaos commands, tests), so that a
// change of layout cannot leave one of them behind.
import { join } from 'node:path';

export function blocksDirOf(dataDir: string): string {
  return join(dataDir, 'blocks');
}

export function blockFileIn(blocksDir: string, hash: string): string {
  return join(blocksDir, hash.slice(0, 2), hash);
}

export function blockFileOf(dataDir: string, hash: string): string {
  return blockFileIn(blocksDirOf(dataDir), hash);
}

export function quarantineDirOf(dataDir: string): string {
  return join(dataDir, 'quarantine');
}
