// HTTP front of the metadata store: POST /v1/meta/<method> for clients, /v1/admin/* for the CLI.
// Every request is authenticated before its body is read; every body is validated before the store
// sees it. Answers are { result } or { error: { code, message } } (src/common/protocol.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { checkAuth } from '../common/auth.js';
import { FsError, toFsError } from '../common/errors.js';
import { readJson, sendError, sendJson } from '../common/http-server.js';
import type { Logger } from '../common/log.js';
import type { MetaStore } from './api.js';
import { ADMIN_SCHEMAS, META_ARG_SCHEMAS, isMetaMethod, parseArgs, type MetaMethod } from './arg-schemas.js';
import { ChangeFeed } from './change-feed.js';
import { CLIENT_HEADER, EPOCH_HEADER, EXACT_HEADER, SEQ_HEADER, changeOf } from './changes.js';
import { MetaLinkServer, type MethodAnswer } from './meta-link.js';

/**
 * A commit carries its whole block list as hex (~70 bytes per block with its size entry): 64 MiB
 * covers files of about a million blocks (1 TiB at 1 MiB blocks).
 */
export const MAX_META_BODY_BYTES = 64 * 1024 * 1024;
const DEFAULT_FAULTS_LIMIT = 1000;
const MAX_FAULTS_LIMIT = 100_000;
/** Longest a change poll is held open; clients ask for less (a quarter of the lease). */
const MAX_POLL_WAIT_MS = 25_000;
/** Calls that neither read nor change the namespace: they do not recall an unlink delegation (change-feed.ts). */
const BLIND_METHODS: ReadonlySet<string> = new Set(['getCluster', 'reserveBlocks', 'reportFaults', 'sync']);
/** Client ids are ours (random UUIDs); anything longer is not a client of ours. */
const MAX_CLIENT_ID_CHARS = 64;

export type Handler = (req: IncomingMessage, url: URL) => Promise<unknown>;
export type AdminEndpoints = Record<string, { method: 'GET' | 'POST'; run: Handler }>;

