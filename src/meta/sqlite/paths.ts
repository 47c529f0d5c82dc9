// Path syntax. The API takes absolute, normalized paths ('/a/b', root '/'); the FUSE kernel and the
// CLI normalize before calling, so anything else is a caller bug and refused with EINVAL.
import { FsError } from '../../common/errors.js';
import { MAX_NAME_BYTES } from '../api.js';

/** Linux PATH_MAX, including the terminating NUL. */
export const MAX_PATH_BYTES = 4096;

/** Splits '/a/b' into ['a', 'b'] ('/' gives []), checking every component. */
export function splitPath(path: string): string[] {
  if (typeof path !== 'string' || !path.startsWith('/')) throw new FsError('EINVAL', `path must be absolute: ${JSON.stringify(path)}`);
  if (Buffer.byteLength(path) >= MAX_PATH_BYTES) throw new FsError('ENAMETOOLONG', `path longer than ${MAX_PATH_BYTES - 1} bytes`);
  if (path === '/') return [];
  const parts = path.slice(1).split('/');
  for (const name of parts) checkName(name, path);
  return parts;
}

export function checkName(name: string, path: string): void {
  if (name === '' || name === '.' || name === '..') throw new FsError('EINVAL', `path is not normalized (empty, '.' or '..' component): ${path}`);
  if (name.includes('\0')) throw new FsError('EINVAL', `path contains a NUL byte: ${JSON.stringify(path)}`);
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new FsError('ENAMETOOLONG', `file name longer than ${MAX_NAME_BYTES} bytes in ${path}`);
}
