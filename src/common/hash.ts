import { createHash } from 'node:crypto';

/** A block's name: the SHA-256 of its content, lowercase hex. */
export function blockName(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

let zeros = Buffer.alloc(1024 * 1024);

/** True for all-zero bytes (memcmp against a shared zero buffer); such blocks become holes. */
export function isAllZero(bytes: Buffer): boolean {
  if (bytes.length > zeros.length) zeros = Buffer.alloc(bytes.length);
  return bytes.equals(zeros.subarray(0, bytes.length));
}
