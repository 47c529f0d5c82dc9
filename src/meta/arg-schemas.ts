// Wire validation of every request the metadata server accepts. A body that does not match is
// refused with EINVAL before the store is touched, so a malformed request changes nothing.
import { z } from 'zod';
import { BLOCK_NAME_RE } from '../common/protocol.js';
import { FsError } from '../common/errors.js';
import { MAX_UNLINK_BATCH, META_METHODS } from './api.js';

export type MetaMethod = (typeof META_METHODS)[number];

const path = z.string({ required_error: 'is required', invalid_type_error: 'must be a string' });
const wholeNumber = z.number({ required_error: 'is required', invalid_type_error: 'must be a number' }).int('must be a whole number');
const u32 = wholeNumber.min(0, 'must be >= 0').max(0xffff_ffff, 'must fit in 32 bits');
/** Permission bits; file-type bits from a raw st_mode are tolerated and dropped by the store. */
const mode = wholeNumber.min(0, 'must be >= 0').max(0o177777, 'is not a file mode');
const owner = z.object({ uid: u32, gid: u32 }).strict();
const ino = wholeNumber.min(1, 'must be >= 1');
const timeMs = z.number({ invalid_type_error: 'must be a number' }).finite('must be finite');
const hash = z.string({ invalid_type_error: 'must be a string' }).regex(BLOCK_NAME_RE, 'must be a block name (64 lowercase hex characters)');
const serverIndex = wholeNumber.min(1, 'must be >= 1');
const none = z.object({}).strict();

export const META_ARG_SCHEMAS: Record<MetaMethod, z.ZodTypeAny> = {
  getCluster: none,
  lookup: z.object({ path }).strict(),
  readdir: z.object({ path }).strict(),
  create: z.object({ path, mode, owner, exclusive: z.boolean({ required_error: 'is required', invalid_type_error: 'must be true or false' }) }).strict(),
  mkdir: z.object({ path, mode, owner }).strict(),
  symlink: z.object({ path, target: z.string({ required_error: 'is required', invalid_type_error: 'must be a string' }), owner }).strict(),
  readlink: z.object({ path }).strict(),
  link: z.object({ path, newPath: path }).strict(),
  unlink: z.object({ path }).strict(),
  unlinkMany: z.object({
    entries: z.array(z.object({ path, ino: ino.optional() }).strict())
      .min(1, 'must not be empty').max(MAX_UNLINK_BATCH, `must hold at most ${MAX_UNLINK_BATCH} entries`),
    answered: z.boolean({ invalid_type_error: 'must be true or false' }).optional(),
  }).strict(),
  rmdir: z.object({ path }).strict(),
  rename: z.object({ from: path, to: path }).strict(),
  setattr: z.object({
    path, mode: mode.optional(), uid: u32.optional(), gid: u32.optional(), atimeMs: timeMs.optional(), mtimeMs: timeMs.optional(),
  }).strict(),
  statfs: none,
  getLayout: z.object({ ino }).strict(),
  openPath: z.object({ path }).strict(),
  commit: z.object({
    ino,
    size: wholeNumber.min(0, 'must be >= 0').max(Number.MAX_SAFE_INTEGER, 'is too large'),
    blocks: z.array(hash.nullable()),
    blockSizes: z.record(hash, wholeNumber.min(1, 'must be >= 1')),
    mtimeMs: timeMs.optional(),
    expectVersion: wholeNumber.min(0, 'must be >= 0').optional(),
    unreserved: z.array(hash).optional(),
  }).strict(),
  reserveBlocks: z.object({ hashes: z.array(hash) }).strict(),
  reportFaults: z.object({
    faults: z.array(z.object({ hash, server: serverIndex, reason: z.enum(['missing', 'corrupt', 'write-missed']) }).strict()),
  }).strict(),
  sync: none,
};

export const ADMIN_SCHEMAS = {
  format: z.object({ config: z.unknown() }).strict(),
  servers: z.object({
    servers: z.array(z.object({ index: serverIndex, url: z.string().min(1, 'must not be empty'), id: z.string().nullable() }).strict()),
  }).strict(),
};

const count = wholeNumber.min(0, 'must be >= 0');
export const HEARTBEAT_SCHEMA = z.object({
  index: serverIndex,
  id: z.string().min(1, 'must not be empty').max(200, 'is too long'),
  url: z.string().min(1, 'must not be empty').max(512, 'is too long'),
  blocks: count,
  bytes: count,
  diskFreeBytes: count,
  diskTotalBytes: count,
  scrub: z.object({ passStartedAtMs: count, checkedBlocks: count, corruptFound: count }).strict().optional(),
}).strict();

export function isMetaMethod(name: string): name is MetaMethod {
  return (META_METHODS as readonly string[]).includes(name);
}

/** Parses or throws EINVAL naming the first offending field, e.g. "commit: blocks.3 must be a block name". */
export function parseArgs<T extends z.ZodTypeAny>(what: string, schema: T, body: unknown): z.infer<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.length ? `${issue.path.join('.')} ` : '';
  const msg = issue?.code === 'unrecognized_keys' ? issue.message.toLowerCase() : `${field}${issue?.message ?? 'is malformed'}`;
  throw new FsError('EINVAL', `invalid arguments for ${what}: ${msg}`);
}
