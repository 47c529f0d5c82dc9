import type { Logger } from '../common/log.js';

/**
 * A stored copy whose bytes no longer hash to its name. Kept apart from FsError because EBADMSG is a
 * data-server answer (409) that clients must count as "no good copy here", never as a missing block.
 */
export class CorruptBlockError extends Error {
  readonly code = 'EBADMSG' as const;
  readonly hash: string;
  /** Where the bad copy was moved, or null if it had already been replaced or removed. */
  readonly quarantinedTo: string | null;

  constructor(hash: string, message: string, quarantinedTo: string | null) {
    super(message);
    this.name = 'CorruptBlockError';
    this.hash = hash;
    this.quarantinedTo = quarantinedTo;
  }
}

/**
 * What a request that met a corrupt copy does beyond failing, over HTTP or a block link: a corrupt
 * copy is news for the repair machinery, and the server reports it itself (a client that met it
 * may be gone before it reports).
 */
export function noteCorruptCopy(err: CorruptBlockError, logger: Logger, onCorrupt?: (hash: string) => void): void {
  logger.warn({ hash: err.hash, quarantinedTo: err.quarantinedTo }, 'corrupt block copy detected');
  if (err.quarantinedTo !== null) onCorrupt?.(err.hash);
}

export function isCorruptBlockError(err: unknown): err is CorruptBlockError {
  return err instanceof CorruptBlockError;
}
