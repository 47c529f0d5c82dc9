// The metadata link: MetaApi calls as frames on an upgraded connection (src/common/link-frames.ts
// has the opening, the answers and why). A small file costs three metadata calls (create, the
// block reservation, commit), each an HTTP request before this.
//
// Opening: `GET /v1/meta-link`, `upgrade: quorumfs-meta/1`, and x-quorumfs-client for a caching
// client (the change feed's name for it, as on its HTTP calls). Requests, little-endian:
//   12-byte header, then `length` body bytes
//     0  u32 length       bytes after the header: the method's name, then its argument as JSON
//     4  u32 id
//     8  u16 name bytes   the method's name (ASCII) is the first this many body bytes
//    10  u16 reserved     0
// A done answer's body is JSON { result, seq, epoch, exact }: what the HTTP API sends as its body
// and its x-quorumfs-seq, x-quorumfs-epoch and x-quorumfs-exact headers.

export const META_LINK_PATH = '/v1/meta-link';
export const META_LINK_PROTOCOL = 'quorumfs-meta/1';
export const META_REQUEST_HEADER_BYTES = 12;

export function encodeMetaRequest(method: string, argsJson: string): Buffer {
  const nameBytes = Buffer.byteLength(method, 'latin1');
  const jsonBytes = Buffer.byteLength(argsJson, 'utf8');
  const b = Buffer.allocUnsafe(META_REQUEST_HEADER_BYTES + nameBytes + jsonBytes);
  b.writeUInt32LE(nameBytes + jsonBytes, 0);
  b.writeUInt32LE(0, 4);
  b.writeUInt16LE(nameBytes, 8);
  b.writeUInt16LE(0, 10);
  b.write(method, META_REQUEST_HEADER_BYTES, 'latin1');
  b.write(argsJson, META_REQUEST_HEADER_BYTES + nameBytes, 'utf8');
  return b;
}

export interface MetaRequestHeader {
  length: number;
  id: number;
  nameBytes: number;
}

export function decodeMetaRequestHeader(b: Buffer): MetaRequestHeader {
  return { length: b.readUInt32LE(0), id: b.readUInt32LE(4), nameBytes: b.readUInt16LE(8) };
}
