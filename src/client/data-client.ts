// HTTP client for one data server: a keep-alive connection pool and the block operations of
// src/common/protocol.ts. Errors come back as FsError-like values with an errno code, so the
// quorum logic can tell "missing" and "corrupt" (the copy is bad) from "unreachable" (the server is).
import { Pool, type Dispatcher } from 'undici';
import { authValue, CRC_HEADER, type DataServerHealth, type InventoryResult, type SyncResult } from '../common/protocol.js';
import { FsError, type ErrnoCode } from '../common/errors.js';
import { BlockLinks } from './block-link.js';
import { LinkError, LinkRefusal } from './link.js';
import { exchange, type Answer } from './http-exchange.js';
import type { BufferPool } from '../common/buffer-pool.js';

export interface DataClientOptions {
  index: number;
  url: string;
  secret: string;
  /** Bound on waiting for a response's headers and for each body chunk. */
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  connections: number;
  /** The server's Unix socket, when it is on this machine (src/common/local-socket.ts). */
  socketPath?: string;
  /**
   * Block uploads and fetches over block links (src/common/block-frames.ts) instead of HTTP;
   * default on, QUORUMFS_BLOCK_LINKS=0 turns it off.
   */
  blockLinks?: boolean;
}

/** Why a copy did not count: the copy itself is bad, or the server could not be asked. */
export type CopyFailure = 'missing' | 'corrupt' | 'unreachable' | 'refused';

export class DataServerError extends Error {
  constructor(readonly server: number, readonly failure: CopyFailure, message: string, readonly code: ErrnoCode | 'EBADMSG' = 'EIO') {
    super(message);
  }
}

export class DataClient {
  readonly index: number;
  readonly url: string;
  private readonly pool: Pool;
  private readonly auth: string;
  private readonly links: BlockLinks | null;

  constructor(opts: DataClientOptions) {
    this.index = opts.index;
    this.url = opts.url;
    this.auth = authValue(opts.secret);
    this.pool = new Pool(opts.url, {
      connections: opts.connections,
      pipelining: 1,
      connectTimeout: opts.connectTimeoutMs,
      headersTimeout: opts.requestTimeoutMs,
      bodyTimeout: opts.requestTimeoutMs,
      keepAliveTimeout: 60_000,
      ...(opts.socketPath ? { socketPath: opts.socketPath } : {}),
    });
    const useLinks = (opts.blockLinks ?? true) && process.env.QUORUMFS_BLOCK_LINKS !== '0';
    this.links = useLinks
      ? new BlockLinks({
        url: opts.url, socketPath: opts.socketPath, auth: this.auth, connectTimeoutMs: opts.connectTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs, links: opts.connections,
      })
      : null;
  }

  /** crc32: the bytes' transfer checksum (hash.ts), computed when they were named. */
  async putBlock(hash: string, bytes: Buffer, sync: boolean, crc32: number): Promise<void> {
    await this.viaLink('PUT', (l) => l.put(hash, bytes, sync, crc32), async () => {
      await this.call('PUT', `/v1/blocks/${hash}${sync ? '?sync=1' : ''}`, bytes, 'application/octet-stream', undefined, { [CRC_HEADER]: String(crc32) });
    });
  }

  async sync(hashes: string[]): Promise<SyncResult> {
    return (await this.json('POST', '/v1/sync', { blocks: hashes })) as SyncResult;
  }

  /**
   * The block's bytes as the server read them, not hashed there: the caller must hash them, and on
   * a mismatch call verify() so the server quarantines its copy. A whole block's bytes land in a
   * buffer of `buffers` when given (the caller then decides when it is given back).
   */
  async getBlock(hash: string, buffers?: BufferPool): Promise<Buffer> {
    return this.viaLink('GET', (l) => l.get(hash, false, buffers), () => this.call('GET', `/v1/blocks/${hash}?check=0`, undefined, undefined, buffers));
  }

  /** Digest confirmation: the server re-hashes its own copy from disk. */
  async verify(hash: string): Promise<number> {
    return ((await this.json('POST', `/v1/blocks/${hash}/verify`)) as { size: number }).size;
  }

  async deleteBlock(hash: string): Promise<boolean> {
    return ((await this.json('DELETE', `/v1/blocks/${hash}`)) as { deleted: boolean }).deleted;
  }

  async inventory(): Promise<InventoryResult> {
    return (await this.json('GET', '/v1/inventory')) as InventoryResult;
  }

  async health(): Promise<DataServerHealth> {
    return (await this.json('GET', '/v1/health')) as DataServerHealth;
  }

  async close(): Promise<void> {
    await this.links?.close();
    await this.pool.destroy();
  }

  /** Over a block link while the server accepts them; over HTTP without links, or once it has refused them as unknown (an older server). */
  private async viaLink<T>(what: string, send: (links: BlockLinks) => Promise<T>, http: () => Promise<T>): Promise<T> {
    const links = this.links;
    if (!links || links.unsupported) return http();
    try {
      return await send(links);
    } catch (err) {
      if (err instanceof LinkRefusal) throw this.refusal(what, 0, err.code, err.message);
      if (err instanceof LinkError && err.unsupported) return http();
      throw new DataServerError(this.index, 'unreachable', `server ${this.index} unreachable: ${describe(err)}`);
    }
  }

  private async json(method: Dispatcher.HttpMethod, path: string, body?: unknown): Promise<unknown> {
    const raw = await this.call(method, path, body === undefined ? undefined : Buffer.from(JSON.stringify(body)), 'application/json');
    return raw.length ? JSON.parse(raw.toString('utf8')) : {};
  }

  private async call(method: Dispatcher.HttpMethod, path: string, body?: Buffer, contentType?: string, buffers?: BufferPool, extra?: Record<string, string>): Promise<Buffer> {
    let res: Answer;
    try {
      res = await exchange(this.pool, {
        method,
        path,
        body,
        headers: { authorization: this.auth, ...(contentType && body ? { 'content-type': contentType } : {}), ...extra },
      }, buffers);
    } catch (err) {
      throw new DataServerError(this.index, 'unreachable', `server ${this.index} unreachable: ${describe(err)}`);
    }
    const data = res.body;
    if (res.statusCode >= 200 && res.statusCode < 300) return data;
    let code = 'EIO';
    let message = `HTTP ${res.statusCode}`;
    try {
      const e = (JSON.parse(data.toString('utf8')) as { error?: { code?: string; message?: string } }).error;
      code = e?.code ?? code;
      message = e?.message ?? message;
    } catch {
      // Not our server's error body; keep the status line.
    }
    throw this.refusal(`${method} ${path.split('?')[0]}`, res.statusCode, code, message);
  }

  /** status: the HTTP status, 0 over a block link (whose answers carry the errno code alone). */
  private refusal(what: string, status: number, code: string, message: string): DataServerError {
    if ((status === 404 || status === 0) && code === 'ENOENT') return new DataServerError(this.index, 'missing', `server ${this.index}: block missing`, 'ENOENT');
    if ((status === 409 || status === 0) && code === 'EBADMSG') return new DataServerError(this.index, 'corrupt', `server ${this.index}: copy corrupt (${message})`, 'EBADMSG');
    if (code === 'ENOSPC') return new DataServerError(this.index, 'refused', `server ${this.index}: disk full`, 'ENOSPC');
    return new DataServerError(this.index, 'refused', `server ${this.index} refused ${what}: ${code} ${message}`, code as ErrnoCode);
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ?? e?.message ?? String(err);
}

/** Thrown by the mediator to the application: always an EIO with the reason spelled out. */
export function quorumError(message: string): FsError {
  return new FsError('EIO', message);
}
