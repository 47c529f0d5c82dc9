// Reconciliation of a server that came back with its disk: its inventory against the blocks files
// reference. Every referenced block it lacks is queued for repair (bulk priority). Blocks it holds
// that nothing references are left to garbage collection (the orphan scan in gc.ts).
import type { Logger } from '../common/log.js';
import type { BlockFault, MetaStore } from '../meta/api.js';
import type { PeerClient } from './peer-client.js';

/** Faults per enqueue call; bounds one request's memory and transaction size. */
const ENQUEUE_CHUNK = 10_000;

export interface ReconcileResult {
  inventoryBlocks: number;
  referencedBlocks: number;
  queuedMissing: number;
}

export async function reconcile(
  server: { index: number; url: string },
  store: MetaStore,
  peers: PeerClient,
  logger: Logger,
): Promise<ReconcileResult> {
  const startedMs = Date.now();
  // Inventory first, references second: a block committed in between is queued needlessly (the fetch
  // finds it already there), never missed.
  const inventory = await peers.inventory(server.url);
  const have = new Set(inventory.blocks.map(([hash]) => hash));
  const referenced = await store.listBlocks();
  const missing: BlockFault[] = [];
  for (const b of referenced) if (!have.has(b.hash)) missing.push({ hash: b.hash, server: server.index, reason: 'missing' });
  let queued = 0;
  for (let i = 0; i < missing.length; i += ENQUEUE_CHUNK) {
    queued += await store.enqueueBulkFaults({ faults: missing.slice(i, i + ENQUEUE_CHUNK) });
  }
  const result = { inventoryBlocks: have.size, referencedBlocks: referenced.length, queuedMissing: missing.length };
  logger.info({ server: server.index, ...result, newlyQueued: queued, ms: Date.now() - startedMs }, 'reconciled data server');
  return result;
}
