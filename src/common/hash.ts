import { createHash } from 'node:crypto';
import { crc32, crc32c } from '@node-rs/crc32';

/** A block's name: the SHA-256 of its content, lowercase hex. */
export function blockName(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * A block's transfer checksum, computed by a writer when it names the block. A data server checks
 * an upload against it instead of hashing the bytes again (what the check is there for: bytes
 * damaged between the writer's memory and the server's); the name itself is checked on every read
 * and by the scrubber. CRC-32 (IEEE, as zlib, gzip and Ethernet use it) rather than CRC-32C: both
 * catch every burst up to 32 bits and all but 2^-32 of other damage, and @node-rs/crc32 folds
 * CRC-32 with carry-less multiplication at 16 GB/s here against 7.9 for its CRC-32C. Each byte of
 * a write is checksummed four times at N=3 (the mount, then each data server): in a profile of a
 * 512 MiB sequential write the CRC-32C was 6.7% of all CPU samples on the machine.
 */
export function transferChecksum(bytes: Buffer): number {
  return crc32(bytes);
}

/** The transfer checksum of writers before stop 27 (CRC-32C); data servers still accept it. */
export function legacyTransferChecksum(bytes: Buffer): number {
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
