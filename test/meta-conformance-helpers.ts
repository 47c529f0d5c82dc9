// Shared pieces of the metadata conformance suite (see meta-conformance.ts).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ClusterConfig } from '../src/common/config.js';
import type { FsError } from '../src/common/errors.js';
import type { MetaApi, MetaStore } from '../src/meta/api.js';

/** Read-only views the suite uses to check accounting; a MetaStore has them, a server exposes them as admin endpoints. */
export type Inspect = Pick<MetaStore, 'listBlocks' | 'listFaults' | 'checkIntegrity'>;

export interface MetaUnderTest {
  /** Must already be formatted. */
  api: MetaApi;
  store?: MetaStore;
  inspect?: Inspect;
  cleanup: () => Promise<void>;
}

export interface SuiteEnv {
  api: MetaApi;
  inspect: Inspect | undefined;
  config: ClusterConfig;
  /** A fresh, empty directory for one test. */
  dir(): Promise<string>;
}

export const OWNER = { uid: 1000, gid: 1000 };

/** A distinct valid block name per label. */
export function hashOf(label: string): string {
  return createHash('sha256').update(label).digest('hex');
}

export async function rejectsWith(p: Promise<unknown>, code: string, what = ''): Promise<void> {
  await assert.rejects(p, (err: FsError) => {
    assert.equal(err.code, code, `${what} expected ${code}, got ${err.code}: ${err.message}`);
    return true;
  });
}

export async function refsOf(env: SuiteEnv, hash: string): Promise<number | undefined> {
  if (!env.inspect) return undefined;
  return (await env.inspect.listBlocks()).find((b) => b.hash === hash)?.refs ?? 0;
}
