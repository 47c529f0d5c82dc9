// Small helpers for tests that go through the client library.
import { randomBytes, createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { QuorumFsClient } from '../../src/client/fs-client.js';
import { blocksDirOf } from '../../src/dataserver/block-paths.js';

export async function writeWhole(c: QuorumFsClient, path: string, data: Buffer): Promise<void> {
  await c.meta.create({ path, mode: 0o644, owner: { uid: 0, gid: 0 }, exclusive: false });
  const f = await c.open(path, { write: true, truncate: true });
  const step = 256 * 1024;
  for (let off = 0; off < data.length; off += step) await f.write(off, data.subarray(off, off + step));
  await f.close();
}

export async function readWhole(c: QuorumFsClient, path: string): Promise<Buffer> {
  const f = await c.open(path, { write: false });
  const parts: Buffer[] = [];
  for (let off = 0; ; ) {
    const b = await f.read(off, 1024 * 1024);
    if (!b.length) break;
    parts.push(b);
    off += b.length;
  }
  await f.close();
  return Buffer.concat(parts);
}

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function randomData(n: number): Buffer {
  return randomBytes(n);
}

/** On-disk path of a block on one data server. */
export { blockFileOf as blockPath } from '../../src/dataserver/block-paths.js';

/** Flips bytes in place in the stored block file, as a failing disk would. */
export function flipBytes(file: string): void {
  const b = readFileSync(file);
  if (b.length === 0) throw new Error(`cannot corrupt empty block ${file}`);
  for (const i of [0, Math.floor(b.length / 2), b.length - 1]) b[i] = b[i]! ^ 0xff;
  writeFileSync(file, b);
}

export function storedBlocks(dataDir: string): string[] {
  const root = blocksDirOf(dataDir);
  if (!existsSync(root)) return [];
  const out: string[] = [];
  for (const a of readdirSync(root)) out.push(...readdirSync(join(root, a)));
  return out;
}
