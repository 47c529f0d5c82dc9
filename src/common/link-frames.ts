// Links: connections that begin as HTTP/1.1 and are upgraded to binary frames, for the calls
// every file operation makes (block uploads and fetches, metadata calls). Node's HTTP server and
// undici's client cost more CPU per small call than the work behind it on these 2-core machines;
// a frame costs a fixed header. What a request frame holds is each link's own
// (src/common/block-frames.ts, src/common/meta-frames.ts); the opening and the answers are shared.
//
// Opening: `GET <path>` with `connection: upgrade`, `upgrade: <protocol>` and the usual
// authorization header (a metadata client also names itself with x-quorumfs-client). The server
// answers `101 Switching Protocols`, or 401, 400 or 404 and closes. The secret is checked once per
// connection, as for an HTTP keep-alive connection: only cluster members get this far.
//
// Every request header starts with u32 length (body bytes after the header) and u32 id (chosen by
// the client); all integers are little-endian. Answers, in any order:
//   12-byte header, then `length` body bytes
//     0  u32 length
//     4  u32 id           the request's
//     8  u16 status       0 = done (the body is the link's own answer), 1 = failed (the body is
//                         JSON { code, message }, the same errno codes as the HTTP API)
//    10  u16 reserved     0
// A frame the server cannot parse is answered with status 1 under id 0xffffffff, and the
// connection is then closed.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { checkAuth } from './auth.js';
import { AUTH_HEADER } from './protocol.js';

/** QUORUMFS_SERVE_LINKS=0: a server offers no links, as one from before them (its clients fall back to HTTP). */
export function linksServed(): boolean {
  return process.env.QUORUMFS_SERVE_LINKS !== '0';
}

export const ANSWER_HEADER_BYTES = 12;
export const STATUS_DONE = 0;
export const STATUS_FAILED = 1;
/** The id of an answer that belongs to no request: the link itself failed. */
export const LINK_FAILURE_ID = 0xffffffff;

/** A failed answer's body. */
export interface FrameError {
  code: string;
  message: string;
}

export interface AnswerHeader {
  length: number;
  id: number;
  status: number;
}

export function encodeAnswerHeader(length: number, id: number, status: number): Buffer {
  const b = Buffer.allocUnsafe(ANSWER_HEADER_BYTES);
  b.writeUInt32LE(length, 0);
  b.writeUInt32LE(id, 4);
  b.writeUInt16LE(status, 8);
  b.writeUInt16LE(0, 10);
  return b;
}

export function decodeAnswerHeader(b: Buffer): AnswerHeader {
  return { length: b.readUInt32LE(0), id: b.readUInt32LE(4), status: b.readUInt16LE(8) };
}

export function errorBody(code: string, message: string): Buffer {
  return Buffer.from(JSON.stringify({ code, message } satisfies FrameError));
}

export function parseErrorBody(body: Buffer): FrameError {
  try {
    const e = JSON.parse(body.toString('utf8')) as Partial<FrameError>;
    return { code: typeof e.code === 'string' ? e.code : 'EIO', message: typeof e.message === 'string' ? e.message : 'failed' };
  } catch {
    return { code: 'EIO', message: 'unreadable error answer' };
  }
}

/**
 * Server side of an opening (the HTTP server's 'upgrade' event): true once the 101 is written and
 * the socket is the link's; false after refusing it with an HTTP status and closing.
 */
export function acceptUpgrade(req: IncomingMessage, socket: Duplex, secret: string, path: string, protocol: string): boolean {
  let status: string | null = null;
  if (!checkAuth(req.headers[AUTH_HEADER] as string | undefined, secret)) status = '401 Unauthorized';
  else if (req.url !== path || req.method !== 'GET') status = '404 Not Found';
  else if (String(req.headers.upgrade ?? '').toLowerCase() !== protocol) status = '400 Bad Request';
  if (status) {
    socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    return false;
  }
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${protocol}\r\n\r\n`);
  return true;
}

/** Settings every server end of a link applies: no Nagle delay, and idle links dropped as idle HTTP sockets are. */
export function prepareServerSocket(socket: Duplex, idleTimeoutMs: number): void {
  const s = socket as Duplex & { setNoDelay?: (b: boolean) => void; setTimeout?: (ms: number) => void };
  s.setNoDelay?.(true);
  s.setTimeout?.(idleTimeoutMs);
  socket.on('timeout', () => socket.destroy());
  // A reset or a vanished client: 'close' follows, and each link cleans up there.
  socket.on('error', () => {});
}

/** Writes an answer; done is called once its bytes are written or the link is gone (a pooled buffer may go back then). */
export function writeAnswer(socket: Duplex, id: number, status: number, body?: Buffer, done?: () => void): void {
  if (!socket.writable) {
    done?.();
    return;
  }
  const length = body?.length ?? 0;
  socket.cork();
  socket.write(encodeAnswerHeader(length, id, status));
  if (body && length > 0) socket.write(body, () => done?.());
  else done?.();
  socket.uncork();
}

/** Ends a link over a frame it could not parse: nothing after it can be trusted. */
export function endBroken(socket: Duplex, message: string): void {
  const body = errorBody('EINVAL', message);
  socket.end(Buffer.concat([encodeAnswerHeader(body.length, LINK_FAILURE_ID, STATUS_FAILED), body]));
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

  /**
   * Replaces chunk, if the queue still holds (part of) it, by a copy of what is left of it: for a
   * reader whose chunks live in a buffer that the next read overwrites.
   */
  own(chunk: Buffer): void {
    const i = this.chunks.lastIndexOf(chunk);
    if (i < 0) return;
    const from = i === 0 ? this.head : 0;
    this.chunks[i] = Buffer.from(chunk.subarray(from));
    if (i === 0) this.head = 0;
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
