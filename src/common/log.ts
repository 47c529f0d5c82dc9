import { pino, destination, type Logger } from 'pino';

export type { Logger };

/**
 * One JSON line per event on stderr (servers) so `DIR/<server>/server.log` can be grepped and
 * shipped; QUORUMFS_LOG_LEVEL overrides the level (debug when chasing a fault).
 */
export function createLogger(name: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({ name, level: process.env.QUORUMFS_LOG_LEVEL ?? 'info', base: { pid: process.pid, ...bindings } }, destination(2));
}

/** For library code used inside tests and the CLI where nothing should be printed. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
