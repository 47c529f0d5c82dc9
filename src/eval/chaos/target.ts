// Which data server of which local cluster a chaos command aims at, checked before anything is
// touched so a typo never hurts the wrong server.
import { resolve } from 'node:path';
import { readSecretFile } from '../../common/auth.js';
import { parseIntArg } from '../../common/config.js';
import { paths, requireClusterState, type ClusterState } from '../../cluster/state.js';
import { runningPid, type ServerRef } from '../../cluster/processes.js';

export interface ChaosTarget {
  dir: string;
  state: ClusterState;
  secret: string;
  index: number;
  ref: ServerRef & { kind: 'data' };
  dataDir: string;
}

export function resolveTarget(dirOption: string, kRaw: string | number): ChaosTarget {
  const dir = resolve(dirOption);
  const state = requireClusterState(dir);
  const index = typeof kRaw === 'number' ? kRaw : parseIntArg('K', kRaw);
  const n = state.dataPorts.length;
  if (index < 1 || index > n) {
    throw new Error(`data server ${index} does not exist: the cluster in ${dir} has data servers 1..${n}`);
  }
  return { dir, state, secret: readSecretFile(paths.secret(dir)), index, ref: { kind: 'data', index }, dataDir: paths.dataDir(dir, index) };
}

/** Faults are injected into a running cluster; the metadata server is what "running" means. */
export function requireClusterRunning(t: { dir: string }): void {
  if (runningPid(t.dir, { kind: 'meta' }) === null) {
    throw new Error(`the cluster in ${t.dir} is not running (start it with: quorumfs up --dir ${t.dir} --detach)`);
  }
}
