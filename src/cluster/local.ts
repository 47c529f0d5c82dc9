// The one-command local cluster: one metadata server and N data servers on loopback, all data
// under one directory. Started again on the same directory it resumes the same cluster.
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createServer } from 'node:net';
import { ensureSecretFile, readSecretFile } from '../common/auth.js';
import { validateConfig, type ClusterConfig } from '../common/config.js';
import { DataClient } from '../client/data-client.js';
import { MetaClient } from '../client/meta-client.js';
import { paths, readClusterState, writeClusterState, metaUrlOf, dataUrlOf, type ClusterState } from './state.js';
import { allServers, runningPid, startServer, stopServer, stopServerPid, serverName, lastLogLine, type ServerRef } from './processes.js';

export interface UpOptions {
  dir: string;
  /** Config for a new cluster; for an existing one it must match (or be undefined). */
  config?: Partial<ClusterConfig>;
  readyTimeoutMs?: number;
}

async function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, host, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => res(port));
    });
  });
}

/** Creates DIR's state on first start, or loads it and checks the requested config matches. */
export async function prepareCluster(opts: UpOptions, defaults: ClusterConfig): Promise<ClusterState> {
  const dir = resolve(opts.dir);
  const existing = readClusterState(dir);
  if (existing) {
    for (const [k, v] of Object.entries(opts.config ?? {})) {
      if (v !== undefined && existing.config[k as keyof ClusterConfig] !== v) {
        throw new Error(`cluster in ${dir} was created with ${k}=${existing.config[k as keyof ClusterConfig]}, not ${v}; drop the flag or use another --dir`);
      }
    }
    return existing;
  }
  // Validate before touching the disk: a refused config leaves nothing behind.
  const config = validateConfig({ ...defaults, ...stripUndefined(opts.config ?? {}) });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  ensureSecretFile(paths.secret(dir));
  const host = '127.0.0.1';
  const metaPort = await freePort(host);
  const dataPorts: number[] = [];
  while (dataPorts.length < config.replicas) {
    const p = await freePort(host);
    if (p !== metaPort && !dataPorts.includes(p)) dataPorts.push(p);
  }
  const state: ClusterState = { version: 1, config, host, metaPort, dataPorts };
  writeClusterState(dir, state);
  return state;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The servers one start found or started, by pid, and the cluster's secret then: what a foreground
 * `up` stops when it ends, even if the directory was deleted or holds another cluster by then.
 */
export interface ClusterRun {
  secret: string;
  pids: Map<string, number>;
}

/** Starts every server that is not running, waits until all answer, formats and registers members. */
export async function startCluster(dir: string, state: ClusterState, readyTimeoutMs = 30_000): Promise<ClusterRun> {
  dir = resolve(dir);
  const secret = ensureSecretFile(paths.secret(dir));
  const pids = new Map<string, number>();
  for (const ref of allServers(state)) {
    if (ref.kind === 'data') mkdirSync(paths.dataDir(dir, ref.index), { recursive: true });
    else mkdirSync(paths.metaDir(dir), { recursive: true });
    pids.set(serverName(ref), runningPid(dir, ref) ?? startServer(dir, state, ref));
  }
  await Promise.all(allServers(state).map((ref) => waitReady(dir, state, ref, secret, readyTimeoutMs)));
  const meta = new MetaClient({ url: metaUrlOf(state), secret });
  try {
    await meta.format(state.config);
    await meta.setServers(state.dataPorts.map((_, i) => ({ index: i + 1, url: dataUrlOf(state, i + 1), id: null })));
  } finally {
    await meta.close();
  }
  return { secret, pids };
}

/** Polls a server's health endpoint until it answers, or fails with its last log line. */
export async function waitReady(dir: string, state: ClusterState, ref: ServerRef, secret: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const url = ref.kind === 'meta' ? metaUrlOf(state) : dataUrlOf(state, ref.index);
  for (;;) {
    const c = new DataClient({ index: 0, url, secret, requestTimeoutMs: 2_000, connectTimeoutMs: 1_000, connections: 1 });
    try {
      await c.health();
      return;
    } catch {
      // not up yet
    } finally {
      await c.close();
    }
    if (runningPid(dir, ref) === null) {
      throw new Error(`${serverName(ref)} exited during start: ${lastLogLine(dir, ref) || 'no log'} (log: ${ref.kind === 'meta' ? paths.metaLog(dir) : paths.dataLog(dir, ref.index)})`);
    }
    if (Date.now() > deadline) throw new Error(`${serverName(ref)} did not answer within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Stops the cluster's servers: those its pid files name and, given the run that started them, those
 * too (a server restarted since, e.g. by a chaos command, is only in its pid file). If the directory
 * no longer holds that run's cluster (deleted, or made anew by another `up`: another secret), its
 * pid files belong to someone else and only the run's own servers are stopped.
 */
export async function stopCluster(dir: string, state: ClusterState, run?: ClusterRun): Promise<number> {
  dir = resolve(dir);
  const ours = run === undefined || readSecret(dir) === run.secret;
  const stop = async (ref: ServerRef): Promise<boolean> => {
    const pid = run?.pids.get(serverName(ref));
    const started = pid === undefined ? false : await stopServerPid(dir, ref, pid);
    const filed = ours ? await stopServer(dir, ref) : false;
    return started || filed;
  };
  // Data servers first so no write is half-acknowledged when the metadata server goes.
  const [metaRef, ...dataRefs] = allServers(state);
  const stopped = await Promise.all(dataRefs.map(stop));
  stopped.push(await stop(metaRef!));
  return stopped.filter(Boolean).length;
}

function readSecret(dir: string): string | null {
  try {
    return readSecretFile(paths.secret(dir));
  } catch {
    return null;
  }
}
