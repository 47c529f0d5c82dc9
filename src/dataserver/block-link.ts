// The data server's end of block links (src/common/block-frames.ts): upgraded connections that
// carry block PUTs and GETs as binary frames. Each request runs the same store calls as its HTTP
// route, under the same limits (block size, the buffered-bodies semaphore, pooled buffers).
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import {
  BLOCK_LINK_PATH, BLOCK_LINK_PROTOCOL, GET_CHECK, OP_GET, OP_PUT, PUT_HAS_CRC32, PUT_HAS_CRC32C, PUT_SYNC, REQUEST_HEADER_BYTES, decodeRequestHeader, type RequestHeader,
} from '../common/block-frames.js';
import { FsError } from '../common/errors.js';
import type { BufferPool } from '../common/buffer-pool.js';
import {
  ChunkQueue, STATUS_DONE, STATUS_FAILED, acceptUpgrade, endBroken, errorBody, prepareServerSocket, writeAnswer, type FrameError,
} from '../common/link-frames.js';
import type { Logger } from '../common/log.js';
import type { BlockStore } from './block-store.js';
import type { Semaphore } from './concurrency.js';
import { isCorruptBlockError, noteCorruptCopy } from './corrupt-block-error.js';

export interface BlockLinkContext {
  store: BlockStore;
  secret: string;
  blockSizeBytes: number;
  logger: Logger;
  onCorrupt?: (hash: string) => void;
  /** Shared with the HTTP routes: what bounds buffered upload bodies bounds both. */
  bodySlots: Semaphore;
  bodies: BufferPool;
  reads: BufferPool;
  /** A link with no traffic for this long is dropped (as an idle HTTP socket is). */
  idleTimeoutMs: number;
  /** A refused upload's body is read and dropped up to this size; a larger one ends the link. */
  drainCapBytes: number;
}

/** Requests of one link being served at once; reading stops while a client has more outstanding. */
const MAX_IN_FLIGHT_PER_LINK = 64;

export class BlockLinkServer {
  private readonly links = new Set<ServerLink>();

  constructor(private readonly ctx: BlockLinkContext) {}

  /** The HTTP server's 'upgrade' event: a link is opened, or refused with an HTTP status and closed. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!acceptUpgrade(req, socket, this.ctx.secret, BLOCK_LINK_PATH, BLOCK_LINK_PROTOCOL)) return;
    const link = new ServerLink(this.ctx, socket, () => this.links.delete(link));
    this.links.add(link);
    link.start(head);
  }

  /** For shutdown: links end once their outstanding requests are answered. */
  closeAll(): void {
    for (const link of this.links) link.finish();
  }
}

class ServerLink {
  private readonly queue = new ChunkQueue();
  /** The upload whose body is being received. */
  private upload: { header: RequestHeader; buf: Buffer; body: Buffer; filled: number; release: () => void } | null = null;
  /** Bytes of a refused upload still to be dropped. */
  private skipping = 0;
  private waitingForSlot = false;
  private inFlight = 0;
  private finishing = false;
  private closed = false;

  constructor(private readonly ctx: BlockLinkContext, private readonly socket: Duplex, private readonly onClose: () => void) {}

