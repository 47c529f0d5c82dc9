// Every regular file of the namespace with its block list, found through the metadata API only
// (readdir + getLayout), so it works the same against a local cluster and a remote one.
import { posix } from 'node:path';
import type { BlockRef, Ino, MetaApi } from '../meta/api.js';
import { mapLimit } from './map-limit.js';

export interface WalkedFile {
  /** Every path naming this inode (hard links give more than one), sorted. */
  paths: string[];
  ino: Ino;
  size: number;
  blocks: BlockRef[];
  /** Layout version when read; a later change means the file was rewritten while we looked. */
  version: number;
}

/** Directories listed at once; each readdir is one metadata request. */
const READDIR_CONCURRENCY = 8;
const LAYOUT_CONCURRENCY = 16;

export interface WalkProgress {
  onDirectory?: (path: string) => void;
}

/**
 * Breadth-first walk from `root`. Files removed between readdir and getLayout are skipped: they
 * no longer reference anything. Symlinks have no blocks and are not listed.
 */
export async function walkFiles(meta: MetaApi, root = '/', progress: WalkProgress = {}): Promise<WalkedFile[]> {
  const byIno = new Map<Ino, { paths: string[] }>();
  let level = [root];
  while (level.length) {
    const listings = await mapLimit(level, READDIR_CONCURRENCY, async (dir) => {
      progress.onDirectory?.(dir);
      return { dir, entries: await meta.readdir({ path: dir }).catch(ignoreVanished([])) };
    });
    level = [];
    for (const { dir, entries } of listings) {
      for (const e of entries) {
        const path = posix.join(dir, e.name);
        if (e.attr.type === 'dir') level.push(path);
        else if (e.attr.type === 'file') {
          const seen = byIno.get(e.attr.ino);
          if (seen) seen.paths.push(path);
          else byIno.set(e.attr.ino, { paths: [path] });
        }
      }
    }
  }
  const inos = [...byIno.keys()];
  const layouts = await mapLimit(inos, LAYOUT_CONCURRENCY, (ino) => meta.getLayout({ ino }).catch(ignoreVanished(null)));
  const files: WalkedFile[] = [];
  inos.forEach((ino, i) => {
    const l = layouts[i];
    if (!l) return;
    files.push({ paths: byIno.get(ino)!.paths.sort(), ino, size: l.size, blocks: l.blocks, version: l.version });
  });
  return files.sort((a, b) => (a.paths[0]! < b.paths[0]! ? -1 : 1));
}

/** ENOENT during a walk means "removed meanwhile", which is not an error for a checker. */
function ignoreVanished<T>(value: T): (err: unknown) => T {
  return (err: unknown) => {
    if ((err as { code?: string })?.code === 'ENOENT') return value;
    throw err;
  };
}

/** block name -> paths of the files that reference it (the reverse map of chaos ls). */
export function blockReferences(files: readonly WalkedFile[]): Map<string, string[]> {
  const refs = new Map<string, string[]>();
  for (const f of files) {
    for (const b of f.blocks) {
      if (b === null) continue;
      const list = refs.get(b) ?? [];
      for (const p of f.paths) if (!list.includes(p)) list.push(p);
      refs.set(b, list);
    }
  }
  return refs;
}
