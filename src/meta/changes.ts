// What a namespace change makes stale, in the terms client metadata caches keep: paths (an
// attribute, a listing), subtrees (everything below a renamed or removed directory) and inodes (a
// commit changes size and block list by inode number). One derivation, used by the metadata server
// to publish changes (change-feed.ts) and by a client to drop what its own changes made stale.

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

type Args = Record<string, unknown>;
const str = (v: unknown): string[] => (typeof v === 'string' ? [v] : []);

/**
 * The change a successful call of method with args made; null for methods that change nothing a
 * cache holds (lookups, reservations, fault reports, sync). The one list of mutating methods.
 */
export function changeOf(method: string, args: Args): Change | null {
  switch (method) {
    case 'create':
    case 'mkdir':
    case 'symlink':
    case 'unlink':
    case 'setattr':
      return { paths: str(args.path), subtrees: [], inos: [] };
    case 'unlinkMany': {
      const entries = Array.isArray(args.entries) ? (args.entries as Array<{ path?: unknown }>) : [];
      return { paths: entries.flatMap((e) => str(e.path)), subtrees: [], inos: [] };
    }
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

/** Wire names of the headers that carry change sequence numbers (see change-feed.ts). */
export const SEQ_HEADER = 'x-quorumfs-seq';
export const EPOCH_HEADER = 'x-quorumfs-epoch';
export const CLIENT_HEADER = 'x-quorumfs-client';
/** On a change's answer: the answer is the state at exactly its sequence number, not merely after it. */
export const EXACT_HEADER = 'x-quorumfs-exact';
