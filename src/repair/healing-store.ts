// The store as the HTTP API sees it while the self-healing engine runs: reported faults wake the
// repair workers at once (read repair must not wait for a poll), and a reservation that meets a
// block whose deletion is in flight waits for that deletion to finish and tries again, so the
// writer's upload lands after the deletes (see src/meta/sqlite/gc.ts).
import { FsError } from '../common/errors.js';
import type { BlockFault, MetaStore, ReserveResult } from '../meta/api.js';

/**
 * Deleting one block is one DELETE per server, sent in parallel with a 10 s timeout each; the wait
 * stays well inside the 30 s a client gives a metadata call (src/client/meta-client.ts).
 */
export const RESERVE_WAIT_MS = 12_000;

export interface HealingHooks {
  faultsReported(): void;
  waitDeleted(hashes: string[], timeoutMs: number): Promise<void>;
}

export function withHealing(store: MetaStore, hooks: HealingHooks): MetaStore {
  const reportFaults = async (a: { faults: BlockFault[] }): Promise<void> => {
    await store.reportFaults(a);
    if (a.faults.length > 0) hooks.faultsReported();
  };
  const reserveBlocks = async (a: { hashes: string[] }): Promise<ReserveResult> => {
    try {
      return await store.reserveBlocks(a);
    } catch (err) {
      if (!(err instanceof FsError && err.code === 'EAGAIN')) throw err;
      await hooks.waitDeleted(a.hashes, RESERVE_WAIT_MS);
      // Still EAGAIN (a deletion left by a crash, not yet resumed): the client sees it and may retry.
      // Otherwise the deletions finished and left tombstones: the answer lists those blocks.
      return await store.reserveBlocks(a);
    }
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      if (prop === 'reportFaults') return reportFaults;
      if (prop === 'reserveBlocks') return reserveBlocks;
      const v: unknown = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
}
