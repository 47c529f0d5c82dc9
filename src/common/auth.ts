import { timingSafeEqual, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';

/** Compares the presented authorization header with the expected one in constant time. */
export function checkAuth(header: string | undefined, secret: string): boolean {
  if (!header) return false;
  const want = Buffer.from(`Bearer ${secret}`);
  const got = Buffer.from(header);
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Reads a secret file; refuses files other users can read, as ssh does with keys. */
export function readSecretFile(path: string): string {
  if (!existsSync(path)) throw new Error(`secret file not found: ${path}`);
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) throw new Error(`secret file ${path} is readable by others (mode ${mode.toString(8)}); run chmod 600 ${path}`);
  const secret = readFileSync(path, 'utf8').trim();
  if (!/^[0-9a-f]{32,}$/.test(secret)) throw new Error(`secret file ${path} does not hold a secret (expected 32+ hex characters)`);
  return secret;
}

/** Creates a new random secret with mode 0600 if the file does not exist yet. */
export function ensureSecretFile(path: string): string {
  if (!existsSync(path)) writeFileSync(path, randomBytes(32).toString('hex') + '\n', { mode: 0o600, flag: 'wx' });
  return readSecretFile(path);
}
