import { createHash } from 'node:crypto';

/** A block's name: the SHA-256 of its content, lowercase hex. */
export function blockName(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

let zeros = Buffer.alloc(1024 * 1024);

/** len zero bytes from one shared buffer: never write to it (it is compared against and written out). */
export function zeroBytes(len: number): Buffer {
  if (len > zeros.length) zeros = Buffer.alloc(len);
  return zeros.subarray(0, len);
}

/** True for all-zero bytes (memcmp against the shared zero buffer); such blocks become holes. */
export function isAllZero(bytes: Buffer): boolean {
  return bytes.equals(zeroBytes(bytes.length));
}
