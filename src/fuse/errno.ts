// FsError codes (and anything else thrown) to the errno numbers the kernel gets back.
import { constants } from 'node:os';
import { ANSWER_CODES } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { ErrnoError } from './adapter.js';

const ERRNO = constants.errno as Record<string, number>;
export const EIO = ERRNO.EIO!;

/**
 * Codes that are part of normal operation (a shell probing for files, mkdir -p, rm -r) are not
 * logged above debug; everything else is a failure someone should be able to find in the log.
 */
const ROUTINE = new Set([...ANSWER_CODES, 'EINVAL', 'EACCES', 'EPERM']);

/** Maps a failure of `op` on `path` to an ErrnoError; unknown failures become EIO with the reason logged. */
export function toErrnoError(err: unknown, op: string, path: string, logger: Logger): ErrnoError {
  if (err instanceof ErrnoError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && ERRNO[code] !== undefined) {
    if (ROUTINE.has(code)) logger.debug({ op, path, code }, message);
    else logger.warn({ op, path, code }, message);
    return new ErrnoError(ERRNO[code]!, message);
  }
  logger.error({ op, path, code, err }, `unexpected failure, answering EIO: ${message}`);
  return new ErrnoError(EIO, message);
}

export function errno(code: string): ErrnoError {
  return new ErrnoError(ERRNO[code] ?? EIO, code);
}
