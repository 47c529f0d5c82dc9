// POST /v1/blocks/<hash>/fetch: this server copies a block from a peer. It is how repair refills a
// server: the metadata server's workers name verified holders, the server that lacks the block
// pulls it, checks it against its name (pair assertion: the peer checked it before sending) and
// stores it durably before answering.
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
    private readonly store: BlockStore,
    private readonly secret: string,
    private readonly blockSizeBytes: number,
    private readonly logger: Logger,
  ) {}

  async fetch(hash: string, from: string[]): Promise<FetchResult> {
    const release = await this.slots.acquire();
    try {
      // A good local copy makes the request a no-op. A corrupt one is quarantined by verify (kept
      // for inspection, never overwritten in place), a missing one is fetched.
      const local = await this.localSize(hash);
      if (local !== null) return { size: local, from: 'local' };
      const reasons: string[] = [];
      for (const peer of from) {
        const base = peer.replace(/\/$/, '');
        try {
          const bytes = await this.download(base, hash);
          await this.store.put(hash, bytes); // re-hashes the bytes before it writes them
          const { missing } = await this.store.sync([hash]);
          if (missing.length > 0) throw new FsError('EIO', 'block vanished before it could be synced');
          this.logger.info({ hash, from: base, size: bytes.length }, 'fetched block from peer');
          return { size: bytes.length, from: base };
        } catch (err) {
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
      const text = (await res.body.text()).slice(0, 300);
      throw new Error(`HTTP ${res.statusCode} ${text}`);
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
