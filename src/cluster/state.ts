// The local cluster's on-disk layout. Everything of data server K is under DIR/data-K/, of the
// metadata server under DIR/meta/; DIR/cluster.json records the ports so a restart resumes the
// same cluster, DIR/secret holds the cluster secret (mode 0600).
import { readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { ClusterConfig } from '../common/config.js';
import { validateConfig } from '../common/config.js';

export const DEFAULT_CLUSTER_DIR = '.quorumfs';

export interface ClusterState {
  version: 1;
  config: ClusterConfig;
  host: string;
  metaPort: number;
  dataPorts: number[];
}

const stateSchema = z.object({
  version: z.literal(1),
  config: z.unknown(),
  host: z.string(),
  metaPort: z.number().int(),
  dataPorts: z.array(z.number().int()),
});

export const paths = {
  state: (dir: string) => join(dir, 'cluster.json'),
  secret: (dir: string) => join(dir, 'secret'),
  metaDir: (dir: string) => join(dir, 'meta'),
  metaDb: (dir: string) => join(dir, 'meta', 'meta.db'),
  metaLog: (dir: string) => join(dir, 'meta', 'server.log'),
  metaPid: (dir: string) => join(dir, 'meta', 'pid'),
  dataDir: (dir: string, index: number) => join(dir, `data-${index}`),
  dataLog: (dir: string, index: number) => join(dir, `data-${index}`, 'server.log'),
  dataPid: (dir: string, index: number) => join(dir, `data-${index}`, 'pid'),
  supervisorPid: (dir: string) => join(dir, 'supervisor.pid'),
  /** Unix sockets the servers also listen on, for clients on this machine (src/common/local-socket.ts). */
  runDir: (dir: string) => join(dir, 'run'),
  metaSocket: (dir: string) => join(dir, 'run', 'meta.sock'),
  dataSocket: (dir: string, index: number) => join(dir, 'run', `data-${index}.sock`),
};

/**
 * The sockets of a local cluster's servers that exist now, keyed by the URL each also answers on.
 * A client given the cluster's directory uses them instead of TCP; a path too long for a socket
 * (the servers then listen on TCP only) or a server not started with one is simply absent.
 */
export function localSockets(dir: string, state: ClusterState): Map<string, string> {
  const out = new Map<string, string>();
  const add = (url: string, path: string) => {
    if (existsSync(path)) out.set(url, path);
  };
  add(metaUrlOf(state), paths.metaSocket(dir));
  state.dataPorts.forEach((_, i) => add(dataUrlOf(state, i + 1), paths.dataSocket(dir, i + 1)));
  return out;
}

export function metaUrlOf(state: ClusterState): string {
  return `http://${state.host}:${state.metaPort}`;
}

export function dataUrlOf(state: ClusterState, index: number): string {
  return `http://${state.host}:${state.dataPorts[index - 1]}`;
}

export function readClusterState(dir: string): ClusterState | null {
  const p = paths.state(dir);
  if (!existsSync(p)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(p, 'utf8'));
  } catch {
    throw new Error(`${p} is not valid JSON; restore it or start a new cluster in another --dir`);
  }
  const s = stateSchema.safeParse(raw);
  if (!s.success) throw new Error(`${p} is malformed: ${s.error.issues[0]?.path.join('.')} ${s.error.issues[0]?.message}`);
  return { ...s.data, version: 1, config: validateConfig(s.data.config) };
}

/** Like readClusterState but with the error a user of `--dir` expects. */
export function requireClusterState(dir: string): ClusterState {
  const s = readClusterState(dir);
  if (!s) throw new Error(`no QuorumFS cluster in ${resolve(dir)} (start one with: quorumfs up --dir ${dir})`);
  return s;
}

export function writeClusterState(dir: string, state: ClusterState): void {
  const p = paths.state(dir);
  writeFileSync(p + '.tmp', JSON.stringify(state, null, 2) + '\n');
  renameSync(p + '.tmp', p);
}
