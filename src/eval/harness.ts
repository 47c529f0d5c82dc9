// A real local cluster for eval: the same processes `quorumfs up` starts, in a directory of eval's
// own, with a small block size so every file spans several blocks and a short write wait so a
// write that cannot reach Qw fails in a fraction of a second instead of the default ten.
import { join } from 'node:path';
import { connectClient } from '../client/connect.js';
import type { QuorumFsClient } from '../client/fs-client.js';
import { readSecretFile } from '../common/auth.js';
import { validateConfig } from '../common/config.js';
import { prepareCluster, startCluster, stopCluster } from '../cluster/local.js';
import { metaUrlOf, paths, type ClusterState } from '../cluster/state.js';
import type { ClusterSpec } from './plan.js';

export interface HarnessOptions {
  blockSizeBytes: number;
  writeWaitMs: number;
  /** Per request to a data server; a crashed one refuses connections at once, so this is a backstop. */
  requestTimeoutMs: number;
}

export interface EvalCluster {
  dir: string;
  state: ClusterState;
  secret: string;
  spec: ClusterSpec;
  /** Writes with the cluster's Qw. */
  writer: QuorumFsClient;
  /** A client reading with this Qr (one per Qr, kept for the cluster's life). */
  reader(readQuorum: number): Promise<QuorumFsClient>;
  stop(): Promise<void>;
}

export async function startEvalCluster(root: string, spec: ClusterSpec, opts: HarnessOptions): Promise<EvalCluster> {
  const dir = join(root, spec.key);
  const config = validateConfig({ replicas: spec.replicas, writeQuorum: spec.writeQuorum, readQuorum: spec.readQuorum, blockSizeBytes: opts.blockSizeBytes });
  const state = await prepareCluster({ dir, config }, config);
  const clients: QuorumFsClient[] = [];
  const stop = async () => {
    await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
    await stopCluster(dir, state);
  };
  try {
    await startCluster(dir, state);
    const secret = readSecretFile(paths.secret(dir));
    const connect = async (readQuorum?: number) => {
      const c = await connectClient({ metaUrl: metaUrlOf(state), secret, writeWaitMs: opts.writeWaitMs, requestTimeoutMs: opts.requestTimeoutMs, readQuorum });
      clients.push(c);
      return c;
    };
    const writer = await connect();
    await writer.meta.mkdir({ path: '/eval', mode: 0o755, owner: { uid: 0, gid: 0 } });
    const readers = new Map<number, Promise<QuorumFsClient>>();
    const reader = (qr: number) => {
      if (!readers.has(qr)) readers.set(qr, connect(qr));
      return readers.get(qr)!;
    };
    return { dir, state, secret, spec, writer, reader, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
