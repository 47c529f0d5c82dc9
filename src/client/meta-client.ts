// Remote MetaApi: each method is POST /v1/meta/<method> on the metadata server. Admin calls used
// by the CLI (format, membership, integrity) live here too so there is one HTTP path to the server.
import { Pool } from 'undici';
import { authValue } from '../common/protocol.js';
import { FsError, type ErrnoCode } from '../common/errors.js';
import { META_METHODS, type MetaApi, type ServerInfo, type IntegrityReport, type BlockFault } from '../meta/api.js';
import type { ClusterConfig } from '../common/config.js';
import { exchange, type Answer } from './http-exchange.js';
import { LinkError, LinkRefusal, Links } from './link.js';
import { META_LINK_PATH, META_LINK_PROTOCOL, encodeMetaRequest } from '../common/meta-frames.js';
import { CLIENT_HEADER, EPOCH_HEADER, EXACT_HEADER, SEQ_HEADER } from '../meta/changes.js';
import type { PollAnswer } from '../meta/change-feed.js';

export interface MetaClientOptions {
  url: string;
  secret: string;
  requestTimeoutMs?: number;
  connections?: number;
  /** Names this client to the server's change feed (a caching client); its own changes do not wait for it. */
  clientId?: string;
  /** The server's Unix socket, when it is on this machine (src/common/local-socket.ts). */
  socketPath?: string;
  /**
   * MetaApi calls over metadata links (src/common/meta-frames.ts) instead of HTTP; default on,
   * QUORUMFS_META_LINKS=0 turns it off. Admin calls and change polls stay on HTTP.
   */
  metaLinks?: boolean;
}

/** Links opened at most: each carries many calls at once, and the server runs them on one thread anyway. */
const META_LINKS = 2;

/** An answer with the change sequence number it is at least as new as (see src/meta/change-feed.ts). */
export interface Stamped<T> {
  result: T;
  seq: number;
  epoch: string | null;
  /** A change's answer that is the state at exactly `seq` (EXACT_HEADER): its maker may cache it. */
  exact: boolean;
}

export class MetaClient {
  readonly url: string;
  readonly api: MetaApi;
  private readonly pool: Pool;
  private readonly headers: Record<string, string>;
  private readonly links: Links | null;

  constructor(opts: MetaClientOptions) {
    this.url = opts.url;
    this.headers = { authorization: authValue(opts.secret), ...(opts.clientId ? { [CLIENT_HEADER]: opts.clientId } : {}) };
    const timeout = opts.requestTimeoutMs ?? 30_000;
    this.pool = new Pool(opts.url, {
      connections: opts.connections ?? 16,
      connectTimeout: 3_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      keepAliveTimeout: 60_000,
      ...(opts.socketPath ? { socketPath: opts.socketPath } : {}),
    });
    const useLinks = (opts.metaLinks ?? true) && process.env.QUORUMFS_META_LINKS !== '0';
    this.links = useLinks
      ? new Links({
        url: opts.url, socketPath: opts.socketPath, path: META_LINK_PATH, protocol: META_LINK_PROTOCOL, headers: this.headers,
        connectTimeoutMs: 3_000, requestTimeoutMs: timeout, links: META_LINKS,
      })
      : null;
    const api: Record<string, (args: unknown) => Promise<unknown>> = {};
    for (const m of META_METHODS) api[m] = async (args: unknown) => (await this.call(m, args as never)).result;
    this.api = api as unknown as MetaApi;
  }

  /** A MetaApi call with the sequence stamp of its answer. */
  call<M extends keyof MetaApi>(method: M, args: Parameters<MetaApi[M]>[0]): Promise<Stamped<Awaited<ReturnType<MetaApi[M]>>>> {
    if (this.links && !this.links.unsupported) return this.linked(method, JSON.stringify(args ?? {})) as Promise<Stamped<Awaited<ReturnType<MetaApi[M]>>>>;
    return this.send('POST', `/v1/meta/${method}`, JSON.stringify(args ?? {})) as Promise<Stamped<Awaited<ReturnType<MetaApi[M]>>>>;
  }

