import { z } from 'zod';

/** Cluster-wide replication settings, fixed at format time and stored by the metadata server. */
export interface ClusterConfig {
  /** N: copies of every block. */
  replicas: number;
  /** Qw: durable copies a write needs before it is acknowledged. */
  writeQuorum: number;
  /** Qr: verified copies a read needs before bytes are returned. */
  readQuorum: number;
  blockSizeBytes: number;
}

export const DEFAULT_CONFIG: ClusterConfig = {
  replicas: 5,
  writeQuorum: 5,
  readQuorum: 3,
  blockSizeBytes: 1024 * 1024,
};

export const MAX_REPLICAS = 64;
export const MIN_BLOCK_SIZE_BYTES = 4096;
export const MAX_BLOCK_SIZE_BYTES = 64 * 1024 * 1024;

const int = (what: string) =>
  z.number({ invalid_type_error: `${what} must be a whole number` }).int(`${what} must be a whole number`);

const schema = z.object({
  replicas: int('replicas (N)').min(1, 'replicas (N) must be at least 1').max(MAX_REPLICAS, `replicas (N) must be at most ${MAX_REPLICAS}`),
  writeQuorum: int('write quorum (Qw)').min(1, 'write quorum (Qw) must be at least 1'),
  readQuorum: int('read quorum (Qr)').min(1, 'read quorum (Qr) must be at least 1'),
  blockSizeBytes: int('block size')
    .min(MIN_BLOCK_SIZE_BYTES, `block size must be at least ${MIN_BLOCK_SIZE_BYTES} bytes`)
    .max(MAX_BLOCK_SIZE_BYTES, `block size must be at most ${MAX_BLOCK_SIZE_BYTES} bytes`),
});

/**
 * Validates a cluster config and returns it, or throws an Error whose message is one line that
 * says which rule was broken and why the rule exists.
 */
export function validateConfig(input: unknown): ClusterConfig {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new Error(`invalid config: ${parsed.error.issues[0]?.message ?? 'malformed'}`);
  const c = parsed.data;
  if (c.writeQuorum > c.replicas) {
    throw new Error(`invalid config: write quorum Qw=${c.writeQuorum} exceeds replicas N=${c.replicas}; a write can never collect more copies than exist`);
  }
  if (c.readQuorum > c.replicas) {
    throw new Error(`invalid config: read quorum Qr=${c.readQuorum} exceeds replicas N=${c.replicas}; a read can never confirm more copies than exist`);
  }
  if (c.readQuorum + c.writeQuorum <= c.replicas) {
    throw new Error(`invalid config: Qr + Qw must exceed N (${c.readQuorum} + ${c.writeQuorum} <= ${c.replicas}), otherwise a read quorum can miss every copy of the latest write`);
  }
  return c;
}

/** Parses a CLI number argument strictly: "5" is 5, "5x", "", "1e3" and "2.5" are refused. */
export function parseIntArg(name: string, raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return Number(raw.trim());
}

/** Parses sizes like 1048576, 1M, 1MiB, 64K. */
export function parseSizeArg(name: string, raw: string): number {
  const m = /^(\d+)\s*([kKmMgG]?)(i?[bB])?$/.exec(raw.trim());
  if (!m) throw new Error(`${name} must be a size in bytes (e.g. 1048576 or 1MiB), got "${raw}"`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * mult;
}