  start(head: Buffer): void {
    prepareServerSocket(this.socket, this.ctx.idleTimeoutMs);
    this.socket.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.pump();
    });
    this.socket.on('close', () => {
      this.closed = true;
      if (this.upload) {
        this.ctx.bodies.give(this.upload.buf);
        this.upload.release();
        this.upload = null;
      }
      this.onClose();
    });
    this.queue.push(head);
    this.pump();
  }

  finish(): void {
    this.finishing = true;
    this.socket.pause();
    if (this.inFlight === 0 && !this.upload) this.socket.end();
  }

  /** Parses what has arrived, as far as it can without waiting. */
  private pump(): void {
    while (!this.closed && !this.finishing && !this.waitingForSlot) {
      if (this.skipping > 0) {
        this.skipping -= this.queue.skip(this.skipping);
        if (this.skipping > 0) return;
        continue;
      }
      if (this.upload) {
        const u = this.upload;
        u.filled += this.queue.copyInto(u.body, u.filled, u.body.length - u.filled);
        if (u.filled < u.body.length) return;
        this.upload = null;
        this.put(u.header, u.body, u.buf, u.release);
        continue;
      }
      if (this.inFlight >= MAX_IN_FLIGHT_PER_LINK) {
        this.socket.pause();
        return;
      }
      if (this.queue.size < REQUEST_HEADER_BYTES) return;
      this.begin(decodeRequestHeader(this.queue.take(REQUEST_HEADER_BYTES)));
    }
  }

  private begin(h: RequestHeader): void {
    if (h.op === OP_GET) {
      if (h.length !== 0 || (h.flags & ~GET_CHECK) !== 0) return this.broken(`malformed GET frame (length ${h.length}, flags ${h.flags})`);
      this.get(h);
      return;
    }
    if (h.op !== OP_PUT) return this.broken(`unknown operation ${h.op}`);
    if ((h.flags & ~(PUT_SYNC | PUT_HAS_CRC32 | PUT_HAS_CRC32C)) !== 0) return this.broken(`unknown PUT flags ${h.flags}`);
    if (h.length > this.ctx.blockSizeBytes) {
      // Refused on the header alone, as the HTTP route does: not one byte of it is buffered.
      const tooBig = `block of ${h.length} bytes exceeds the block size of ${this.ctx.blockSizeBytes}`;
      if (h.length > this.ctx.drainCapBytes) return this.broken(tooBig);
      this.skipping = h.length;
      this.fail(h, new FsError('EFBIG', tooBig));
      return;
    }
    const release = this.ctx.bodySlots.tryAcquire();
    if (release) return this.receive(h, release);
    this.waitingForSlot = true;
    this.socket.pause();
    void this.ctx.bodySlots.acquire().then((r) => {
      this.waitingForSlot = false;
      if (this.closed) return r();
      this.receive(h, r);
      if (!this.finishing) this.socket.resume();
      this.pump();
    });
  }

  private receive(header: RequestHeader, release: () => void): void {
    const buf = this.ctx.bodies.take(header.length);
    this.upload = { header, buf, body: buf.subarray(0, header.length), filled: 0, release };
  }

  private put(h: RequestHeader, body: Buffer, buf: Buffer, release: () => void): void {
    this.inFlight++;
    // Both flags set: the store checks the CRC-32, as it does for an HTTP upload with both headers.
    const crc32 = (h.flags & PUT_HAS_CRC32) !== 0 ? h.checksum : undefined;
    const crc32c = (h.flags & PUT_HAS_CRC32C) !== 0 ? h.checksum : undefined;
    this.ctx.store.put(h.hash, body, { sync: (h.flags & PUT_SYNC) !== 0, crc32, crc32c })
      .then(() => this.answer(h.id, STATUS_DONE))
      .catch((err: unknown) => this.fail(h, err))
      .finally(() => {
        this.ctx.bodies.give(buf);
        release();
        this.settled();
      });
  }

  private get(h: RequestHeader): void {
    this.inFlight++;
    const check = (h.flags & GET_CHECK) !== 0;
    // As the HTTP route: only clients read with check=0, and their files stay open for the next read.
    this.ctx.store.get(h.hash, { check, keepOpen: !check, into: this.ctx.reads })
      .then((bytes) => this.answer(h.id, STATUS_DONE, bytes, () => this.ctx.reads.give(bytes)))
      .catch((err: unknown) => this.fail(h, err))
      .finally(() => this.settled());
  }

  private settled(): void {
    this.inFlight--;
    if (this.finishing) {
      if (this.inFlight === 0 && !this.upload) this.socket.end();
      return;
    }
    if (this.inFlight === MAX_IN_FLIGHT_PER_LINK - 1) {
      this.socket.resume();
      this.pump();
    }
  }

  private answer(id: number, status: number, body?: Buffer, done?: () => void): void {
    writeAnswer(this.socket, id, status, body, done);
  }

  private fail(h: RequestHeader, err: unknown): void {
    let error: FrameError;
    if (isCorruptBlockError(err)) {
      noteCorruptCopy(err, this.ctx.logger, this.ctx.onCorrupt);
      error = { code: err.code, message: err.message };
    } else if (err instanceof FsError) {
      error = { code: err.code, message: err.message };
    } else {
      error = { code: 'EIO', message: err instanceof Error ? err.message : String(err) };
    }
    this.ctx.logger.warn({ link: true, op: h.op === OP_PUT ? 'put' : 'get', hash: h.hash.slice(0, 12), code: error.code }, error.message);
    this.answer(h.id, STATUS_FAILED, errorBody(error.code, error.message));
  }

  /** A frame that cannot be parsed: nothing after it can be trusted, so the link ends. */
  private broken(message: string): void {
    this.ctx.logger.warn({ link: true }, `block link closed: ${message}`);
    this.finishing = true;
    endBroken(this.socket, message);
  }
}
