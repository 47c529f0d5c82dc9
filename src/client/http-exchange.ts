// One HTTP exchange on an undici pool through its dispatch API, with the whole answer in one
// buffer. undici's request() wraps every answer in a Readable stream that the caller then drains;
// on the client's hot paths (a metadata call per file operation, a block fetch per MiB read) that
// stream was measurable CPU: a bare health check cost the client 80-89 us with request() and
// 44-74 us here. The body goes straight into a buffer of its Content-Length (every answer of ours
// has one), so a block is copied once out of the socket's chunks and never concatenated.
import type { Dispatcher } from 'undici';
import type { BufferPool } from '../common/buffer-pool.js';

export interface Exchange {
  method: Dispatcher.HttpMethod;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string;
}

export interface Answer {
  statusCode: number;
  /** Lower-case names, as undici gives them. */
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/**
 * Resolves with the complete answer; rejects with undici's error (connect, timeout, reset...).
 * A body exactly the size of `buffers`' buffers is received into one of them.
 */
export function exchange(pool: Dispatcher, req: Exchange, buffers?: BufferPool): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const collector = new Collector(resolve, reject, buffers);
    try {
      pool.dispatch({ method: req.method, path: req.path, headers: req.headers, body: req.body }, collector);
    } catch (err) {
      reject(err);
    }
  });
}

class Collector implements Dispatcher.DispatchHandler {
  private statusCode = 0;
  private headers: Record<string, string | string[] | undefined> = {};
  /** Sized by Content-Length; chunks are kept instead when there is none (or it was wrong). */
  private buf: Buffer | null = null;
  private filled = 0;
  private chunks: Buffer[] | null = null;

  constructor(private readonly resolve: (a: Answer) => void, private readonly reject: (err: Error) => void, private readonly buffers?: BufferPool) {}

  // Its presence is how undici tells this controller-style handler from the legacy kind.
  onRequestStart(): void {}

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[] | undefined>): void {
    // Called again after a 1xx answer: only the last start counts.
    this.statusCode = statusCode;
    this.headers = headers;
    this.filled = 0;
    const length = Number(headers['content-length']);
    // allocUnsafe: small answers (most metadata calls) come from Node's shared slab, not a malloc each.
    if (!Number.isSafeInteger(length) || length < 0) this.buf = null;
    else this.buf = length === this.buffers?.bytes ? this.buffers.take() : Buffer.allocUnsafe(length);
    this.chunks = this.buf ? null : [];
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.buf && this.filled + chunk.length <= this.buf.length) {
      chunk.copy(this.buf, this.filled);
      this.filled += chunk.length;
      return;
    }
    if (!this.chunks) this.chunks = this.buf ? [this.buf.subarray(0, this.filled)] : [];
    this.buf = null;
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    const body = this.buf ? this.buf.subarray(0, this.filled) : Buffer.concat(this.chunks ?? []);
    this.resolve({ statusCode: this.statusCode, headers: this.headers, body });
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.reject(err);
  }
}
