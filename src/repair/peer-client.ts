// The metadata server's HTTP calls to data servers: fetch orders to the server that lacks a block,
// digest checks, deletes for garbage collection, inventories for reconciliation. One undici Agent
// pools keep-alive connections per server.
import { Agent } from 'undici';
import { authValue, type InventoryResult } from '../common/protocol.js';
import type { FetchOutcome } from '../dataserver/peer-fetch.js';

/** verify and delete touch one block on one disk. */
const SHORT_TIMEOUT_MS = 10_000;
/** A fetch is one block over the network plus an fsync on the target: generous for 64 MiB blocks. */
const FETCH_TIMEOUT_MS = 60_000;
/** An inventory of a million blocks is ~70 MB of JSON. */
const INVENTORY_TIMEOUT_MS = 120_000;

/** Why a call failed: the copy (missing, corrupt) or the server (unreachable, refused). */
export type PeerFailure = 'missing' | 'corrupt' | 'unreachable' | 'refused';

export class PeerError extends Error {
  /** For 'unreachable': the network error's code (ECONNREFUSED, UND_ERR_HEADERS_TIMEOUT...). */
  readonly netCode: string | undefined;

  constructor(readonly failure: PeerFailure, message: string, netCode?: string) {
    super(message);
    this.netCode = netCode;
  }
}

/**
 * Network failures after which the server cannot still carry the request out: it was never
 * delivered, or the connection is gone (a process that died, a socket closed). A timeout is not
 * among them: the server may be stopped or slow and get to the request later.
 */
const FINAL_NET_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'UND_ERR_CONNECT_TIMEOUT', 'ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** Whether a failed call may still be carried out by the server later. */
export function mayStillHappen(err: unknown): boolean {
  if (!(err instanceof PeerError)) return true;
  if (err.failure !== 'unreachable') return false;
  return err.netCode === undefined || !FINAL_NET_CODES.has(err.netCode);
}

export class PeerClient {
  private readonly agent: Agent;
  private readonly auth: string;

  constructor(secret: string) {
    this.auth = authValue(secret);
    this.agent = new Agent({ connections: 16, connectTimeout: 3_000, keepAliveTimeout: 30_000 });
  }

  async verify(url: string, hash: string): Promise<number> {
    return ((await this.json(url, 'POST', `/v1/blocks/${hash}/verify`, undefined, SHORT_TIMEOUT_MS)) as { size: number }).size;
  }

  /** Orders the server at url to pull hash from the first of `from` (other holders, in order) that has a good copy. */
  async fetch(url: string, hash: string, from: string[]): Promise<FetchOutcome> {
    return (await this.json(url, 'POST', `/v1/blocks/${hash}/fetch`, { from }, FETCH_TIMEOUT_MS)) as FetchOutcome;
  }

  /** Refused by the server if it gets to it at or after beforeMs (see GarbageCollector.sendDeletes). */
  async delete(url: string, hash: string, beforeMs: number): Promise<boolean> {
    return ((await this.json(url, 'DELETE', `/v1/blocks/${hash}?before=${beforeMs}`, undefined, SHORT_TIMEOUT_MS)) as { deleted: boolean }).deleted;
  }

  async inventory(url: string): Promise<InventoryResult> {
    return (await this.json(url, 'GET', '/v1/inventory', undefined, INVENTORY_TIMEOUT_MS)) as InventoryResult;
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async json(url: string, method: 'GET' | 'POST' | 'DELETE', path: string, body: unknown, timeoutMs: number): Promise<unknown> {
    let res;
    try {
      res = await this.agent.request({
        origin: url,
        method,
        path,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: { authorization: this.auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
    } catch (err) {
      throw new PeerError('unreachable', `${url} unreachable: ${describe(err)}`, (err as { code?: string })?.code);
    }
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw new PeerError('unreachable', `${url} dropped the response: ${describe(err)}`, (err as { code?: string })?.code);
    }
    if (res.statusCode >= 200 && res.statusCode < 300) return text ? JSON.parse(text) : {};
    let code = 'EIO';
    let message = `HTTP ${res.statusCode}`;
    try {
      const e = (JSON.parse(text) as { error?: { code?: string; message?: string } }).error;
      code = e?.code ?? code;
      message = e?.message ?? message;
    } catch {
      // not a data server's error body
    }
    if (res.statusCode === 404 && code === 'ENOENT') throw new PeerError('missing', `${url}: block missing`);
    if (res.statusCode === 409 && code === 'EBADMSG') throw new PeerError('corrupt', `${url}: copy corrupt`);
    throw new PeerError('refused', `${url} refused ${method} ${path}: ${code} ${message}`);
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ?? e?.message ?? String(err);
}
