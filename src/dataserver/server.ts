import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { statfs } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import { checkAuth } from '../common/auth.js';
import { MAX_BLOCK_SIZE_BYTES } from '../common/config.js';
import { FsError } from '../common/errors.js';
import { BufferPool } from '../common/buffer-pool.js';
import { readBodyInto, readJson, sendError, sendJson } from '../common/http-server.js';
import type { Logger } from '../common/log.js';
import {
  AUTH_HEADER, BLOCK_NAME_RE, CRC_HEADER, LEGACY_CRC_HEADER, type DataServerHealth, type FetchResult, type InventoryResult, type PutBlockResult, type SyncResult, type VerifyResult,
} from '../common/protocol.js';
import { linksServed } from '../common/link-frames.js';
import { BlockLinkServer } from './block-link.js';
import type { BlockStore } from './block-store.js';
import { Semaphore } from './concurrency.js';
import { isCorruptBlockError, noteCorruptCopy } from './corrupt-block-error.js';
import { discardBody } from './discard-body.js';
import type { ServerIdentity } from './identity.js';
import { FETCH_BODY_LIMIT_BYTES, fetchRequestSchema, type PeerFetcher } from './peer-fetch.js';
import { isRejection, parseRoute, type Route } from './routes.js';

export interface DataServerContext {
  store: BlockStore;
  identity: ServerIdentity;
  /** Absolute data directory (reported in health, statfs'd for disk sizes). */
  dir: string;
  secret: string;
  blockSizeBytes: number;
  logger: Logger;
  startedAtMs: number;
  /** Serves POST /v1/blocks/<hash>/fetch (repair pulls a block from peers). */
  fetcher?: PeerFetcher;
  /** Told of every corrupt copy a request met (with --meta it reports it to the repair queue). */
  onCorrupt?: (hash: string) => void;
}

/** Names per POST /v1/sync; a client commits far fewer blocks than this at once. */
export const MAX_SYNC_BLOCKS = 16_384;
/** JSON of MAX_SYNC_BLOCKS names ("<64 hex>", each ~67 bytes) plus slack. */
const SYNC_BODY_LIMIT_BYTES = MAX_SYNC_BLOCKS * 70 + 1024;
/** Block bodies buffered at once are bounded by bytes, not by connections: 256 MiB in total. */
const BUFFERED_BODIES_LIMIT_BYTES = 256 * 1024 * 1024;
/**
 * Memory for idle body buffers kept for reuse: 16 of the default 1 MiB blocks, more than one
 * client keeps in flight; with blocks over 16 MiB nothing is kept (each body is a new buffer).
 */
const KEPT_BODY_BYTES = 16 * 1024 * 1024;
/** Bodies of requests answered without reading them are drained up to this much past one block. */
const DRAIN_SLACK_BYTES = 64 * 1024;
/**
 * An authenticated peer with a mismatched block size gets a clean 413 for bodies up to the largest
 * block size any cluster may use; a stranger's body is only drained up to one block.
 */
const AUTHENTICATED_DRAIN_CAP_BYTES = MAX_BLOCK_SIZE_BYTES + DRAIN_SLACK_BYTES;

export const KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** Longer than keep-alive, as Node requires for idle sockets to be reused safely. */
export const HEADERS_TIMEOUT_MS = 70_000;
/** A whole request, body included: 64 MiB at ~1 MB/s still fits. */
export const REQUEST_TIMEOUT_MS = 120_000;
/** A socket with no traffic at all for this long (e.g. a client that stopped reading) is dropped. */
export const SOCKET_IDLE_TIMEOUT_MS = 120_000;
export const MAX_CONNECTIONS = 4096;

const syncRequestSchema = z.object({
  blocks: z.array(z.string().regex(BLOCK_NAME_RE, 'invalid block name')).max(MAX_SYNC_BLOCKS, `at most ${MAX_SYNC_BLOCKS} blocks per sync`),
});

/** The block links each server serves, for closeBlockLinks. */
const linksOf = new WeakMap<Server, BlockLinkServer>();

/** Shutdown: block links are not HTTP connections, so closeIdleConnections does not end them. */
export function closeBlockLinks(server: Server): void {
  linksOf.get(server)?.closeAll();
}

