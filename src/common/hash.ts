import { createHash } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';

/** A block's name: the SHA-256 of its content, lowercase hex. */
export function blockName(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A block's transfer checksum (CRC-32C, as iSCSI, ext4 and Ceph use it), computed by a writer
 * when it names the block. A data server checks an upload against it instead of hashing the bytes
 * again: a third of the SHA-256's CPU, for what the check is there for (bytes damaged between the
 * writer's memory and the server's). The name itself is checked on every read and by the scrubber.
 */
export function transferChecksum(bytes: Buffer): number {
  return crc32c(bytes);
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
