// The client's end of block links (src/common/block-frames.ts) to one data server: a few upgraded
// connections, each carrying many requests at once, matched to their answers by id. DataClient
// sends block uploads and fetches here and everything else over HTTP.
import { connect, type Socket } from 'node:net';
import {
  ANSWER_HEADER_BYTES, BLOCK_LINK_PATH, BLOCK_LINK_PROTOCOL, ChunkQueue, GET_CHECK, LINK_FAILURE_ID, OP_GET, OP_PUT, PUT_HAS_CRC, PUT_SYNC,
  STATUS_DONE, decodeAnswerHeader, encodeRequestHeader, type AnswerHeader, type FrameError,
} from '../common/block-frames.js';
import type { BufferPool } from '../common/buffer-pool.js';

export interface BlockLinksOptions {
  url: string;
  /** The server's Unix socket, when it is on this machine. */
  socketPath?: string;
  /** The authorization header's value. */
  auth: string;
  connectTimeoutMs: number;
  /** Bound on each request, from sending it to the last byte of its answer. */
  requestTimeoutMs: number;
  /** Links opened at most; requests share them. */
  links: number;
  /** A link with nothing outstanding for this long is closed (well before the server's idle limit). */
  idleMs?: number;
}

/** The link failed (could not open, timed out, closed): the server could not be asked. */
export class LinkError extends Error {
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

/** The server answered the request with an error. */
export class LinkRefusal extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

const DEFAULT_IDLE_MS = 30_000;
/** A status line and a few headers; anything longer is not our server. */
const MAX_UPGRADE_ANSWER_BYTES = 4096;

export class BlockLinks {
  private readonly open: ClientLink[] = [];
  private closed = false;

  constructor(private readonly opts: BlockLinksOptions) {}

  async put(hash: string, bytes: Buffer, sync: boolean, crc32c: number): Promise<void> {
    const flags = (sync ? PUT_SYNC : 0) | PUT_HAS_CRC;
    await this.send(OP_PUT, flags, hash, crc32c, bytes);
  }

  /** The block's bytes as the server read them; into one of `buffers` when it is exactly their size. */
  get(hash: string, check: boolean, buffers?: BufferPool): Promise<Buffer> {
    return this.send(OP_GET, check ? GET_CHECK : 0, hash, 0, undefined, buffers);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const link of this.open.splice(0)) link.destroy(new LinkError('client closed', false));
  }

  /** Block calls are idempotent (a block is named by its bytes): one lost to a dropped link is sent once more. */
  private async send(op: number, flags: number, hash: string, crc32c: number, body?: Buffer, buffers?: BufferPool): Promise<Buffer> {
    try {
      return await this.pick().request(op, flags, hash, crc32c, body, buffers);
    } catch (err) {
      if (!(err instanceof LinkError) || !err.retryable || this.closed) throw err;
      return this.pick().request(op, flags, hash, crc32c, body, buffers);
    }
  }

  /** The least busy link; a new one while every link is busy and there is room. */
  private pick(): ClientLink {
    if (this.closed) throw new LinkError('client closed', false);
    let best: ClientLink | undefined;
    for (const link of this.open) if (!best || link.outstanding < best.outstanding) best = link;
    if (best && (best.outstanding === 0 || this.open.length >= this.opts.links)) return best;
    const link = new ClientLink(this.opts, () => {
      const i = this.open.indexOf(link);
      if (i >= 0) this.open.splice(i, 1);
    });
    this.open.push(link);
    return link;
  }
}

interface Pending {
  resolve: (b: Buffer) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
  buffers?: BufferPool;
}

class ClientLink {
  private readonly socket: Socket;
  private readonly pending = new Map<number, Pending>();
  private readonly queue = new ChunkQueue();
  private nextId = 0;
  private upgraded = false;
  /** Requests written before the 101 arrives go out behind the upgrade request: the server reads them after switching. */
  private answer: { header: AnswerHeader; body: Buffer; filled: number; to: Pending | undefined } | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null;
  private failed: LinkError | null = null;
  /** Has answered at least once: a link that drops after that was most likely closed while idle. */
  private answered = false;

