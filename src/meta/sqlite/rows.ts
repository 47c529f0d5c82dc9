// Row shapes and the conversions between rows and the API's types.
import { FsError } from '../../common/errors.js';
import type { Attr, BlockRef, FileType, Ino } from '../api.js';

export const HASH_BYTES = 32;
const HOLE = Buffer.alloc(HASH_BYTES);
const HASH_RE = /^[0-9a-f]{64}$/;
const ZERO_HASH = '0'.repeat(64);

/** The columns that make an Attr; the blocks blob is left out so stat never reads block lists. */
export const ATTR_COLUMNS = 'ino, type, mode, uid, gid, size, nlink, atime_ms, mtime_ms, ctime_ms';

export interface AttrRow {
  ino: Ino;
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  nlink: number;
  atime_ms: number;
  mtime_ms: number;
  ctime_ms: number;
}

export function rowToAttr(r: AttrRow): Attr {
  return {
    ino: r.ino, type: r.type, mode: r.mode, uid: r.uid, gid: r.gid, size: r.size, nlink: r.nlink,
    atimeMs: r.atime_ms, mtimeMs: r.mtime_ms, ctimeMs: r.ctime_ms,
  };
}

/** Refuses anything that is not a lowercase sha256 hex name; all zeros is refused too, it encodes a hole. */
export function checkHash(hash: unknown): string {
  if (typeof hash !== 'string' || !HASH_RE.test(hash)) throw new FsError('EINVAL', `invalid block name ${JSON.stringify(hash)}: expected 64 lowercase hex characters`);
  if (hash === ZERO_HASH) throw new FsError('EINVAL', 'block name of all zeros is reserved for holes');
  return hash;
}

export function hashToBuf(hash: string): Buffer {
  return Buffer.from(hash, 'hex');
}

export function encodeBlocks(blocks: BlockRef[]): Buffer {
  const out = Buffer.alloc(blocks.length * HASH_BYTES);
  blocks.forEach((b, i) => {
    if (b !== null) out.write(b, i * HASH_BYTES, HASH_BYTES, 'hex');
  });
  return out;
}

export function decodeBlocks(blob: Buffer | null): BlockRef[] {
  if (!blob) return [];
  const out: BlockRef[] = new Array(blob.length / HASH_BYTES);
  for (let i = 0; i < out.length; i++) {
    const slice = blob.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
    out[i] = slice.equals(HOLE) ? null : slice.toString('hex');
  }
  return out;
}