/** extraAdmin: endpoints added by the self-healing engine (heartbeat, status). */
export function createMetaHandler(store: MetaStore, opts: { secret: string; logger: Logger; extraAdmin?: AdminEndpoints; feed?: ChangeFeed }) {
  const log = opts.logger;
  const feed = opts.feed ?? new ChangeFeed();
  const admin: AdminEndpoints = {
    ...opts.extraAdmin,
    // Long poll for namespace changes: how mounts keep their metadata caches exact (change-feed.ts).
    '/v1/watch': {
      method: 'GET',
      run: async (req, url) => {
        const client = clientOf(req);
        if (!client) throw new FsError('EINVAL', `a watch needs the ${CLIENT_HEADER} header`);
        const since = url.searchParams.get('since');
        const wait = Number(url.searchParams.get('waitMs') ?? 0);
        if (since !== null && !/^\d{1,15}$/.test(since)) throw new FsError('EINVAL', `since must be a whole number, got "${since}"`);
        if (!Number.isFinite(wait) || wait < 0) throw new FsError('EINVAL', 'waitMs must be a number of milliseconds');
        const want = url.searchParams.get('delegate') === '1';
        return feed.poll(client, since === null ? null : Number(since), url.searchParams.get('epoch'), Math.min(wait, MAX_POLL_WAIT_MS), want);
      },
    },
    '/v1/admin/format': {
      method: 'POST',
      run: async (req) => {
        const a = parseArgs('format', ADMIN_SCHEMAS.format, await readJson(req, MAX_META_BODY_BYTES));
        await store.format({ config: a.config as never });
        return store.getCluster({});
      },
    },
    '/v1/admin/servers': {
      method: 'POST',
      run: async (req) => store.setServers(parseArgs('servers', ADMIN_SCHEMAS.servers, await readJson(req, MAX_META_BODY_BYTES))),
    },
    '/v1/admin/blocks': { method: 'GET', run: async (req) => { await feed.beforeRequest(clientOf(req)); return store.listBlocks(); } },
    '/v1/admin/faults': { method: 'GET', run: async (_req, url) => store.listFaults({ limit: faultsLimit(url) }) },
    '/v1/admin/integrity': { method: 'GET', run: async (req) => { await feed.beforeRequest(clientOf(req)); return store.checkIntegrity(); } },
  };

  async function route(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (url.pathname === '/v1/health') {
      sendJson(res, 200, { ok: true });
      return;
    }
    if (url.pathname.startsWith('/v1/meta/')) {
      const name = url.pathname.slice('/v1/meta/'.length);
      if (!isMetaMethod(name)) throw new FsError('EINVAL', `unknown method "${name}"`);
      if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
      const answer = await callMethod(name, await readJson(req, MAX_META_BODY_BYTES), clientOf(req));
      if (answer.exact) res.setHeader(EXACT_HEADER, '1');
      res.setHeader(SEQ_HEADER, String(answer.seq));
      res.setHeader(EPOCH_HEADER, answer.epoch);
      sendJson(res, 200, { result: answer.result });
      return;
    }
    const ep = admin[url.pathname];
    if (!ep) throw new FsError('ENOENT', `no such endpoint: ${req.method} ${url.pathname}`);
    if (req.method !== ep.method) return methodNotAllowed(res, ep.method);
    sendJson(res, 200, { result: await ep.run(req, url) });
  }

  /** One MetaApi call, over HTTP or a metadata link (meta-link.ts): the arguments are validated here. */
  async function callMethod(name: MetaMethod, rawArgs: unknown, client: string | null): Promise<MethodAnswer> {
    const args = parseArgs(name, META_ARG_SCHEMAS[name], rawArgs);
    if (!BLIND_METHODS.has(name)) await feed.beforeRequest(client);
    // Unlinks answered under a delegation that has since lapsed (the holder stopped past its
    // lease): others may have read the names meanwhile, so they are refused, not made late.
    if (name === 'unlinkMany' && (args as { answered?: boolean }).answered && !feed.holds(client)) {
      throw new FsError('ESTALE', 'these unlinks were answered under an unlink delegation that has lapsed; not made');
    }
    const call = store[name] as (a: unknown) => Promise<unknown>;
    // Taken before the store is read: an answer is at least as new as this change (change-feed.ts).
    const before = feed.current();
    let seq = before;
    let exact = false;
    const result = await call.call(store, args);
    const change = changeOf(name, args as Record<string, unknown>);
    if (change) {
      seq = await feed.publish(change, client);
      // No other change was published between the store call and this one, so the answer is the
      // state at exactly seq: its maker may cache it (changes after it reach it through the feed).
      exact = seq === before + 1;
    }
    return { result, seq, epoch: feed.epoch, exact };
  }

  const links = new MetaLinkServer({ secret: opts.secret, logger: log, call: callMethod, clientOf });
  const handler = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = Date.now();
    if (!checkAuth(req.headers.authorization, opts.secret)) {
      // Close rather than drain: an unauthenticated client gets no help streaming a large body at us.
      res.setHeader('connection', 'close');
      sendError(res, new FsError('EACCES', 'missing or wrong cluster secret'));
      log.warn({ url: req.url, remote: req.socket.remoteAddress }, 'refused unauthenticated request');
      return;
    }
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://meta');
    } catch {
      sendError(res, new FsError('EINVAL', 'malformed request URL'));
      return;
    }
    try {
      await route(req, res, url);
      log.debug({ path: url.pathname, ms: Date.now() - started }, 'request');
    } catch (err) {
      const fe = toFsError(err);
      // Expected errnos (ENOENT...) are answers, not incidents; EIO means something is wrong here.
      if (fe.code === 'EIO') log.error({ path: url.pathname, err }, 'request failed');
      else log.debug({ path: url.pathname, code: fe.code, msg: fe.message }, 'request refused');
      if (!res.headersSent) sendError(res, fe);
      else res.destroy();
    }
  };
  // The HTTP server's 'upgrade' event: metadata links (meta-link.ts).
  return Object.assign(handler, { upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => links.upgrade(req, socket, head) });
}

export function clientOf(req: IncomingMessage): string | null {
  const v = req.headers[CLIENT_HEADER];
  return typeof v === 'string' && v.length > 0 && v.length <= MAX_CLIENT_ID_CHARS ? v : null;
}

function methodNotAllowed(res: ServerResponse, allowed: string): void {
  res.setHeader('allow', allowed);
  sendError(res, new FsError('EINVAL', `method not allowed; use ${allowed}`), 405);
}

function faultsLimit(url: URL): number {
  const raw = url.searchParams.get('limit');
  if (raw === null) return DEFAULT_FAULTS_LIMIT;
  if (!/^\d+$/.test(raw)) throw new FsError('EINVAL', `limit must be a whole number, got "${raw}"`);
  return Math.min(Number(raw), MAX_FAULTS_LIMIT);
}
