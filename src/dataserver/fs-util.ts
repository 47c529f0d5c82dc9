import { closeSync, fsync, openSync } from 'node:fs';
import { FsError } from '../common/errors.js';

/** The errno name of a Node fs error, or undefined for anything else. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** Quota exhaustion is the same thing as a full disk for the client: no room for this block here. */
export function isDiskFull(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Maps a full disk to FsError('ENOSPC') (answered 507); other errors pass through unchanged. */
export function mapDiskFull(err: unknown, what: string): unknown {
  return isDiskFull(err) ? new FsError('ENOSPC', `disk full while ${what}`) : err;
}

/**
 * fsyncs a file or a directory. A read-only descriptor is enough on Linux, and directories cannot be
 * opened for writing anyway; fsync on a directory makes the names in it (renames, mkdirs) durable.
 */
export async function fsyncPath(path: string): Promise<void> {
  // open and close synchronously (microseconds); only the fsync waits in the thread pool.
  const fd = openSync(path, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeSync(fd);
  }
}

/** fsync(2) of an open descriptor, in the thread pool. */
export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
}
