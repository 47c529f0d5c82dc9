// /dev/fuse: one read(2) returns exactly one request, one write(2) delivers exactly one reply.
// Replies go out with writeSync (the device never blocks a writer). Requests come in through one
// of two sources:
//  - 'epoll': the fd is handed to libuv as a pipe (non-blocking, watched by epoll in the main loop),
//    so no thread ever sits blocked in read(2) and closing the handle aborts the connection;
//  - 'threadpool': a few loops of blocking fs.read, each holding a libuv threadpool thread. A
//    process cannot exit while one of them is blocked (libuv joins its threads at exit), so this
//    source is kept for comparison and for Node versions without the pipe binding.
import { closeSync, openSync, read, write, writeSync, writevSync } from 'node:fs';
import net from 'node:net';
import type { BufferPool } from '../../common/buffer-pool.js';

/** Called with each request; returns true if it keeps `buf` (the source then reads into another). */
export type RequestHandler = (buf: Buffer, len: number) => boolean;

export interface RequestSource {
  readonly kind: 'epoll' | 'threadpool';
  start(handler: RequestHandler): void;
  /** Resolves when reading stopped: null when the kernel ended the connection (unmount), else why. */
  readonly ended: Promise<Error | null>;
  /** Stops reading; closes the device if the source owns it (which aborts the connection). */
  stop(): void;
}

export class FuseDevice {
  private closed = false;

  private constructor(readonly fd: number) {}

  static open(): FuseDevice {
    return new FuseDevice(openSync('/dev/fuse', 'r+'));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Marks the fd as no longer ours (closed by its pipe handle); replies stop. */
  markClosed(): void {
    this.closed = true;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already gone
    }
  }

  /**
   * Writes one message. Returns false if the kernel no longer waits for it: ENOENT (the request
   * was interrupted and forgotten) or the connection is gone. Other errors mean a malformed reply.
   */
  write(buf: Buffer, len: number): boolean {
    return this.deliver(() => writeSync(this.fd, buf, 0, len));
  }

  /** write() of one message in pieces (writev(2): the kernel reads each in turn, no joining copy here). */
  writev(pieces: Buffer[]): boolean {
    return this.deliver(() => writevSync(this.fd, pieces));
  }

  private deliver(send: () => void): boolean {
    if (this.closed) return false;
    try {
      send();
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENODEV' || code === 'ECONNABORTED' || code === 'EBADF') return false;
      throw err;
    }
  }
}

/**
 * Writes a notification (a message the kernel did not ask for) from the thread pool. Not with
 * writeSync: an entry invalidation waits for the directory's lock, which a request we have not
 * answered yet may hold, and the main loop must stay free to answer it. Resolves false when the
 * kernel had nothing to forget (ENOENT) or the connection is gone.
 */
export function notifyDevice(dev: FuseDevice, buf: Buffer): Promise<boolean> {
  if (dev.isClosed) return Promise.resolve(false);
  return new Promise((resolve) => {
    write(dev.fd, buf, 0, buf.length, null, (err) => resolve(!err));
  });
}

interface PipeBinding {
  Pipe: new (type: number) => { open(fd: number): number };
  constants: { SOCKET: number };
}

function pipeBinding(): PipeBinding | null {
  try {
    // Node's own pipe wrapper: public net.Socket accepts it as a handle. process.binding is
    // deprecated in documentation only; without it we fall back to the threadpool source.
    const b = (process as unknown as { binding(name: string): unknown }).binding('pipe_wrap') as PipeBinding;
    return typeof b?.Pipe === 'function' ? b : null;
  } catch {
    return null;
  }
}

export function epollAvailable(): boolean {
  return pipeBinding() !== null;
}

/** Requests read in the main loop when epoll says the device is readable. */
export class EpollSource implements RequestSource {
  readonly kind = 'epoll' as const;
  readonly ended: Promise<Error | null>;
  private resolveEnded!: (e: Error | null) => void;
  private socket: net.Socket | null = null;
  private current: Buffer;

  constructor(private readonly dev: FuseDevice, private readonly pool: BufferPool) {
    this.ended = new Promise((r) => { this.resolveEnded = r; });
    this.current = pool.take();
  }

  start(handler: RequestHandler): void {
    const b = pipeBinding();
    if (!b) throw new Error('the pipe binding is not available');
    const handle = new b.Pipe(b.constants.SOCKET);
    const rc = handle.open(this.dev.fd);
    if (rc !== 0) throw new Error(`cannot watch /dev/fuse (uv error ${rc})`);
    const socket = new net.Socket({
      handle: handle as unknown as net.Socket,
      writable: false,
      onread: {
        buffer: () => this.current,
        callback: (n: number, buf: Uint8Array) => {
          if (handler(buf as Buffer, n)) this.current = this.pool.take();
          return true;
        },
      },
    } as net.SocketConstructorOpts);
    this.socket = socket;
    socket.on('error', (err: NodeJS.ErrnoException) => {
      this.resolveEnded(err.code === 'ENODEV' || err.code === 'ECONNABORTED' ? null : err);
      socket.destroy();
    });
    socket.on('end', () => this.resolveEnded(null));
    // The handle closes the fd; from then on the device must not be written to.
    socket.on('close', () => {
      this.dev.markClosed();
      this.resolveEnded(null);
    });
  }

  stop(): void {
    if (!this.socket) return this.dev.close();
    // Destroying the handle closes the fd right away (its 'close' event comes later).
    this.socket.destroy();
    this.dev.markClosed();
  }
}

/** Blocking reads, each in a libuv threadpool thread. */
export class ThreadpoolSource implements RequestSource {
  readonly kind = 'threadpool' as const;
  readonly ended: Promise<Error | null>;
  private resolveEnded!: (e: Error | null) => void;
  private stopped = false;
  private running = 0;
  private firstError: Error | null = null;

  constructor(private readonly dev: FuseDevice, private readonly pool: BufferPool, private readonly readers: number) {
    this.ended = new Promise((r) => { this.resolveEnded = r; });
  }

  start(handler: RequestHandler): void {
    for (let i = 0; i < this.readers; i++) this.loop(handler, this.pool.take());
  }

  private loop(handler: RequestHandler, initial: Buffer): void {
    this.running++;
    let buf = initial;
    const next = () => {
      if (this.stopped || this.dev.isClosed) return finish();
      read(this.dev.fd, buf, 0, buf.length, null, onRead);
    };
    const finish = () => {
      this.pool.give(buf);
      if (--this.running === 0) {
        this.stopped = true;
        this.resolveEnded(this.firstError);
      }
    };
    const onRead = (err: NodeJS.ErrnoException | null, n: number) => {
      if (err) {
        // Interrupted reads are restarted (libfuse does the same for ENOENT).
        if (err.code === 'EINTR' || err.code === 'EAGAIN' || err.code === 'ENOENT') return next();
        if (err.code !== 'ENODEV' && err.code !== 'ECONNABORTED' && err.code !== 'EBADF') this.firstError ??= err;
        this.stopped = true;
        return finish();
      }
      if (handler(buf, n)) buf = this.pool.take();
      next();
    };
    next();
  }

  stop(): void {
    // Blocked reads keep the device open until a request arrives or the connection goes (the
    // kernel aborts it when the last of them returns); they are not reissued.
    this.stopped = true;
    this.dev.close();
  }
}
