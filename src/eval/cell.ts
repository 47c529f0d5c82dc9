// The cells of a table, as the report defines them, on a real cluster: a file written with every
// server up, then k servers corrupted (bytes flipped in that file's block files) or crashed
// (SIGKILL); then a read of that file and a new write.
import { randomBytes } from 'node:crypto';
import type { QuorumFsClient } from '../client/fs-client.js';
import { isFsError } from '../common/errors.js';
import { blocksOfFile, corruptServerBlocks } from './chaos/corrupt.js';
import { crashServer, restartServer } from './chaos/server-faults.js';
import { resolveTarget } from './chaos/target.js';
import type { EvalCluster } from './harness.js';
import type { ColumnSpec } from './plan.js';

export interface OpOutcome {
  ok: boolean;
  /** errno and message of a failure, first line. */
  detail?: string;
  /** The read returned bytes other than those written: never allowed. */
  wrongBytes?: boolean;
}

export interface CellOutcome {
  write: OpOutcome;
  read: OpOutcome;
}

/** Two and a half blocks: full blocks and a short last one, all of which must verify. */
export function fileSizeBytes(blockSizeBytes: number): number {
  return Math.floor(blockSizeBytes * 2.5);
}

/** A file written with every server up: the starting point of every cell. */
async function setupFile(c: EvalCluster, path: string): Promise<Buffer> {
  const content = randomBytes(fileSizeBytes(c.state.config.blockSizeBytes));
  const setup = await attempt(() => writeFile(c.writer, path, content));
  if (!setup.ok) throw new Error(`eval setup: writing ${path} with every server up failed: ${setup.detail}`);
  return content;
}

/** Read of the cell's file with the table's Qr, then a new write with the cluster's Qw. */
async function readThenWrite(c: EvalCluster, readQuorum: number, path: string, content: Buffer): Promise<CellOutcome> {
  const reader = await c.reader(readQuorum);
  const read = await attempt(() => readAndCompare(reader, path, content));
  const write = await attempt(() => writeFile(c.writer, `${path}.w`, randomBytes(content.length)));
  return { write, read };
}

export async function runCorruptCell(c: EvalCluster, readQuorum: number, col: ColumnSpec, path: string): Promise<CellOutcome> {
  const content = await setupFile(c, path);
  const hashes = await blocksOfFile(c.writer.meta, path);
  for (const s of col.servers) {
    const r = await corruptServerBlocks(resolveTarget(c.dir, s).dataDir, c.dir, hashes);
    // Every server was up for the write, so each must hold every block; anything else makes the cell meaningless.
    if (r.notStored.length) throw new Error(`eval setup: data server ${s} does not hold block ${r.notStored[0]} of ${path}`);
  }
  // Read first, right after the corruption, so background repair has no time to hide it.
  return readThenWrite(c, readQuorum, path, content);
}

/**
 * A row of crash cells. Every cell's file is written first, with every server up. Then, cell by
 * cell, exactly the cell's servers are made to be down: with `isolated` by restarting all and
 * killing the cell's set, otherwise by restarting only those the cell wants up and killing only
 * those not yet down (a row 0..N kills one more server per cell instead of restarting k servers
 * per cell: the same state for every cell at a fraction of the process restarts). All are
 * restarted at the end of the row.
 */
export async function runCrashRow(c: EvalCluster, readQuorum: number, cols: ColumnSpec[], pathOf: (col: ColumnSpec) => string,
  opts: { isolated: boolean; onCell?: (col: ColumnSpec) => void }): Promise<CellOutcome[]> {
  const contents: Buffer[] = [];
  for (const col of cols) contents.push(await setupFile(c, pathOf(col)));
  const target = (s: number) => resolveTarget(c.dir, s);
  const down = new Set<number>();
  const outcomes: CellOutcome[] = [];
  try {
    for (const [i, col] of cols.entries()) {
      opts.onCell?.(col);
      const want = new Set(col.servers);
      const up = [...down].filter((s) => opts.isolated || !want.has(s));
      await Promise.all(up.map((s) => restartServer(target(s))));
      up.forEach((s) => down.delete(s));
      const kill = [...want].filter((s) => !down.has(s));
      await Promise.all(kill.map((s) => crashServer(target(s))));
      kill.forEach((s) => down.add(s));
      outcomes.push(await readThenWrite(c, readQuorum, pathOf(col), contents[i]!));
    }
  } finally {
    await Promise.all([...down].map((s) => restartServer(target(s))));
  }
  return outcomes;
}

async function writeFile(client: QuorumFsClient, path: string, bytes: Buffer): Promise<void> {
  await client.meta.create({ path, mode: 0o644, owner: { uid: 0, gid: 0 }, exclusive: true });
  const f = await client.open(path, { write: true });
  try {
    await f.write(0, bytes);
  } catch (err) {
    await f.close().catch(() => undefined);
    throw err;
  }
  await f.close();
}

class WrongBytesError extends Error {}

async function readAndCompare(client: QuorumFsClient, path: string, expected: Buffer): Promise<void> {
  const f = await client.open(path, { write: false });
  try {
    const got = await f.read(0, expected.length + 1);
    if (!got.equals(expected)) throw new WrongBytesError(`read returned ${got.length} bytes that differ from the ${expected.length} written`);
  } finally {
    await f.close().catch(() => undefined);
  }
}

async function attempt(fn: () => Promise<void>): Promise<OpOutcome> {
  try {
    await fn();
    return { ok: true };
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300);
    return { ok: false, detail: isFsError(err) ? `${err.code}: ${message}` : message, ...(err instanceof WrongBytesError ? { wrongBytes: true } : {}) };
  }
}