  /**
   * One long poll of the change feed: the changes after `since`, waiting up to waitMs for one.
   * delegate: ask for (or keep) the unlink delegation; without it a held one is released.
   */
  async watch(since: number | null, epoch: string | null, waitMs: number, delegate = false): Promise<PollAnswer> {
    const q = new URLSearchParams({ waitMs: String(waitMs) });
    if (delegate) q.set('delegate', '1');
    if (since !== null) q.set('since', String(since));
    if (epoch !== null) q.set('epoch', epoch);
    return (await this.get(`/v1/watch?${q}`)) as PollAnswer;
  }

  format(config: ClusterConfig): Promise<unknown> {
    return this.post('/v1/admin/format', { config });
  }

  setServers(servers: ServerInfo[]): Promise<unknown> {
    return this.post('/v1/admin/servers', { servers });
  }

  async listBlocks(): Promise<Array<{ hash: string; refs: number; size: number }>> {
    return (await this.get('/v1/admin/blocks')) as Array<{ hash: string; refs: number; size: number }>;
  }

  async listFaults(limit = 1000): Promise<BlockFault[]> {
    return (await this.get(`/v1/admin/faults?limit=${limit}`)) as BlockFault[];
  }

  async integrity(): Promise<IntegrityReport> {
    return (await this.get('/v1/admin/integrity')) as IntegrityReport;
  }

  async close(): Promise<void> {
    await this.links?.close();
    await this.pool.destroy();
  }

  /** Not retried on a dropped link, as undici does not retry a POST: a create may have been made. */
  private async linked(method: string, argsJson: string): Promise<Stamped<unknown>> {
    let body: Buffer;
    try {
      body = await this.links!.send(encodeMetaRequest(method, argsJson), undefined);
    } catch (err) {
      if (err instanceof LinkRefusal) throw new FsError(err.code as ErrnoCode, err.message);
      // A server that predates links (or has them off) refuses the opening as an unknown route.
      if (err instanceof LinkError && err.unsupported) return this.send('POST', `/v1/meta/${method}`, argsJson);
      throw new FsError('EIO', `metadata server ${this.url} unreachable: ${(err as Error).message}`);
    }
    let a: Partial<Stamped<unknown>>;
    try {
      a = JSON.parse(body.toString('utf8')) as Partial<Stamped<unknown>>;
    } catch {
      throw new FsError('EIO', 'metadata server answered with a body that is not JSON');
    }
    return { result: a.result, seq: typeof a.seq === 'number' ? a.seq : -1, epoch: typeof a.epoch === 'string' ? a.epoch : null, exact: a.exact === true };
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    return (await this.send('POST', path, JSON.stringify(body))).result;
  }

  private async get(path: string): Promise<unknown> {
    return (await this.send('GET', path)).result;
  }

  private async send(method: 'GET' | 'POST', path: string, body?: string): Promise<Stamped<unknown>> {
    let res: Answer;
    try {
      res = await exchange(this.pool, {
        method,
        path,
        body,
        headers: body !== undefined ? { ...this.headers, 'content-type': 'application/json' } : this.headers,
      });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      throw new FsError('EIO', `metadata server ${this.url} unreachable: ${e?.code ?? e?.message ?? String(err)}`);
    }
    const text = res.body.toString('utf8');
    let parsed: { result?: unknown; error?: { code?: string; message?: string } } = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new FsError('EIO', `metadata server answered HTTP ${res.statusCode} with a body that is not JSON`);
    }
    // Method calls answer { result }; admin endpoints may answer the object itself.
    if (res.statusCode >= 200 && res.statusCode < 300) {
      const seq = Number(res.headers[SEQ_HEADER] ?? NaN);
      const epoch = res.headers[EPOCH_HEADER];
      return {
        result: 'result' in parsed ? parsed.result : parsed,
        seq: Number.isFinite(seq) ? seq : -1,
        epoch: typeof epoch === 'string' ? epoch : null,
        exact: res.headers[EXACT_HEADER] === '1',
      };
    }
    const code = (parsed.error?.code ?? 'EIO') as ErrnoCode;
    throw new FsError(code, parsed.error?.message ?? `metadata server answered HTTP ${res.statusCode}`);
  }
}
