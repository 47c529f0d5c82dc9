// The block link: block uploads and fetches as binary frames on an upgraded connection
// (src/common/link-frames.ts has the opening, the answers and why). Every small file costs a few
// block calls, and on these 2-core machines Node's HTTP server and undici's client cost more CPU
// per 4 KiB call than the work itself (a microbenchmark of serial 4 KiB PUTs over a Unix socket,
// client + server CPU per call: HTTP 386-426 + 255-295 us cold, 67-71 + 55-60 us warm; a
// length-prefixed frame 90-98 + 85-90 us cold, 37-39 + 25 us warm; bench/HISTORY.md, "This
// round (stop 23)").
//
// Opening: `GET /v1/block-link`, `upgrade: quorumfs-blocks/1`. Requests, all integers little-endian:
//   48-byte header, then `length` body bytes
//     0  u32 length       body bytes (a PUT's block; 0 for GET)
//     4  u32 id           chosen by the client, echoed in the answer
//     8  u8  op           1 = PUT, 2 = GET
//     9  u8  flags        PUT: 1 = sync (durable before the answer), 4 = checksum is the
//                         writer's CRC-32 of the bytes (hash.ts transferChecksum), 2 = it is their
//                         CRC-32C (writers before stop 27; still accepted)
//                         GET: 1 = check (the server re-hashes its copy before sending)
//    10  u16 reserved     0
//    12  u32 checksum     PUT: see flags 4 and 2
//    16  32 bytes         the block's name (SHA-256), binary
// Answers (link-frames.ts): a GET's body is the block; a PUT's is empty.

export const BLOCK_LINK_PATH = '/v1/block-link';
export const BLOCK_LINK_PROTOCOL = 'quorumfs-blocks/1';

export const REQUEST_HEADER_BYTES = 48;

export const OP_PUT = 1;
export const OP_GET = 2;

export const PUT_SYNC = 1;
export const PUT_HAS_CRC32C = 2;
export const PUT_HAS_CRC32 = 4;
export const GET_CHECK = 1;

export interface RequestHeader {
  length: number;
  id: number;
  op: number;
  flags: number;
  checksum: number;
  /** 64 lowercase hex characters: any 32 bytes are a well-formed name. */
  hash: string;
}

export function encodeRequestHeader(h: RequestHeader): Buffer {
  const b = Buffer.allocUnsafe(REQUEST_HEADER_BYTES);
  b.writeUInt32LE(h.length, 0);
  b.writeUInt32LE(h.id, 4);
  b.writeUInt8(h.op, 8);
  b.writeUInt8(h.flags, 9);
  b.writeUInt16LE(0, 10);
  b.writeUInt32LE(h.checksum >>> 0, 12);
  if (b.write(h.hash, 16, 32, 'hex') !== 32) throw new Error(`invalid block name "${h.hash.slice(0, 80)}"`);
  return b;
}

export function decodeRequestHeader(b: Buffer): RequestHeader {
  return {
    length: b.readUInt32LE(0),
    id: b.readUInt32LE(4),
    op: b.readUInt8(8),
    flags: b.readUInt8(9),
    checksum: b.readUInt32LE(12),
    hash: b.toString('hex', 16, 48),
  };
}
