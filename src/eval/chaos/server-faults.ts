// Crash, restart and blank restart of one data server of a local cluster: the report's terminate()
// and restart0(), done to real processes and real disks.
import { readFile, rm, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { DataClient } from '../../client/data-client.js';
import type { DataServerHealth } from '../../common/protocol.js';
import { dataUrlOf } from '../../cluster/state.js';
import { killServer, runningPid, startServer } from '../../cluster/processes.js';
import { waitReady } from '../../cluster/local.js';
import { listBlockFiles } from './block-files.js';
import type { ChaosTarget } from './target.js';

/** A restarted data server re-indexes its blocks before it listens; this bounds that wait. */
const READY_TIMEOUT_MS = 30_000;

/** SIGKILL: no shutdown handler runs, unsynced writes are lost as in a power cut. */
export async function crashServer(t: ChaosTarget): Promise<number> {
  const pid = runningPid(t.dir, t.ref);
  if (pid === null) throw new Error(`data server ${t.index} is not running (nothing to kill; start it with: quorumfs chaos restart ${t.index} --dir ${t.dir})`);
  await killServer(t.dir, t.ref);
  return pid;
}

export interface RestartResult {
  pid: number;
  /** Pid that was SIGKILLed first, if the server was running. */
  killedPid: number | null;
  health: DataServerHealth;
}

/** Starts the server on its port and data directory (killing it first if it runs) and waits for it. */
export async function restartServer(t: ChaosTarget): Promise<RestartResult> {
  const killedPid = runningPid(t.dir, t.ref);
  if (killedPid !== null) await killServer(t.dir, t.ref);
  const pid = startServer(t.dir, t.state, t.ref);
  await waitReady(t.dir, t.state, t.ref, t.secret, READY_TIMEOUT_MS);
  return { pid, killedPid, health: await healthOf(t) };
}

export interface WipeResult extends RestartResult {
  oldId: string | null;
  deletedBlocks: number;
}

/** Kill, delete the whole data directory (blocks, identity, log), start blank with a new identity. */
export async function wipeServer(t: ChaosTarget): Promise<WipeResult> {
  const killedPid = runningPid(t.dir, t.ref);
  if (killedPid !== null) await killServer(t.dir, t.ref);
  const oldId = await readIdentity(t.dataDir);
  const deletedBlocks = (await listBlockFiles(t.dataDir)).length;
  await rm(t.dataDir, { recursive: true, force: true });
  await mkdir(t.dataDir, { recursive: true, mode: 0o700 });
  const pid = startServer(t.dir, t.state, t.ref);
  await waitReady(t.dir, t.state, t.ref, t.secret, READY_TIMEOUT_MS);
  return { pid, killedPid, health: await healthOf(t), oldId, deletedBlocks };
}

export async function readIdentity(dataDir: string): Promise<string | null> {
  try {
    return (JSON.parse(await readFile(join(dataDir, 'identity.json'), 'utf8')) as { id?: string }).id ?? null;
  } catch {
    return null;
  }
}

export async function healthOf(t: ChaosTarget): Promise<DataServerHealth> {
  const c = new DataClient({ index: t.index, url: dataUrlOf(t.state, t.index), secret: t.secret, requestTimeoutMs: 5_000, connectTimeoutMs: 1_000, connections: 1 });
  try {
    return await c.health();
  } finally {
    await c.close();
  }
}
