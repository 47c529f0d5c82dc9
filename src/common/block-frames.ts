// The block link: a binary framing for block uploads and fetches, on a connection that began as
// HTTP and was upgraded. Every small file costs a few block calls, and on these 2-core machines
// Node's HTTP server and undici's client cost more CPU per 4 KiB call than the work itself (a
// microbenchmark of serial 4 KiB PUTs over a Unix socket, client + server CPU per call: HTTP
// 386-426 + 255-295 us cold, 67-71 + 55-60 us warm; a length-prefixed frame 90-98 + 85-90 us cold,
// 37-39 + 25 us warm; README "This round (stop 23)").
//
// Opening: `GET /v1/block-link` with `connection: upgrade`, `upgrade: quorumfs-blocks/1` and the
// usual authorization header. The server answers `101 Switching Protocols` (401, 400 or 404
// otherwise, then closes). The secret is checked once per connection, as HTTP/1.1 keep-alive
// connections are trusted by nobody more than that either: only cluster members get this far.
//
// After the 101, frames flow both ways; all integers are little-endian.
//   request  (48-byte header, then `length` body bytes)
//     0  u32 length       body bytes (a PUT's block; 0 for GET)
//     4  u32 id           chosen by the client, echoed in the answer; answers may come in any order
//     8  u8  op           1 = PUT, 2 = GET
//     9  u8  flags        PUT: 1 = sync (durable before the answer), 2 = crc32c present
//                         GET: 1 = check (the server re-hashes its copy before sending)
//    10  u16 reserved     0
//    12  u32 crc32c       PUT: the writer's CRC-32C of the bytes (with flag 2)
//    16  32 bytes         the block's name (SHA-256), binary
//   answer   (12-byte header, then `length` body bytes)
//     0  u32 length
//     4  u32 id
//     8  u16 status       0 = done (GET: the body is the block; PUT: no body), 1 = failed (the
//                         body is JSON { code, message }, the same errno codes as the HTTP API)
//    10  u16 reserved     0
// A frame the server cannot parse is answered with status 1 under id 0xffffffff, and the
// connection is then closed. The HTTP routes stay for everything else and for clients that do not
// open a link (src/common/protocol.ts).

export const BLOCK_LINK_PATH = '/v1/block-link';
export const BLOCK_LINK_PROTOCOL = 'quorumfs-blocks/1';

export const REQUEST_HEADER_BYTES = 48;
export const ANSWER_HEADER_BYTES = 12;

export const OP_PUT = 1;
export const OP_GET = 2;

export const PUT_SYNC = 1;
export const PUT_HAS_CRC = 2;
export const GET_CHECK = 1;

export const STATUS_DONE = 0;
export const STATUS_FAILED = 1;

/** The id of an answer that belongs to no request: the link itself failed. */
export const LINK_FAILURE_ID = 0xffffffff;

export interface RequestHeader {
  length: number;
  id: number;
  op: number;
  flags: number;
  crc32c: number;
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
  b.writeUInt32LE(h.crc32c >>> 0, 12);
  if (b.write(h.hash, 16, 32, 'hex') !== 32) throw new Error(`invalid block name "${h.hash.slice(0, 80)}"`);
  return b;
}

export function decodeRequestHeader(b: Buffer): RequestHeader {
  return {
    length: b.readUInt32LE(0),
    id: b.readUInt32LE(4),
    op: b.readUInt8(8),
    flags: b.readUInt8(9),
    crc32c: b.readUInt32LE(12),
    hash: b.toString('hex', 16, 48),
  };
}

export function encodeAnswerHeader(length: number, id: number, status: number): Buffer {
  const b = Buffer.allocUnsafe(ANSWER_HEADER_BYTES);
  b.writeUInt32LE(length, 0);
  b.writeUInt32LE(id, 4);
  b.writeUInt16LE(status, 8);
  b.writeUInt16LE(0, 10);
  return b;
}

export interface AnswerHeader {
  length: number;
  id: number;
  status: number;
}

export function decodeAnswerHeader(b: Buffer): AnswerHeader {
  return { length: b.readUInt32LE(0), id: b.readUInt32LE(4), status: b.readUInt16LE(8) };
}

/** A failed answer's body. */
export interface FrameError {
  code: string;
  message: string;
}

/**
 * Collects a stream's chunks and hands out exact byte counts: headers are copied out (they may
 * span chunks), bodies are copied straight into their destination. Both ends of the link parse with it.
 */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  private head = 0;
  /** Bytes held, not counting what `head` has consumed of the first chunk. */
  size = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.size += chunk.length;
  }

  /** Removes and returns n bytes (n <= size), as one buffer. */
  take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    this.copyInto(out, 0, n);
    return out;
  }

  /** Moves up to n bytes into target at offset; returns how many it moved. */
  copyInto(target: Buffer, offset: number, n: number): number {
    let moved = 0;
    while (moved < n && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const step = Math.min(n - moved, first.length - this.head);
      first.copy(target, offset + moved, this.head, this.head + step);
      moved += step;
      this.advance(step);
    }
    return moved;
  }

  /** Drops up to n bytes; returns how many it dropped. */
  skip(n: number): number {
    let dropped = 0;
    while (dropped < n && this.chunks.length > 0) {
      const step = Math.min(n - dropped, this.chunks[0]!.length - this.head);
      dropped += step;
      this.advance(step);
    }
    return dropped;
  }

  private advance(n: number): void {
    this.head += n;
    this.size -= n;
    if (this.head === this.chunks[0]!.length) {
      this.chunks.shift();
      this.head = 0;
    }
  }
}
