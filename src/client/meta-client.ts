// Remote MetaApi: each method is POST /v1/meta/<method> on the metadata server. Admin calls used
// by the CLI (format, membership, integrity) live here too so there is one HTTP path to the server.
import { Pool } from 'undici';
import { authValue } from '../common/protocol.js';
import { FsError, type ErrnoCode } from '../common/errors.js';
import { META_METHODS, type MetaApi, type ServerInfo, type IntegrityReport, type BlockFault } from '../meta/api.js';
import type { ClusterConfig } from '../common/config.js';

export interface MetaClientOptions {
  url: string;
  secret: string;
  requestTimeoutMs?: number;
  connections?: number;
}

export class MetaClient {
  readonly url: string;
  readonly api: MetaApi;
  private readonly pool: Pool;
  private readonly auth: string;

  constructor(opts: MetaClientOptions) {
    this.url = opts.url;
    this.auth = authValue(opts.secret);
    const timeout = opts.requestTimeoutMs ?? 30_000;
    this.pool = new Pool(opts.url, {
      connections: opts.connections ?? 16,
      connectTimeout: 3_000,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      keepAliveTimeout: 60_000,
    });
    const api: Record<string, (args: unknown) => Promise<unknown>> = {};
    for (const m of META_METHODS) api[m] = (args: unknown) => this.post(`/v1/meta/${m}`, args ?? {});
    this.api = api as unknown as MetaApi;
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
    await this.pool.destroy();
  }

  private post(path: string, body: unknown): Promise<unknown> {
    return this.send('POST', path, JSON.stringify(body));
  }

  private get(path: string): Promise<unknown> {
    return this.send('GET', path);
  }

  private async send(method: 'GET' | 'POST', path: string, body?: string): Promise<unknown> {
    let res;
    try {
      res = await this.pool.request({
        method,
        path,
        body,
        headers: { authorization: this.auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      throw new FsError('EIO', `metadata server ${this.url} unreachable: ${e?.code ?? e?.message ?? String(err)}`);
    }
    const text = await res.body.text();
    let parsed: { result?: unknown; error?: { code?: string; message?: string } } = {};
    try {
      parsed = text ? JSON.parse(text) : {};
    } catch {
      throw new FsError('EIO', `metadata server answered HTTP ${res.statusCode} with a body that is not JSON`);
    }
    // Method calls answer { result }; admin endpoints may answer the object itself.
    if (res.statusCode >= 200 && res.statusCode < 300) return 'result' in parsed ? parsed.result : parsed;
    const code = (parsed.error?.code ?? 'EIO') as ErrnoCode;
    throw new FsError(code, parsed.error?.message ?? `metadata server answered HTTP ${res.statusCode}`);
  }
}
