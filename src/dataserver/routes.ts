import { BLOCK_NAME_RE } from '../common/protocol.js';

/** One data-server operation, decoded from method + URL (see src/common/protocol.ts). */
export type Route =
  | { op: 'putBlock'; hash: string; sync: boolean }
  | { op: 'getBlock'; hash: string; check: boolean }
  | { op: 'deleteBlock'; hash: string; beforeMs: number | null }
  | { op: 'verifyBlock'; hash: string }
  | { op: 'fetchBlock'; hash: string }
  | { op: 'sync' }
  | { op: 'inventory' }
  | { op: 'health' };

export interface RouteRejection {
  status: 400 | 404 | 405;
  message: string;
  /** For 405: the methods the path does accept. */
  allow?: string;
}

/** Real routes are short; anything longer is refused before it is split. */
const MAX_URL_CHARS = 512;
/**
 * Every legitimate path is made of these characters only. Refusing '%' outright means no
 * percent-encoded '/' or '..' can ever reach a file name, whatever decoding happens later.
 */
const PATH_CHARS_RE = /^[A-Za-z0-9/_.-]+$/;

export function parseRoute(method: string | undefined, rawUrl: string | undefined): Route | RouteRejection {
  const url = rawUrl ?? '';
  if (url.length > MAX_URL_CHARS) return { status: 400, message: `URL longer than ${MAX_URL_CHARS} characters` };
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  if (path === '/') return noRoute();
  if (!path.startsWith('/') || !PATH_CHARS_RE.test(path)) return { status: 400, message: 'malformed request path' };
  const seg = path.slice(1).split('/');
  if (seg.some((s) => s === '' || s === '.' || s === '..')) return { status: 400, message: 'malformed request path' };
  if (seg[0] !== 'v1') return noRoute();

  if (seg[1] === 'blocks') {
    const isBlock = seg.length === 3;
    const isVerify = seg.length === 4 && seg[3] === 'verify';
    const isFetch = seg.length === 4 && seg[3] === 'fetch';
    if (!isBlock && !isVerify && !isFetch) return { status: 400, message: 'expected /v1/blocks/<hash>, /v1/blocks/<hash>/verify or /v1/blocks/<hash>/fetch' };
    const hash = seg[2]!;
    if (!BLOCK_NAME_RE.test(hash)) return { status: 400, message: 'invalid block name (expected 64 lowercase hex characters)' };
    if (isVerify) return method === 'POST' ? { op: 'verifyBlock', hash } : notAllowed('POST');
    if (isFetch) return method === 'POST' ? { op: 'fetchBlock', hash } : notAllowed('POST');
    switch (method) {
      case 'GET': {
        // check=0: the client hashes the bytes itself (it must, whatever the server did), so the
        // server need not hash them too; a mismatch makes the client ask for /verify.
        const check = query.get('check');
        if (check !== null && check !== '0' && check !== '1') return { status: 400, message: 'check must be 0 or 1' };
        return { op: 'getBlock', hash, check: check !== '0' };
      }
      case 'DELETE': {
        // A deadline (epoch ms) from garbage collection: a delete that arrives later is refused.
        const before = query.get('before');
        if (before !== null && !/^\d{1,15}$/.test(before)) return { status: 400, message: 'before must be a time in epoch milliseconds' };
        return { op: 'deleteBlock', hash, beforeMs: before === null ? null : Number(before) };
      }
      case 'PUT': {
        const sync = query.get('sync');
        if (sync !== null && sync !== '0' && sync !== '1') return { status: 400, message: 'sync must be 0 or 1' };
        return { op: 'putBlock', hash, sync: sync === '1' };
      }
      default: return notAllowed('GET, PUT, DELETE');
    }
  }
  if (seg.length !== 2) return noRoute();
  switch (seg[1]) {
    case 'sync': return method === 'POST' ? { op: 'sync' } : notAllowed('POST');
    case 'inventory': return method === 'GET' ? { op: 'inventory' } : notAllowed('GET');
    case 'health': return method === 'GET' ? { op: 'health' } : notAllowed('GET');
    default: return noRoute();
  }
}

export function isRejection(r: Route | RouteRejection): r is RouteRejection {
  return 'status' in r;
}

// 404 with EINVAL, not ENOENT: a client must never mistake a wrong URL for a missing block.
function noRoute(): RouteRejection {
  return { status: 404, message: 'no such route' };
}

function notAllowed(allow: string): RouteRejection {
  return { status: 405, message: `method not allowed (allowed: ${allow})`, allow };
}
