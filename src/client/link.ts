// The client's end of links (src/common/link-frames.ts) to one server: a few upgraded
// connections, each carrying many requests at once, matched to their answers by id.
import { connect, type Socket } from 'node:net';
import type { BufferPool } from '../common/buffer-pool.js';
import {
  ANSWER_HEADER_BYTES, ChunkQueue, LINK_FAILURE_ID, STATUS_DONE, decodeAnswerHeader, parseErrorBody, type AnswerHeader,
} from '../common/link-frames.js';

export interface LinksOptions {
  url: string;
  /** The server's Unix socket, when it is on this machine. */
  socketPath?: string;
  /** The opening request's path and protocol, and its headers (authorization...). */
  path: string;
  protocol: string;
  headers: Record<string, string>;
  connectTimeoutMs: number;
  /** Bound on each request, from sending it to the last byte of its answer. */
  requestTimeoutMs: number;
  /** Links opened at most; requests share them. */
  links: number;
  /** A link with nothing outstanding for this long is closed (well before the server's idle limit). */
  idleMs?: number;
}

/**
 * The link failed (could not open, timed out, closed): the server could not be asked. unsupported:
 * the server answered the opening with 404, as one that predates links (or has them turned off,
 * QUORUMFS_SERVE_LINKS=0) does; its clients then use HTTP.
 */
export class LinkError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly unsupported = false) {
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
/**
 * Each link reads into one buffer of this size, its own, rather than into a new 64 KiB buffer per
 * read as a socket does by default: a cold 512 MiB sequential read made 8,192 of those, garbage
 * whose external memory kept V8's concurrent marking busy on two threads (40% of a core).
 */
const READ_BUFFER_BYTES = 256 * 1024;
/** A status line and a few headers; anything longer is not our server. */
const MAX_UPGRADE_ANSWER_BYTES = 4096;

export class Links {
  private readonly open: ClientLink[] = [];
  private closed = false;
  /** The server refused an opening as an unknown route: it offers no links, and it is not asked again. */
  unsupported = false;

  constructor(private readonly opts: LinksOptions) {}

  /**
   * Sends one request: header (whose bytes 4..8 get the id), then body. The answer's body comes
   * back, in one of `buffers` when it is exactly their size. retryOnce: for an idempotent call,
   * one lost to a link that dropped after it had worked (most likely closed while idle) is sent
   * once more on a new link.
   */
  async send(header: Buffer, body: Buffer | undefined, opts: { buffers?: BufferPool; retryOnce?: boolean } = {}): Promise<Buffer> {
    try {
      return await this.pick().request(header, body, opts.buffers);
    } catch (err) {
      if (err instanceof LinkError && err.unsupported) this.unsupported = true;
      if (!opts.retryOnce || !(err instanceof LinkError) || !err.retryable || this.closed) throw err;
      return this.pick().request(header, body, opts.buffers);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const link of this.open.splice(0)) link.destroy(new LinkError('client closed', false));
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
  /** Requests written before the 101 arrives go out behind the upgrade request: the server reads them after switching. */
  private upgraded = false;
  /** The answer whose body is being received. */
  private answer: { header: AnswerHeader; body: Buffer; filled: number; to: Pending | undefined } | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private connectTimer: NodeJS.Timeout | null;
  private failed: LinkError | null = null;
  /** Has answered at least once: a link that drops after that was most likely closed while idle. */
  private answered = false;

  constructor(private readonly opts: LinksOptions, private readonly onGone: () => void) {
    // What is read is only valid during the callback: onData copies what it keeps (ChunkQueue.own).
    const onread = { buffer: Buffer.allocUnsafe(READ_BUFFER_BYTES), callback: (n: number, buf: Uint8Array) => this.onRead(buf as Buffer, n) };
    this.socket = opts.socketPath ? connect({ path: opts.socketPath, onread }) : connect({ ...tcpTarget(opts.url), onread });
    this.socket.setNoDelay(true);
    this.connectTimer = setTimeout(() => this.destroy(new LinkError(`no link within ${opts.connectTimeoutMs} ms`, false)), opts.connectTimeoutMs);
    this.connectTimer.unref();
    const headers = Object.entries(opts.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    this.socket.write(`GET ${opts.path} HTTP/1.1\r\nhost: quorumfs\r\n${headers}connection: upgrade\r\nupgrade: ${opts.protocol}\r\n\r\n`);
    this.socket.on('error', (err: NodeJS.ErrnoException) => this.destroy(new LinkError(err.code ?? err.message, this.answered)));
    this.socket.on('close', () => this.destroy(new LinkError('connection closed', this.answered)));
  }

  get outstanding(): number {
    return this.pending.size;
  }

  request(header: Buffer, body: Buffer | undefined, buffers: BufferPool | undefined): Promise<Buffer> {
    if (this.failed) return Promise.reject(this.failed);
    const id = this.nextId;
    this.nextId = (this.nextId + 1) % LINK_FAILURE_ID;
    header.writeUInt32LE(id, 4);
    if (this.idleTimer) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    if (this.pending.size === 0) this.socket.ref();
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

  /** A read into the link's own buffer: consumed at once, and what must wait for more is copied out. */
  private onRead(buf: Buffer, n: number): boolean {
    const chunk = buf.subarray(0, n);
    this.onData(chunk);
    this.queue.own(chunk);
    return true;
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
      const e = parseErrorBody(body);
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
      const e = parseErrorBody(body);
      to.reject(new LinkRefusal(e.code, e.message));
    }
    if (this.pending.size === 0) {
      // An idle link does not keep a process alive (as undici's idle sockets do not): a CLI
      // command ends when its work does, even if it never closes its clients.
      this.socket.unref();
      this.idleTimer = setTimeout(() => this.destroy(new LinkError('idle', false)), this.opts.idleMs ?? DEFAULT_IDLE_MS);
      this.idleTimer.unref();
    }
  }

  /** True once the server's 101 has been read off the queue; a refusal ends the link. */
  private readUpgradeAnswer(): boolean {
    const peek = this.queue.take(this.queue.size);
    const end = peek.indexOf('\r\n\r\n');
    if (end < 0) {
      if (peek.length > MAX_UPGRADE_ANSWER_BYTES) this.destroy(new LinkError('not a QuorumFS server (no upgrade answer)', false));
      else this.queue.push(Buffer.from(peek));
      return false;
    }
    const statusLine = peek.toString('latin1', 0, Math.min(end, peek.indexOf('\r\n')));
    if (!/^HTTP\/1\.1 101 /.test(statusLine)) {
      this.destroy(new LinkError(`link refused: ${statusLine.slice(0, 120)}`, false, /^HTTP\/1\.[01] 404 /.test(statusLine)));
      return false;
    }
    this.upgraded = true;
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    // A copy: peek may lie in the read buffer, which the next read overwrites.
    this.queue.push(Buffer.from(peek.subarray(end + 4)));
    return true;
  }
}

function tcpTarget(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
}
