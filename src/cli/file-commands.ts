// File commands that work without FUSE: ls, stat, mkdir, put, get, cat, rm, mv.
import type { Command } from 'commander';
import { open as openLocal, stat as statLocal } from 'node:fs/promises';
import { posix } from 'node:path';
import type { QuorumFsClient } from '../client/fs-client.js';
import { FsError } from '../common/errors.js';
import type { Attr } from '../meta/api.js';
import { endpointOptions, type EndpointOptions } from './options.js';

/** Remote paths are absolute inside the file system; "a/b" means "/a/b". */
export function remotePath(p: string): string {
  const n = posix.normalize('/' + p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

async function withClient<T>(o: EndpointOptions, fn: (c: QuorumFsClient) => Promise<T>): Promise<T> {
  // Loaded here: the client is most of the CLI's code, and other commands do not need it.
  const { connectFromOptions } = await import('../client/connect.js');
  const c = await connectFromOptions(o);
  try {
    return await fn(c);
  } finally {
    await c.close();
  }
}

function owner() {
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

function modeString(a: Attr): string {
  const t = a.type === 'dir' ? 'd' : a.type === 'symlink' ? 'l' : '-';
  const rwx = (b: number) => `${b & 4 ? 'r' : '-'}${b & 2 ? 'w' : '-'}${b & 1 ? 'x' : '-'}`;
  return t + rwx(a.mode >> 6) + rwx(a.mode >> 3) + rwx(a.mode);
}

function longLine(a: Attr, name: string): string {
  const when = new Date(a.mtimeMs).toISOString().slice(0, 19).replace('T', ' ');
  return `${modeString(a)} ${String(a.nlink).padStart(3)} ${String(a.uid).padStart(5)} ${String(a.gid).padStart(5)} ${String(a.size).padStart(12)} ${when} ${name}`;
}

/** Streams a local file into the cluster block by block; memory stays bounded by the write window. */
export async function putFile(c: QuorumFsClient, local: string, remote: string): Promise<number> {
  const st = await statLocal(local);
  if (!st.isFile()) throw new FsError('EINVAL', `${local} is not a regular file`);
  const attr = await c.meta.create({ path: remote, mode: st.mode & 0o7777, owner: owner(), exclusive: false });
  if (attr.type !== 'file') throw new FsError('EISDIR', `${remote} is not a regular file`);
  const f = await c.openIno(attr.ino, { write: true, truncate: true, knownEmpty: attr.size === 0 });
  const fh = await openLocal(local, 'r');
  const chunk = Buffer.alloc(c.config.blockSizeBytes);
  let offset = 0;
  try {
    for (;;) {
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, offset);
      if (bytesRead === 0) break;
      await f.write(offset, chunk.subarray(0, bytesRead));
      offset += bytesRead;
    }
    await f.close();
  } finally {
    await fh.close();
  }
  return offset;
}

/** Streams a file out of the cluster to a local file, or to stdout when local is undefined. */
export async function getFile(c: QuorumFsClient, remote: string, local?: string): Promise<number> {
  const f = await c.open(remote, { write: false });
  const out = local ? await openLocal(local, 'w') : null;
  const step = c.config.blockSizeBytes;
  let offset = 0;
  try {
    for (;;) {
      const buf = await f.read(offset, step);
      if (buf.length === 0) break;
      if (out) await out.write(buf, 0, buf.length, offset);
      else if (!process.stdout.write(buf)) await new Promise((r) => process.stdout.once('drain', r));
      offset += buf.length;
    }
    if (out) await out.sync();
  } finally {
    await out?.close();
    await f.close();
  }
  return offset;
}

async function removeTree(c: QuorumFsClient, path: string): Promise<void> {
  const a = await c.meta.lookup({ path });
  if (a.type !== 'dir') return c.meta.unlink({ path });
  for (const e of await c.meta.readdir({ path })) await removeTree(c, posix.join(path, e.name));
  await c.meta.rmdir({ path });
}

export function registerFileCommands(program: Command): void {
  endpointOptions(program.command('ls [path]').description('list a directory'))
    .action((path: string | undefined, o: EndpointOptions) => withClient(o, async (c) => {
      const p = remotePath(path ?? '/');
      const a = await c.meta.lookup({ path: p });
      const entries = a.type === 'dir' ? await c.meta.readdir({ path: p }) : [{ name: posix.basename(p), attr: a }];
      for (const e of entries) process.stdout.write(longLine(e.attr, e.name) + '\n');
    }));

  endpointOptions(program.command('stat <path>').description('show a file\'s attributes'))
    .action((path: string, o: EndpointOptions) => withClient(o, async (c) => {
      const a = await c.meta.lookup({ path: remotePath(path) });
      const lines = [`path: ${remotePath(path)}`, `type: ${a.type}`, `inode: ${a.ino}`, `size: ${a.size}`, `mode: ${modeString(a)} (${a.mode.toString(8)})`,
        `links: ${a.nlink}`, `uid: ${a.uid}`, `gid: ${a.gid}`, `atime: ${new Date(a.atimeMs).toISOString()}`,
        `mtime: ${new Date(a.mtimeMs).toISOString()}`, `ctime: ${new Date(a.ctimeMs).toISOString()}`];
      if (a.type === 'file') {
        const l = await c.meta.getLayout({ ino: a.ino });
        lines.push(`blocks: ${l.blocks.length} (${l.blocks.filter((b) => b === null).length} holes)`);
      }
      process.stdout.write(lines.join('\n') + '\n');
    }));

  endpointOptions(program.command('mkdir <path>').description('create a directory').option('-p, --parents', 'create parents as needed; no error if it exists'))
    .action((path: string, o: EndpointOptions & { parents?: boolean }) => withClient(o, async (c) => {
      const p = remotePath(path);
      if (!o.parents) return void (await c.meta.mkdir({ path: p, mode: 0o755, owner: owner() }));
      let cur = '';
      for (const part of p.split('/').filter(Boolean)) {
        cur += '/' + part;
        await c.meta.mkdir({ path: cur, mode: 0o755, owner: owner() }).catch((err: unknown) => {
          if (!(err instanceof FsError && err.code === 'EEXIST')) throw err;
        });
      }
    }));

  endpointOptions(program.command('put <local> <remote>').description('copy a local file into the file system'))
    .action((local: string, remote: string, o: EndpointOptions) => withClient(o, async (c) => {
      let target = remotePath(remote);
      const existing = await c.meta.lookup({ path: target }).catch(() => null);
      if (existing?.type === 'dir') target = posix.join(target, posix.basename(local));
      await putFile(c, local, target);
    }));

  endpointOptions(program.command('get <remote> <local>').description('copy a file out of the file system'))
    .action((remote: string, local: string, o: EndpointOptions) => withClient(o, async (c) => {
      await getFile(c, remotePath(remote), local);
    }));

  endpointOptions(program.command('cat <path>').description('write a file to standard output'))
    .action((path: string, o: EndpointOptions) => withClient(o, async (c) => {
      await getFile(c, remotePath(path));
    }));

  endpointOptions(program.command('rm <path>').description('remove a file (or a directory tree with -r)').option('-r, --recursive', 'remove directories and their contents'))
    .action((path: string, o: EndpointOptions & { recursive?: boolean }) => withClient(o, async (c) => {
      const p = remotePath(path);
      if (o.recursive) return removeTree(c, p);
      const a = await c.meta.lookup({ path: p });
      if (a.type === 'dir') throw new FsError('EISDIR', `${p} is a directory (use rm -r)`);
      await c.meta.unlink({ path: p });
    }));

  endpointOptions(program.command('mv <from> <to>').description('rename or move, replacing an existing target'))
    .action((from: string, to: string, o: EndpointOptions) => withClient(o, async (c) => {
      await c.meta.rename({ from: remotePath(from), to: remotePath(to) });
    }));
}
