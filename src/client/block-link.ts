// Block uploads and fetches over links to one data server (src/common/block-frames.ts). They are
// idempotent (a block is named by its bytes), so one lost to a dropped link is sent once more.
import { BLOCK_LINK_PATH, BLOCK_LINK_PROTOCOL, GET_CHECK, OP_GET, OP_PUT, PUT_HAS_CRC32, PUT_SYNC, encodeRequestHeader } from '../common/block-frames.js';
import type { BufferPool } from '../common/buffer-pool.js';
import { Links, type LinksOptions } from './link.js';

export type BlockLinksOptions = Omit<LinksOptions, 'path' | 'protocol' | 'headers'> & {
  /** The authorization header's value. */
  auth: string;
};

export class BlockLinks {
  private readonly links: Links;

  constructor(opts: BlockLinksOptions) {
    const { auth, ...rest } = opts;
    this.links = new Links({ ...rest, path: BLOCK_LINK_PATH, protocol: BLOCK_LINK_PROTOCOL, headers: { authorization: auth } });
  }

  async put(hash: string, bytes: Buffer, sync: boolean, crc32: number): Promise<void> {
    const header = encodeRequestHeader({ length: bytes.length, id: 0, op: OP_PUT, flags: (sync ? PUT_SYNC : 0) | PUT_HAS_CRC32, checksum: crc32, hash });
    await this.links.send(header, bytes, { retryOnce: true });
  }

  /** The block's bytes as the server read them; into one of `buffers` when it is exactly their size. */
  get(hash: string, check: boolean, buffers?: BufferPool): Promise<Buffer> {
    const header = encodeRequestHeader({ length: 0, id: 0, op: OP_GET, flags: check ? GET_CHECK : 0, checksum: 0, hash });
    return this.links.send(header, undefined, { buffers, retryOnce: true });
  }

  /** The server refused links as an unknown route (links.ts): its client uses HTTP instead. */
  get unsupported(): boolean {
    return this.links.unsupported;
  }

  close(): Promise<void> {
    return this.links.close();
  }
}
