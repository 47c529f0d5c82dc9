// Errors that cross component boundaries carry a POSIX errno name, so the FUSE layer can
// return it unchanged and the CLI can print one readable line.

export type ErrnoCode =
  | 'ENOENT' | 'EEXIST' | 'ENOTEMPTY' | 'EISDIR' | 'ENOTDIR' | 'EACCES' | 'EPERM'
  | 'ENAMETOOLONG' | 'EINVAL' | 'EIO' | 'ENOSPC' | 'EXDEV' | 'ELOOP' | 'EBADF'
  | 'ETIMEDOUT' | 'EFBIG' | 'ESTALE' | 'EAGAIN';

/**
 * Errnos that answer a question ("no such name", "the name is taken", "not empty") rather than
 * report a failure: every create's LOOKUP, a shell's probes and `mkdir -p` make them by the
 * thousand. They are made without a stack trace, whose capture is most of what constructing an
 * Error costs (a V8 profile of 3,000 creates through a mount: the FsError constructor alone was
 * ~2% of the mount's busy time); their message says all there is, and they are logged at debug.
 */
export const ANSWER_CODES: ReadonlySet<string> = new Set(['ENOENT', 'EEXIST', 'ENOTEMPTY', 'EISDIR', 'ENOTDIR', 'ENAMETOOLONG', 'EXDEV', 'ELOOP']);

export class FsError extends Error {
  readonly code: ErrnoCode;
  constructor(code: ErrnoCode, message: string) {
    const stackLimit = Error.stackTraceLimit;
    if (ANSWER_CODES.has(code)) Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = stackLimit;
    this.name = 'FsError';
    this.code = code;
  }
}

export function isFsError(err: unknown): err is FsError {
  return err instanceof FsError;
}

/** Turns anything thrown into an FsError; unknown failures become EIO so callers never leak stack traces. */
export function toFsError(err: unknown): FsError {
  if (err instanceof FsError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new FsError(code as ErrnoCode, message);
  return new FsError('EIO', message);
}
