// Asks a data server to pull a block from verified peers (POST /v1/blocks/<hash>/fetch, see the
// self-healing part of src/common/protocol.ts). DataClient has no such call: only repair uses it.
import { request } from 'undici';
import { authValue, type FetchRequest, type FetchResult } from '../common/protocol.js';

/** Copying one block is a GET from a peer plus an fsync; this bounds a stuck peer. */
const FETCH_TIMEOUT_MS = 30_000;

export class FetchUnsupportedError extends Error {}

export type FetchOutcome = { ok: true; result: FetchResult } | { ok: false; reason: string };

export async function fetchBlock(serverUrl: string, secret: string, hash: string, from: string[]): Promise<FetchOutcome> {
  const body: FetchRequest = { from };
  let res;
  try {
    res = await request(`${serverUrl}/v1/blocks/${hash}/fetch`, {
      method: 'POST',
      headers: { authorization: authValue(secret), 'content-type': 'application/json' },
      body: JSON.stringify(body),
      headersTimeout: FETCH_TIMEOUT_MS,
      bodyTimeout: FETCH_TIMEOUT_MS,
    });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    return { ok: false, reason: `unreachable: ${e?.code ?? e?.message ?? String(err)}` };
  }
  const text = await res.body.text();
  let parsed: { error?: { code?: string; message?: string } } & Partial<FetchResult> = {};
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    // not JSON; the status line is all we have
  }
  if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, result: { size: Number(parsed.size ?? 0), from: String(parsed.from ?? '') } };
  const message = parsed.error?.message ?? `HTTP ${res.statusCode}`;
  if (isUnknownRoute(res.statusCode, message)) {
    throw new FetchUnsupportedError(`data server ${serverUrl} has no block fetch endpoint (POST /v1/blocks/<hash>/fetch answered ${res.statusCode}: ${message}); --repair needs a data server build with self-healing`);
  }
  return { ok: false, reason: `${parsed.error?.code ?? 'EIO'} ${message}` };
}

/** The answers a data server gives for a URL it does not route (src/dataserver/routes.ts). */
function isUnknownRoute(status: number, message: string): boolean {
  return status === 405 || (status === 404 && /no such route/.test(message)) || (status === 400 && /^expected \/v1\/blocks\//.test(message));
}

/** True if the server at url routes the fetch endpoint (probed with a block name nobody has). */
export async function supportsFetch(serverUrl: string, secret: string): Promise<boolean> {
  try {
    await fetchBlock(serverUrl, secret, '0'.repeat(64), []);
    return true;
  } catch (err) {
    if (err instanceof FetchUnsupportedError) return false;
    throw err;
  }
}
