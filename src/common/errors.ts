// Errors that cross component boundaries carry a POSIX errno name, so the FUSE layer can
// return it unchanged and the CLI can print one readable line.

export type ErrnoCode =
  | 'ENOENT' | 'EEXIST' | 'ENOTEMPTY' | 'EISDIR' | 'ENOTDIR' | 'EACCES' | 'EPERM'
  | 'ENAMETOOLONG' | 'EINVAL' | 'EIO' | 'ENOSPC' | 'EXDEV' | 'ELOOP' | 'EBADF'
  | 'ETIMEDOUT' | 'EFBIG' | 'ESTALE' | 'EAGAIN';

export class FsError extends Error {
  readonly code: ErrnoCode;
  constructor(code: ErrnoCode, message: string) {
    super(message);
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
