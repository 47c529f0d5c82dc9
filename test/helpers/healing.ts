// Helpers for self-healing tests: the metadata server's status, digest checks and inventories of one
// data server, quarantine contents and bounded waiting for a condition.
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'undici';
import type { QuorumFsClient } from '../../src/client/fs-client.js';
import { quarantineDirOf } from '../../src/dataserver/block-paths.js';
import type { HealStatus } from '../../src/repair/status-types.js';

export async function adminStatus(metaUrl: string, secret: string): Promise<HealStatus> {
  const res = await request(`${metaUrl}/v1/admin/status`, { headers: { authorization: `Bearer ${secret}` } });
  const body = (await res.body.json()) as { result?: HealStatus; error?: unknown };
  if (res.statusCode !== 200 || !body.result) throw new Error(`status: HTTP ${res.statusCode} ${JSON.stringify(body.error)}`);
  return body.result;
}

/** HTTP status of POST /v1/blocks/<hash>/verify on one data server (200 good, 404 missing, 409 corrupt). */
export async function verifyStatus(serverUrl: string, secret: string, hash: string): Promise<number> {
  const res = await request(`${serverUrl}/v1/blocks/${hash}/verify`, { method: 'POST', headers: { authorization: `Bearer ${secret}` } });
  await res.body.arrayBuffer();
  return res.statusCode;
}

/** Stores a block on one data server directly (no reservation, no commit: a leaked upload). */
export async function putRaw(serverUrl: string, secret: string, hash: string, bytes: Buffer): Promise<void> {
  const res = await request(`${serverUrl}/v1/blocks/${hash}?sync=1`, { method: 'PUT', body: bytes, headers: { authorization: `Bearer ${secret}` } });
  await res.body.arrayBuffer();
  if (res.statusCode !== 201) throw new Error(`put ${hash}: HTTP ${res.statusCode}`);
}

/** Quarantined copies of hash on a server (DIR/quarantine/<hash>.<stamp>). */
export function quarantinedCopies(dataDir: string, hash: string): string[] {
  const q = quarantineDirOf(dataDir);
  return existsSync(q) ? readdirSync(q).filter((f) => f.startsWith(`${hash}.`)) : [];
}

export async function fileBlocks(c: QuorumFsClient, path: string): Promise<string[]> {
  const attr = await c.meta.lookup({ path });
  const layout = await c.meta.getLayout({ ino: attr.ino });
  return layout.blocks.filter((b): b is string => b !== null);
}

/** Polls check until it returns a truthy value; fails with `what` after timeoutMs. */
export async function waitFor<T>(what: string, check: () => Promise<T | false | null | undefined> | T | false | null | undefined, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A data server's inventory (GET /v1/inventory): block name -> size in bytes. */
export async function inventoryOf(serverUrl: string, secret: string): Promise<Map<string, number>> {
  const res = await request(`${serverUrl}/v1/inventory`, { headers: { authorization: `Bearer ${secret}` } });
  const body = (await res.body.json()) as { blocks?: Array<[string, number]> };
  if (res.statusCode !== 200 || !body.blocks) throw new Error(`inventory of ${serverUrl}: HTTP ${res.statusCode}`);
  return new Map(body.blocks);
}
