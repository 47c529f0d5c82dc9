// Asks every data server to re-hash its copy of every block (digest confirmation, the same check a
// quorum read uses) and records what each one said. The server quarantines a copy it finds corrupt,
// so after this the copy reads as missing: exactly what repair then refills.
import { DataClient, DataServerError } from '../client/data-client.js';
import { mapLimit } from './map-limit.js';

/** What one server said about its copy of one block. */
export type CopyState = 'good' | 'missing' | 'corrupt' | 'down' | 'error';

export interface BlockCopies {
  hash: string;
  /** Server index -> state of its copy. */
  copies: Map<number, CopyState>;
  /** Servers that confirmed a good copy. */
  good: number[];
  /** One reason per server whose copy is not good, for the report. */
  reasons: Map<number, string>;
}

export interface ServerProbe {
  client: DataClient;
  up: boolean;
  error?: string;
}

/** Verifications in flight over all servers; each re-reads a whole block from a server's disk. */
export const VERIFY_CONCURRENCY = 32;

/** Health-checks every server once, so a dead one costs one timeout instead of one per block. */
export async function probeServers(clients: DataClient[]): Promise<ServerProbe[]> {
  return Promise.all(clients.map(async (client) => {
    try {
      await client.health();
      return { client, up: true };
    } catch (err) {
      return { client, up: false, error: err instanceof Error ? err.message : String(err) };
    }
  }));
}

export async function verifyBlocks(servers: ServerProbe[], hashes: readonly string[], onDone: () => void = () => undefined): Promise<Map<string, BlockCopies>> {
  const result = new Map<string, BlockCopies>();
  for (const hash of hashes) result.set(hash, { hash, copies: new Map(), good: [], reasons: new Map() });
  const jobs: Array<{ hash: string; server: ServerProbe }> = [];
  for (const hash of hashes) for (const server of servers) jobs.push({ hash, server });
  await mapLimit(jobs, VERIFY_CONCURRENCY, async ({ hash, server }) => {
    const b = result.get(hash)!;
    const idx = server.client.index;
    if (!server.up) {
      b.copies.set(idx, 'down');
      b.reasons.set(idx, `server ${idx} down`);
    } else {
      try {
        await server.client.verify(hash);
        b.copies.set(idx, 'good');
      } catch (err) {
        const state = copyStateOf(err);
        b.copies.set(idx, state);
        b.reasons.set(idx, err instanceof Error ? err.message : String(err));
      }
    }
    onDone();
  });
  for (const b of result.values()) b.good = [...b.copies].filter(([, s]) => s === 'good').map(([i]) => i).sort((x, y) => x - y);
  return result;
}

function copyStateOf(err: unknown): CopyState {
  if (!(err instanceof DataServerError)) return 'error';
  switch (err.failure) {
    case 'missing': return 'missing';
    case 'corrupt': return 'corrupt';
    case 'unreachable': return 'down';
    default: return 'error';
  }
}
