// A real cluster for tests: one metadata server process and N data server processes on loopback,
// with kill/restart of single servers and a connected client.
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { DEFAULT_CONFIG, validateConfig, type ClusterConfig } from '../../src/common/config.js';
import { MetaClient } from '../../src/client/meta-client.js';
import { connectClient } from '../../src/client/connect.js';
import type { QuorumFsClient } from '../../src/client/fs-client.js';
import { makeSecret, startDataServer, startMetaServer, tempDir, freePort, type Proc } from './procs.js';

export interface TestCluster {
  dir: string;
  config: ClusterConfig;
  metaUrl: string;
  secret: string;
  secretFile: string;
  meta: Proc;
  /** dataServers[k-1] is data server k; replaced on restart. */
  dataServers: Proc[];
  dataDir(index: number): string;
  /** SIGKILL data server k. */
  kill(index: number): Promise<void>;
  /** Start data server k again on its port and directory. */
  restart(index: number): Promise<void>;
  /** A client connected to this cluster (closed by stop()). */
  client(opts?: { writeWaitMs?: number; readQuorum?: number }): Promise<QuorumFsClient>;
  stop(): Promise<void>;
}

export interface TestClusterOptions {
  /** Extra flags for the metadata server (e.g. ['--gc-grace-ms', '1000']). */
  metaArgs?: string[];
  /** Extra flags for every data server. */
  dataArgs?: string[];
  /** Start data servers with --meta <the metadata server>: heartbeats, scrub reports, self-healing. */
  dataMeta?: boolean;
}

export async function startTestCluster(cfg: Partial<ClusterConfig> = {}, opts: TestClusterOptions = {}): Promise<TestCluster> {
  const config = validateConfig({ ...DEFAULT_CONFIG, ...cfg });
  const dir = tempDir('qfs-cluster-');
  const [secretFile, secret] = makeSecret(dir);
  const meta = await startMetaServer({ dbPath: join(dir, 'meta', 'meta.db'), secretFile, metaArgs: opts.metaArgs });
  const ports = await Promise.all(Array.from({ length: config.replicas }, () => freePort()));
  const dataDir = (k: number) => join(dir, `data-${k}`);
  const dataArgs = [...(opts.dataMeta ? ['--meta', meta.url] : []), ...(opts.dataArgs ?? [])];
  const startData = (k: number) => startDataServer({ dir: dataDir(k), secretFile, blockSizeBytes: config.blockSizeBytes, port: ports[k - 1]!, index: k, dataArgs });
  const dataServers = await Promise.all(ports.map((_, i) => startData(i + 1)));
  const admin = new MetaClient({ url: meta.url, secret });
  await admin.format(config);
  await admin.setServers(dataServers.map((p, i) => ({ index: i + 1, url: p.url, id: null })));
  await admin.close();
  const clients: QuorumFsClient[] = [];
  const tc: TestCluster = {
    dir, config, metaUrl: meta.url, secret, secretFile, meta, dataServers,
    dataDir,
    kill: (k) => dataServers[k - 1]!.kill(),
    restart: async (k) => {
      await dataServers[k - 1]!.kill();
      dataServers[k - 1] = await startData(k);
    },
    client: async (opts = {}) => {
      const c = await connectClient({ metaUrl: meta.url, secret, writeWaitMs: opts.writeWaitMs ?? 1_000, requestTimeoutMs: 5_000, readQuorum: opts.readQuorum });
      clients.push(c);
      return c;
    },
    stop: async () => {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      // Kill whatever runs now: tests may have replaced the metadata server or a data server.
      await Promise.all([...tc.dataServers.map((p) => p.kill()), tc.meta.kill()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return tc;
}