export function createDataServer(ctx: DataServerContext): Server {
  const bodySlots = new Semaphore(Math.max(1, Math.floor(BUFFERED_BODIES_LIMIT_BYTES / ctx.blockSizeBytes)));
  // Upload bodies land in reused block-sized buffers: the store keeps no reference after put.
  // Page-aligned, so that the store can write them past the page cache (DiskBlockStore.directWrites).
  const keptBodies = Math.floor(KEPT_BODY_BYTES / ctx.blockSizeBytes);
  const bodies = new BufferPool(ctx.blockSizeBytes, keptBodies, { aligned: true });
  // Block reads too, one byte longer than a block so that one read(2) also finds the file's end.
  const reads = new BufferPool(ctx.blockSizeBytes + 1, keptBodies);
  const strangerDrainCapBytes = ctx.blockSizeBytes + DRAIN_SLACK_BYTES;
  const drainCapBytes = Math.max(AUTHENTICATED_DRAIN_CAP_BYTES, strangerDrainCapBytes);

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => replyError(ctx, req, res, err));
  });
  const links = new BlockLinkServer({
    store: ctx.store, secret: ctx.secret, blockSizeBytes: ctx.blockSizeBytes, logger: ctx.logger, onCorrupt: ctx.onCorrupt,
    bodySlots, bodies, reads, idleTimeoutMs: SOCKET_IDLE_TIMEOUT_MS, drainCapBytes,
  });
  // Without a listener Node answers an Upgrade request as a plain one: 404, and clients use HTTP.
  if (linksServed()) server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => links.upgrade(req, socket, head));
  linksOf.set(server, links);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  server.maxConnections = MAX_CONNECTIONS;
  server.setTimeout(SOCKET_IDLE_TIMEOUT_MS, (socket) => socket.destroy());
  return server;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // Authentication before anything else, the body included: a stranger learns nothing and stores nothing.
    if (!checkAuth(req.headers[AUTH_HEADER], ctx.secret)) {
      discardBody(req, strangerDrainCapBytes);
      return fail(ctx, req, res, 401, 'EACCES', 'missing or wrong cluster secret');
    }
    const route = parseRoute(req.method, req.url);
    if (isRejection(route)) {
      discardBody(req, drainCapBytes);
      if (route.allow) res.setHeader('allow', route.allow);
      return fail(ctx, req, res, route.status, 'EINVAL', route.message);
    }
    if (route.op !== 'putBlock' && route.op !== 'sync' && route.op !== 'fetchBlock') discardBody(req, drainCapBytes);
    await dispatch(route, req, res);
  }

  async function dispatch(route: Route, req: IncomingMessage, res: ServerResponse): Promise<void> {
    switch (route.op) {
      case 'putBlock': return putBlock(route.hash, route.sync, req, res);
      case 'getBlock': {
        // Only clients read with check=0; a peer rebuilding from us or fsck reads each block once and
        // must not push the files clients use out of the open-file cache.
        const bytes = await ctx.store.get(route.hash, { check: route.check, keepOpen: !route.check, into: reads });
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
        // The socket may still be sending from the buffer after end() returns, until the response
        // closes (sent, or the connection gone and its pending writes cancelled).
        res.once('close', () => reads.give(bytes));
        res.end(bytes);
        return;
      }
      case 'verifyBlock': {
        const result: VerifyResult = { size: await ctx.store.verify(route.hash) };
        return sendJson(res, 200, result);
      }
      case 'fetchBlock': {
        if (!ctx.fetcher) throw new FsError('EINVAL', 'this server cannot fetch blocks');
        const parsed = fetchRequestSchema.safeParse(await readJson(req, FETCH_BODY_LIMIT_BYTES));
        if (!parsed.success) throw new FsError('EINVAL', `bad fetch request: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
        const result: FetchResult = await ctx.fetcher.fetch(route.hash, parsed.data.from);
        return sendJson(res, 200, result);
      }
      case 'deleteBlock':
        return sendJson(res, 200, { deleted: await ctx.store.delete(route.hash, route.beforeMs ?? undefined) });
      case 'sync': {
        const parsed = syncRequestSchema.safeParse(await readJson(req, SYNC_BODY_LIMIT_BYTES));
        if (!parsed.success) throw new FsError('EINVAL', `bad sync request: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
        const result: SyncResult = await ctx.store.sync(parsed.data.blocks);
        return sendJson(res, 200, result);
      }
      case 'inventory': {
        const result: InventoryResult = { blocks: await ctx.store.inventory() };
        return sendJson(res, 200, result);
      }
      case 'health':
        return sendJson(res, 200, await health());
    }
  }

  async function putBlock(hash: string, sync: boolean, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const declared = req.headers['content-length'];
    if (declared === undefined) {
      discardBody(req, drainCapBytes);
      return fail(ctx, req, res, 411, 'EINVAL', 'Content-Length is required for block uploads');
    }
    const checksums: { crc32?: number; crc32c?: number } = {};
    for (const [header, key] of [[CRC_HEADER, 'crc32'], [LEGACY_CRC_HEADER, 'crc32c']] as const) {
      const text = req.headers[header];
      if (text === undefined) continue;
      if (typeof text !== 'string' || !/^\d{1,10}$/.test(text) || Number(text) > 0xffffffff) {
        discardBody(req, drainCapBytes);
        return fail(ctx, req, res, 400, 'EINVAL', `${header} must be a checksum as an unsigned decimal number`);
      }
      checksums[key] = Number(text);
    }
    const size = Number(declared);
    if (size > ctx.blockSizeBytes) {
      // Refused on the header alone: not one byte of an oversized body is buffered.
      discardBody(req, drainCapBytes);
      return fail(ctx, req, res, 413, 'EFBIG', `block of ${declared} bytes exceeds the block size of ${ctx.blockSizeBytes}`);
    }
    const release = await bodySlots.acquire();
    const buf = bodies.take(size);
    let sizeBytes: number;
    try {
      const bytes = await readBodyInto(req, buf, size);
      await ctx.store.put(hash, bytes, { sync, ...checksums });
      sizeBytes = bytes.length;
    } finally {
      bodies.give(buf);
      release();
    }
    const result: PutBlockResult = { size: sizeBytes };
    sendJson(res, 201, result);
  }

  async function health(): Promise<DataServerHealth> {
    const [stats, fsStats] = await Promise.all([ctx.store.stats(), statfs(ctx.dir)]);
    return {
      id: ctx.identity.id,
      dir: ctx.dir,
      blocks: stats.blocks,
      bytes: stats.bytes,
      quarantined: stats.quarantined,
      diskTotalBytes: fsStats.bsize * fsStats.blocks,
      diskFreeBytes: fsStats.bsize * fsStats.bavail,
      startedAtMs: ctx.startedAtMs,
    };
  }
}

