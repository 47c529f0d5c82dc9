// The metadata server's end of metadata links (src/common/meta-frames.ts): each request is the
// same validated MetaApi call as POST /v1/meta/<method>, answered with what that call's HTTP
// answer carries.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { toFsError } from '../common/errors.js';
import {
  ChunkQueue, STATUS_DONE, STATUS_FAILED, acceptUpgrade, endBroken, errorBody, prepareServerSocket, writeAnswer,
} from '../common/link-frames.js';
import type { Logger } from '../common/log.js';
import { META_LINK_PATH, META_LINK_PROTOCOL, META_REQUEST_HEADER_BYTES, decodeMetaRequestHeader, type MetaRequestHeader } from '../common/meta-frames.js';
import { isMetaMethod, type MetaMethod } from './arg-schemas.js';

export interface MethodAnswer {
  result: unknown;
  seq: number;
  epoch: string;
  exact: boolean;
}

export interface MetaLinkContext {
  secret: string;
  logger: Logger;
  call: (name: MetaMethod, args: unknown, client: string | null) => Promise<MethodAnswer>;
  clientOf: (req: IncomingMessage) => string | null;
}

/** As for HTTP bodies (server.ts MAX_META_BODY_BYTES): a commit of a ~1 TiB file fits. */
const MAX_REQUEST_BYTES = 64 * 1024 * 1024;
/** Longer than a client keeps an idle link open (src/client/link.ts). */
const IDLE_TIMEOUT_MS = 120_000;
/** Calls of one link served at once; reading stops while a client has more outstanding. */
const MAX_IN_FLIGHT_PER_LINK = 64;

export class MetaLinkServer {
  constructor(private readonly ctx: MetaLinkContext) {}

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (!acceptUpgrade(req, socket, this.ctx.secret, META_LINK_PATH, META_LINK_PROTOCOL)) {
      this.ctx.logger.warn({ url: req.url }, 'refused a metadata link');
      return;
    }
    new ServerLink(this.ctx, socket, this.ctx.clientOf(req)).start(head);
  }
}

class ServerLink {
  private readonly queue = new ChunkQueue();
  private header: MetaRequestHeader | null = null;
  private inFlight = 0;
  private broken = false;

  constructor(private readonly ctx: MetaLinkContext, private readonly socket: Duplex, private readonly client: string | null) {}

  start(head: Buffer): void {
    prepareServerSocket(this.socket, IDLE_TIMEOUT_MS);
    this.socket.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.pump();
    });
    this.queue.push(head);
    this.pump();
  }

  private pump(): void {
    while (!this.broken) {
      if (!this.header) {
        if (this.inFlight >= MAX_IN_FLIGHT_PER_LINK) {
          this.socket.pause();
          return;
        }
        if (this.queue.size < META_REQUEST_HEADER_BYTES) return;
        const h = decodeMetaRequestHeader(this.queue.take(META_REQUEST_HEADER_BYTES));
        if (h.length > MAX_REQUEST_BYTES || h.nameBytes > h.length) return this.fail(`malformed request (length ${h.length}, name ${h.nameBytes} bytes)`);
        this.header = h;
      }
      if (this.queue.size < this.header.length) return;
      const h = this.header;
      this.header = null;
      this.serve(h, h.length === 0 ? Buffer.alloc(0) : this.queue.take(h.length));
    }
  }

  private serve(h: MetaRequestHeader, body: Buffer): void {
    const name = body.toString('latin1', 0, h.nameBytes);
    if (!isMetaMethod(name)) return this.answerError(h.id, 'EINVAL', `unknown method "${name.slice(0, 64)}"`);
    let args: unknown = {};
    if (body.length > h.nameBytes) {
      try {
        args = JSON.parse(body.toString('utf8', h.nameBytes));
      } catch {
        return this.answerError(h.id, 'EINVAL', 'request body is not valid JSON');
      }
    }
    this.inFlight++;
    this.ctx.call(name, args, this.client).then(
      (answer) => writeAnswer(this.socket, h.id, STATUS_DONE, Buffer.from(JSON.stringify(answer))),
      (err: unknown) => {
        const fe = toFsError(err);
        // As over HTTP: expected errnos are answers; EIO means something is wrong here.
        if (fe.code === 'EIO') this.ctx.logger.error({ method: name, err }, 'request failed');
        this.answerError(h.id, fe.code, fe.message);
      },
    ).finally(() => {
      this.inFlight--;
      if (this.inFlight === MAX_IN_FLIGHT_PER_LINK - 1 && !this.broken) {
        this.socket.resume();
        this.pump();
      }
    });
  }

  private answerError(id: number, code: string, message: string): void {
    writeAnswer(this.socket, id, STATUS_FAILED, errorBody(code, message));
  }

  private fail(message: string): void {
    this.broken = true;
    this.ctx.logger.warn({ link: true }, `metadata link closed: ${message}`);
    endBroken(this.socket, message);
  }
}
