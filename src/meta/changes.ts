// What a namespace change makes stale, in the terms client metadata caches keep: paths (an
// attribute, a listing), subtrees (everything below a renamed or removed directory) and inodes (a
// commit changes size and block list by inode number). One derivation, used by the metadata server
// to publish changes (change-feed.ts) and by a client to drop what its own changes made stale.
import type { MetaApi } from './api.js';

export interface Change {
  /** Paths whose attributes, listing (if a directory) and parent's listing are stale. */
  paths: string[];
  /** Directories everything below which is stale (rename and rmdir). */
  subtrees: string[];
  /** Inodes whose attributes and layout are stale. */
  inos: number[];
}

export interface ChangeEvent extends Change {
  seq: number;
}

/** The MetaApi methods that change what lookup, readdir, openPath or getLayout answer. */
export const MUTATING_METHODS = new Set<keyof MetaApi>([
  'create', 'mkdir', 'symlink', 'link', 'unlink', 'rmdir', 'rename', 'setattr', 'commit',
]);

type Args = Record<string, unknown>;
const str = (v: unknown): string[] => (typeof v === 'string' ? [v] : []);

/** The change a successful call of method with args made; null for methods that change nothing a cache holds. */
export function changeOf(method: string, args: Args): Change | null {
  switch (method) {
    case 'create':
    case 'mkdir':
    case 'symlink':
    case 'unlink':
    case 'setattr':
      return { paths: str(args.path), subtrees: [], inos: [] };
    case 'link':
      return { paths: [...str(args.path), ...str(args.newPath)], subtrees: [], inos: [] };
    case 'rmdir':
      return { paths: str(args.path), subtrees: str(args.path), inos: [] };
    case 'rename': {
      const both = [...str(args.from), ...str(args.to)];
      return { paths: both, subtrees: both, inos: [] };
    }
    case 'commit':
      return { paths: [], subtrees: [], inos: typeof args.ino === 'number' ? [args.ino] : [] };
    default:
      return null;
  }
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

/** Wire names of the headers that carry change sequence numbers (see change-feed.ts). */
export const SEQ_HEADER = 'x-quorumfs-seq';
export const EPOCH_HEADER = 'x-quorumfs-epoch';
export const CLIENT_HEADER = 'x-quorumfs-client';