function fail(ctx: DataServerContext, req: IncomingMessage, res: ServerResponse, status: number, code: string, message: string): void {
  logFailure(ctx, req, status, code, message);
  sendJson(res, status, { error: { code, message } });
}

function replyError(ctx: DataServerContext, req: IncomingMessage, res: ServerResponse, err: unknown): void {
  if (res.headersSent || res.destroyed) {
    // The client went away or the answer had started: nothing can be told to it any more.
    ctx.logger.warn({ method: req.method, url: shortUrl(req.url), err: errMessage(err) }, 'request failed after the response started');
    res.destroy();
    return;
  }
  if (isCorruptBlockError(err)) {
    noteCorruptCopy(err, ctx.logger, ctx.onCorrupt);
    return fail(ctx, req, res, 409, err.code, err.message);
  }
  // Anything left unread (e.g. a JSON body refused by its length) must not be read unbounded.
  discardBody(req, AUTHENTICATED_DRAIN_CAP_BYTES);
  if (err instanceof FsError) {
    logFailure(ctx, req, undefined, err.code, err.message);
    return sendError(res, err);
  }
  logFailure(ctx, req, 500, 'EIO', errMessage(err));
  sendError(res, err);
}

function logFailure(ctx: DataServerContext, req: IncomingMessage, status: number | undefined, code: string, message: string): void {
  ctx.logger.warn({ method: req.method, url: shortUrl(req.url), status, code }, message);
}

function shortUrl(url: string | undefined): string {
  return (url ?? '').slice(0, 200);
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
