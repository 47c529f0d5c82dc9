// POST /v1/blocks/<hash>/fetch: this server copies a block from a peer. It is how repair refills a
// server: the metadata server's workers name the other holders, the server that lacks the block
// pulls it, checks it against its name and stores it durably before answering. The peer re-hashed
// its copy before sending it (a GET never serves a corrupt copy), so that GET is the digest check
// of the source: the metadata server does not verify sources separately, and the answer says which
// peers had no good copy so that it can queue them for repair in turn.
import { Agent } from 'undici';
import { z } from 'zod';
import { FsError } from '../common/errors.js';
import { authValue, type FetchResult } from '../common/protocol.js';
import type { Logger } from '../common/log.js';
import type { BlockStore } from './block-store.js';
import { Semaphore } from './concurrency.js';
import { isCorruptBlockError } from './corrupt-block-error.js';

/** Peers named per request: a cluster has at most 64 replicas. */
const MAX_PEERS = 64;
/** Fetches running at once; each holds one block in memory. Repair asks for far fewer. */
const MAX_CONCURRENT_FETCHES = 16;
/** One block from one peer, connection included; a 64 MiB block at ~2 MB/s still fits. */
const PEER_TIMEOUT_MS = 30_000;
export const FETCH_BODY_LIMIT_BYTES = 64 * 1024;

export const fetchRequestSchema = z.object({
  from: z.array(z.string().max(512).regex(/^https?:\/\/[^/\s]+\/?$/, 'must be a base URL like http://host:port'))
    .min(1, 'name at least one peer').max(MAX_PEERS, `at most ${MAX_PEERS} peers`),
}).strict();

/** Why a peer could not serve the block: its copy (missing, corrupt) or anything else. */
export type PeerCopyFailure = 'missing' | 'corrupt' | 'error';

export interface FetchOutcome extends FetchResult {
  /** Peers tried before the one that served the block; absent when the first one did. */
  failed?: Array<{ peer: string; failure: PeerCopyFailure }>;
}

class PeerCopyError extends Error {
  constructor(readonly failure: PeerCopyFailure, message: string) {
    super(message);
  }
}

export class PeerFetcher {
  private readonly agent = new Agent({
    connections: 8,
    connectTimeout: 5_000,
    headersTimeout: PEER_TIMEOUT_MS,
    bodyTimeout: PEER_TIMEOUT_MS,
    keepAliveTimeout: 30_000,
  });
  private readonly slots = new Semaphore(MAX_CONCURRENT_FETCHES);

  constructor(
    private readonly store: BlockStore & { has?(hash: string): boolean },
    private readonly secret: string,
    private readonly blockSizeBytes: number,
    private readonly logger: Logger,
  ) {}

  async fetch(hash: string, from: string[]): Promise<FetchOutcome> {
    const release = await this.slots.acquire();
    try {
      // A good local copy makes the request a no-op. A corrupt one is quarantined by verify (kept
      // for inspection, never overwritten in place), a missing one is fetched.
      const local = await this.localSize(hash);
      if (local !== null) return { size: local, from: 'local' };
      const reasons: string[] = [];
      const failed: NonNullable<FetchOutcome['failed']> = [];
      for (const peer of from) {
        const base = peer.replace(/\/$/, '');
        try {
          const bytes = await this.download(base, hash);
          // Re-hashes the bytes before it writes them; durable when it returns, fsync'd through the
          // descriptor it wrote with (concurrent fetches share journal commits in the file system).
          await this.store.put(hash, bytes, { sync: true });
          // One line per block would be hundreds of thousands in a rebuild; the metadata server logs progress.
          this.logger.debug({ hash, from: base, size: bytes.length }, 'fetched block from peer');
          return { size: bytes.length, from: base, ...(failed.length > 0 ? { failed } : {}) };
        } catch (err) {
          failed.push({ peer: base, failure: err instanceof PeerCopyError ? err.failure : 'error' });
          reasons.push(`${base}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      throw new FsError('EIO', `no peer had a good copy of ${hash}: ${reasons.join('; ')}`);
    } finally {
      release();
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async localSize(hash: string): Promise<number | null> {
    // Not in the index: nothing to keep (a stray file under the name is replaced by verified bytes).
    // Spares a blank server's rebuild a failed open per block.
    if (this.store.has && !this.store.has(hash)) return null;
    try {
      return await this.store.verify(hash);
    } catch (err) {
      if (isCorruptBlockError(err)) return null;
      if (err instanceof FsError && err.code === 'ENOENT') return null;
      throw err;
    }
  }

  private async download(base: string, hash: string): Promise<Buffer> {
    const res = await this.agent.request({
      origin: base,
      method: 'GET',
      path: `/v1/blocks/${hash}`,
      headers: { authorization: authValue(this.secret) },
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new PeerCopyError(copyFailure(res.statusCode, text), `HTTP ${res.statusCode} ${text.slice(0, 300)}`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > this.blockSizeBytes) {
        res.body.destroy();
        throw new Error(`sent more than the block size of ${this.blockSizeBytes} bytes`);
      }
      chunks.push(chunk);
    }
    // Not hashed here: store.put re-hashes before writing, the one check that matters.
    return Buffer.concat(chunks, total);
  }
}

/** A data server answers 404/ENOENT for a block it lacks and 409/EBADMSG for a corrupt copy. */
function copyFailure(status: number, body: string): PeerCopyFailure {
  let code: string | undefined;
  try {
    code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    return 'error';
  }
  if (status === 404 && code === 'ENOENT') return 'missing';
  if (status === 409 && code === 'EBADMSG') return 'corrupt';
  return 'error';
}
