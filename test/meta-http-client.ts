// Test-only MetaApi over HTTP, so the conformance suite can run through the real server process.
// (The production client is src/client/meta-client.ts.)
import { Agent, request } from 'undici';
import { FsError, type ErrnoCode } from '../src/common/errors.js';
import { META_METHODS, type IntegrityReport, type MetaApi } from '../src/meta/api.js';

export interface RawAnswer {
  status: number;
  body: { result?: unknown; error?: { code: string; message: string }; ok?: boolean };
}

export class TestMetaClient {
  readonly api: MetaApi;
  private readonly agent = new Agent({ keepAliveTimeout: 10_000 });

  constructor(readonly url: string, private readonly secret: string | null) {
    const api: Record<string, (a: unknown) => Promise<unknown>> = {};
    for (const m of META_METHODS) api[m] = (a) => this.call(`/v1/meta/${m}`, a ?? {});
    this.api = api as unknown as MetaApi;
  }

  /** Sends a request as is (raw body, optional other secret) and returns status and parsed body. */
  async raw(method: 'GET' | 'POST', path: string, body?: string, secret: string | null = this.secret): Promise<RawAnswer> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (secret !== null) headers.authorization = `Bearer ${secret}`;
    const res = await request(this.url + path, { method, body, headers, dispatcher: this.agent });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : {} };
  }

  async call(path: string, args: unknown, method: 'GET' | 'POST' = 'POST'): Promise<unknown> {
    const r = await this.raw(method, path, method === 'POST' ? JSON.stringify(args) : undefined);
    if (r.body.error) throw new FsError(r.body.error.code as ErrnoCode, r.body.error.message);
    if (r.status !== 200) throw new Error(`HTTP ${r.status} without an error body`);
    return r.body.result;
  }

  integrity(): Promise<IntegrityReport> {
    return this.call('/v1/admin/integrity', undefined, 'GET') as Promise<IntegrityReport>;
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}
