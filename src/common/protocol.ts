// Wire contract between clients, data servers and the metadata server. Every server speaks HTTP/1.1
// on keep-alive connections. Block bodies are raw bytes (no JSON, no base64); control messages are
// JSON. The block PUT/GET and MetaApi calls below are also offered on links, connections upgraded
// to binary frames (src/common/link-frames.ts), which is how mounts and the CLI make them.
//
// Authentication: every request carries `authorization: Bearer <cluster secret>`; anything else is
// answered 401 before the body is read, and nothing is stored.
//
// Errors: non-2xx answers have a JSON body `{ "error": { "code": "<ERRNO>", "message": "..." } }`.
//
// ---- Data server (one per replica) ----
//   PUT    /v1/blocks/<sha256 hex>     body: raw block bytes (<= block size, Content-Length required)
//          201 { size }                stored under its name (temp file + rename); not yet fsync'd
//                                      unless ?sync=1, which makes it durable before answering
//          x-quorumfs-crc32: <uint32>  (optional) the writer's CRC-32 of the bytes it named: the
//                                      server checks the body against it and does not re-hash it
//                                      (a copy from a peer, or an upload without it, is re-hashed);
//                                      x-quorumfs-crc32c, the CRC-32C of writers before stop 27,
//                                      is still accepted
//          400 EINVAL   bad name or checksum header, bytes do not match the checksum, or (without
//                       one) bytes do not hash to the name; nothing stored
//          411 EINVAL   no Content-Length;  413 EFBIG body larger than the block size
//          507 ENOSPC   disk full (nothing stored)
//   POST   /v1/sync  JSON { blocks: string[] }
//          200 { durable: string[], missing: string[] }   fsyncs named block files and their
//          directories (the batched commit point); `durable` lists blocks now on disk for sure
//   GET    /v1/blocks/<hash>           200 raw bytes, re-hashed by the server before sending (not
//                                      with ?check=0, for a client that hashes them itself)
//          404 ENOENT missing;  409 EBADMSG copy is corrupt (it is quarantined, not deleted)
//   POST   /v1/blocks/<hash>/verify    digest confirmation: the server re-reads and re-hashes its copy
//          200 { size }  |  404 ENOENT  |  409 EBADMSG
//   DELETE /v1/blocks/<hash>           200 { deleted: boolean }
//   GET    /v1/inventory               200 { blocks: [hash, size][] }
//   GET    /v1/health                  200 DataServerHealth
//
// ---- Metadata server ----
//   POST   /v1/meta/<method>  JSON body = the single argument object of MetaApi.<method>
//          200 { result } | 4xx { error }           (see src/meta/api.ts)

export const AUTH_HEADER = 'authorization';
export const BLOCK_NAME_RE = /^[0-9a-f]{64}$/;
export const CRC_HEADER = 'x-quorumfs-crc32';
export const LEGACY_CRC_HEADER = 'x-quorumfs-crc32c';

export function authValue(secret: string): string {
  return `Bearer ${secret}`;
}

export interface ErrorBody {
  error: { code: string; message: string };
}

export interface PutBlockResult {
  size: number;
}

export interface SyncRequest {
  blocks: string[];
}
export interface SyncResult {
  durable: string[];
  missing: string[];
}

export interface VerifyResult {
  size: number;
}

export interface InventoryResult {
  blocks: Array<[string, number]>;
}

export interface DataServerHealth {
  /** Stable identity from DIR/identity.json; a new id means the server came back blank. */
  id: string;
  dir: string;
  blocks: number;
  bytes: number;
  quarantined: number;
  diskTotalBytes: number;
  diskFreeBytes: number;
  startedAtMs: number;
}

// ---- Self-healing (server side) ----
// Data server:
//   POST   /v1/blocks/<hash>/fetch  JSON FetchRequest
//          The server copies the block from one of the given peers (GET with the cluster secret),
//          checks it hashes to the name, stores it durably (fsync'd), answers 200 { size, from }.
//          4xx/5xx when no peer had a good copy. This is how repair refills a server: the metadata
//          server's workers ask the server that lacks a block to pull it from a verified holder.
// Data servers started with --meta URL send heartbeats and report what their scrubber finds:
//   POST   <meta>/v1/admin/heartbeat  JSON Heartbeat   -> 200 { result: {} }
//   POST   <meta>/v1/meta/reportFaults  (as clients do), reason 'corrupt' with the server's index

export interface FetchRequest {
  /** Base URLs of peers to try, in order. */
  from: string[];
}

export interface FetchResult {
  size: number;
  from: string;
}

export interface Heartbeat {
  index: number;
  id: string;
  url: string;
  blocks: number;
  bytes: number;
  diskFreeBytes: number;
  diskTotalBytes: number;
  /** Scrubber progress in the current pass. */
  scrub?: { passStartedAtMs: number; checkedBlocks: number; corruptFound: number };
}