  constructor(private readonly opts: BlockLinksOptions, private readonly onGone: () => void) {
    this.socket = opts.socketPath ? connect({ path: opts.socketPath }) : connect(tcpTarget(opts.url));
    this.socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => this.destroy(new LinkError(`no block link within ${opts.connectTimeoutMs} ms`, false)), opts.connectTimeoutMs);
    this.connectTimer.unref();
    this.socket.write(
      `GET ${BLOCK_LINK_PATH} HTTP/1.1\r\nhost: quorumfs\r\nauthorization: ${opts.auth}\r\nconnection: upgrade\r\nupgrade: ${BLOCK_LINK_PROTOCOL}\r\n\r\n`,
    );
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.destroy(new LinkError(err.code ?? err.message, this.answered)));
    this.socket.on('close', () => this.destroy(new LinkError('connection closed', this.answered)));
  }

  get outstanding(): number {
    return this.pending.size;
  }

  request(op: number, flags: number, hash: string, crc32c: number, body: Buffer | undefined, buffers: BufferPool | undefined): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId;
    this.nextId = (this.nextId + 1) % LINK_FAILURE_ID;
    const header = encodeRequestHeader({ length: body?.length ?? 0, id, op, flags, crc32c, hash });
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => this.destroy(new LinkError(`no answer within ${this.opts.requestTimeoutMs} ms`, false)), this.opts.requestTimeoutMs);
      this.pending.set(id, { resolve, reject, timer, buffers });
      this.socket.cork();
      this.socket.write(header);
      if (body && body.length > 0) this.socket.write(body);
      this.socket.uncork();
    });
  }

  destroy(err: LinkError): void {
    if (this.failed) return;
    this.failed = err;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.socket.destroy();
    this.onGone();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }

  private onData(chunk: Buffer): void {
    this.queue.push(chunk);
    if (!this.upgraded && !this.readUpgradeAnswer()) return;
    while (!this.failed) {
      if (!this.answer) {
        if (this.queue.size < ANSWER_HEADER_BYTES) return;
        const header = decodeAnswerHeader(this.queue.take(ANSWER_HEADER_BYTES));
        const to = this.pending.get(header.id);
        const whole = to?.buffers && header.status === STATUS_DONE && header.length === to.buffers.bytes;
        this.answer = { header, body: whole ? to.buffers!.take() : Buffer.allocUnsafe(header.length), filled: 0, to };
      }
      const a = this.answer;
      a.filled += this.queue.copyInto(a.body, a.filled, a.body.length - a.filled);
      if (a.filled < a.body.length) return;
      this.answer = null;
      this.settle(a.header, a.body, a.to);
    }
  }

  private settle(header: AnswerHeader, body: Buffer, to: Pending | undefined): void {
    if (header.id === LINK_FAILURE_ID) {
      const e = parseError(body);
      this.destroy(new LinkError(`link refused by the server: ${e.message}`, false));
      return;
    }
    // An id we no longer wait for cannot happen (a timeout ends the whole link); dropped if it does.
    if (!to) return;
    this.answered = true;
    this.pending.delete(header.id);
    clearTimeout(to.timer);
    if (header.status === STATUS_DONE) to.resolve(body);
    else {
      const e = parseError(body);
      to.reject(new LinkRefusal(e.code, e.message));
    }
    if (this.pending.size === 0) {
      this.idleTimer = setTimeout(() => this.destroy(new LinkError('idle', false)), this.opts.idleMs ?? DEFAULT_IDLE_MS);
      this.idleTimer.unref();
    }
  }

  /** True once the server's 101 has been read off the queue; a refusal ends the link. */
  private readUpgradeAnswer(): boolean {
    const peek = this.queue.take(this.queue.size);
    const end = peek.indexOf('\r\n\r\n');
    if (end < 0) {
      if (peek.length > MAX_UPGRADE_ANSWER_BYTES) this.destroy(new LinkError('not a QuorumFS data server (no upgrade answer)', false));
      else this.queue.push(Buffer.from(peek));
      return false;
    }
    const statusLine = peek.toString('latin1', 0, Math.min(end, peek.indexOf('\r\n')));
    if (!/^HTTP\/1\.1 101 /.test(statusLine)) {
      this.destroy(new LinkError(`block link refused: ${statusLine.slice(0, 120)}`, false));
      return false;
    }
    this.upgraded = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.queue.push(peek.subarray(end + 4));
    return true;
  }
}

function parseError(body: Buffer): FrameError {
  try {
    const e = JSON.parse(body.toString('utf8')) as Partial<FrameError>;
    return { code: typeof e.code === 'string' ? e.code : 'EIO', message: typeof e.message === 'string' ? e.message : 'failed' };
  } catch {
    return { code: 'EIO', message: 'unreadable error answer' };
  }
}

function tcpTarget(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
}
