// An in-memory FsClient with POSIX errno behaviour and close-to-open file semantics, so the FUSE
// layer can be tested without a cluster (and its behaviour compared with the real client's).
import type { FsClient, OpenFile, OpenOptions } from '../../src/client/types.js';
import type { ClusterConfig } from '../../src/common/config.js';
import { FsError } from '../../src/common/errors.js';
import type { Attr, DirEntry, FileLayout, Ino, MetaApi, Owner, StatFs, ClusterInfo } from '../../src/meta/api.js';
import { MemContent } from './mem-content.js';

interface Node {
  attr: Attr;
  data: MemContent;
  target: string;
  children: Map<string, Ino> | null;
  version: number;
}

const enc = new TextEncoder();

export class MemMeta implements Partial<MetaApi> {
  private nodes = new Map<Ino, Node>();
  private nextIno = 2;

  constructor() {
    this.nodes.set(1, this.newNode(1, 'dir', 0o755, { uid: 0, gid: 0 }));
  }

  private newNode(ino: Ino, type: Attr['type'], mode: number, owner: Owner): Node {
    const now = Date.now();
    return {
      attr: { ino, type, mode, uid: owner.uid, gid: owner.gid, size: 0, nlink: type === 'dir' ? 2 : 1, atimeMs: now, mtimeMs: now, ctimeMs: now },
      data: new MemContent(),
      target: '',
      children: type === 'dir' ? new Map() : null,
      version: 0,
    };
  }

  node(ino: Ino): Node {
    const n = this.nodes.get(ino);
    if (!n) throw new FsError('ENOENT', `no inode ${ino}`);
    return n;
  }

  private split(path: string): string[] {
    if (!path.startsWith('/')) throw new FsError('EINVAL', `not absolute: ${path}`);
    const parts = path.split('/').filter(Boolean);
    for (const p of parts) if (enc.encode(p).length > 255) throw new FsError('ENAMETOOLONG', `name too long: ${p.slice(0, 20)}...`);
    return parts;
  }

  private walk(parts: string[]): Node {
    let cur = this.node(1);
    for (const p of parts) {
      if (!cur.children) throw new FsError('ENOTDIR', `not a directory`);
      const ino = cur.children.get(p);
      if (ino === undefined) throw new FsError('ENOENT', `no such file: ${p}`);
      cur = this.node(ino);
    }
    return cur;
  }

  private parentOf(path: string): { parent: Node; name: string } {
    const parts = this.split(path);
    const name = parts.pop();
    if (name === undefined) throw new FsError('EEXIST', 'root');
    const parent = this.walk(parts);
    if (!parent.children) throw new FsError('ENOTDIR', 'parent is not a directory');
    return { parent, name };
  }

  private touch(n: Node): void {
    n.attr.mtimeMs = n.attr.ctimeMs = Date.now();
  }

  private add(path: string, type: Attr['type'], mode: number, owner: Owner, exclusive = true): Node {
    const { parent, name } = this.parentOf(path);
    const existing = parent.children!.get(name);
    if (existing !== undefined) {
      const n = this.node(existing);
      if (exclusive || type !== 'file') throw new FsError('EEXIST', `exists: ${path}`);
      if (n.attr.type === 'dir') throw new FsError('EISDIR', `is a directory: ${path}`);
      return n;
    }
    const n = this.newNode(this.nextIno++, type, mode, owner);
    this.nodes.set(n.attr.ino, n);
    parent.children!.set(name, n.attr.ino);
    if (type === 'dir') parent.attr.nlink++;
    this.touch(parent);
    return n;
  }

  async getCluster(): Promise<ClusterInfo> {
    return { config: { replicas: 1, writeQuorum: 1, readQuorum: 1, blockSizeBytes: 1 << 20 }, servers: [] };
  }
  async lookup({ path }: { path: string }): Promise<Attr> {
    return { ...this.walk(this.split(path)).attr };
  }
  async readdir({ path }: { path: string }): Promise<DirEntry[]> {
    const n = this.walk(this.split(path));
    if (!n.children) throw new FsError('ENOTDIR', 'not a directory');
    return [...n.children].map(([name, ino]) => ({ name, attr: { ...this.node(ino).attr } }));
  }
  async create(a: { path: string; mode: number; owner: Owner; exclusive: boolean }): Promise<Attr> {
    return { ...this.add(a.path, 'file', a.mode, a.owner, a.exclusive).attr };
  }
  async mkdir(a: { path: string; mode: number; owner: Owner }): Promise<Attr> {
    return { ...this.add(a.path, 'dir', a.mode, a.owner).attr };
  }
  async symlink(a: { path: string; target: string; owner: Owner }): Promise<Attr> {
    const n = this.add(a.path, 'symlink', 0o777, a.owner);
    n.target = a.target;
    n.attr.size = enc.encode(a.target).length;
    return { ...n.attr };
  }
  async readlink({ path }: { path: string }): Promise<string> {
    const n = this.walk(this.split(path));
    if (n.attr.type !== 'symlink') throw new FsError('EINVAL', 'not a symlink');
    return n.target;
  }
  async link({ path, newPath }: { path: string; newPath: string }): Promise<Attr> {
    const n = this.walk(this.split(path));
    if (n.attr.type === 'dir') throw new FsError('EPERM', 'hard link to a directory');
    const { parent, name } = this.parentOf(newPath);
    if (parent.children!.has(name)) throw new FsError('EEXIST', 'exists');
    parent.children!.set(name, n.attr.ino);
    n.attr.nlink++;
    return { ...n.attr };
  }
  private drop(n: Node): void {
    if (--n.attr.nlink <= 0 || n.attr.type === 'dir') this.nodes.delete(n.attr.ino);
  }
  async unlink({ path }: { path: string }): Promise<void> {
    const { parent, name } = this.parentOf(path);
    const ino = parent.children!.get(name);
    if (ino === undefined) throw new FsError('ENOENT', 'no such file');
    const n = this.node(ino);
    if (n.attr.type === 'dir') throw new FsError('EISDIR', 'is a directory');
    parent.children!.delete(name);
    this.touch(parent);
    this.drop(n);
  }
  async rmdir({ path }: { path: string }): Promise<void> {
    if (this.split(path).length === 0) throw new FsError('EBUSY' as 'EIO', 'root');
    const { parent, name } = this.parentOf(path);
    const ino = parent.children!.get(name);
    if (ino === undefined) throw new FsError('ENOENT', 'no such file');
    const n = this.node(ino);
    if (!n.children) throw new FsError('ENOTDIR', 'not a directory');
    if (n.children.size) throw new FsError('ENOTEMPTY', 'not empty');
    parent.children!.delete(name);
    parent.attr.nlink--;
    this.touch(parent);
    this.nodes.delete(ino);
  }
  async rename({ from, to }: { from: string; to: string }): Promise<void> {
    const src = this.parentOf(from);
    const sino = src.parent.children!.get(src.name);
    if (sino === undefined) throw new FsError('ENOENT', 'no such file');
    const dst = this.parentOf(to);
    const sn = this.node(sino);
    if (sn.children) {
      const fp = this.split(from);
      const tp = this.split(to);
      if (tp.length > fp.length && fp.every((p, i) => tp[i] === p)) throw new FsError('EINVAL', 'into itself');
    }
    const dino = dst.parent.children!.get(dst.name);
    if (dino === sino) return;
    if (dino !== undefined) {
      const dn = this.node(dino);
      if (sn.children && !dn.children) throw new FsError('ENOTDIR', 'not a directory');
      if (!sn.children && dn.children) throw new FsError('EISDIR', 'is a directory');
      if (dn.children?.size) throw new FsError('ENOTEMPTY', 'not empty');
      if (dn.children) dst.parent.attr.nlink--;
      this.drop(dn);
    }
    src.parent.children!.delete(src.name);
    dst.parent.children!.set(dst.name, sino);
    if (sn.children) { src.parent.attr.nlink--; dst.parent.attr.nlink++; }
    this.touch(src.parent);
    this.touch(dst.parent);
  }
  async setattr(a: { path: string; mode?: number; uid?: number; gid?: number; atimeMs?: number; mtimeMs?: number }): Promise<Attr> {
    const n = this.walk(this.split(a.path));
    if (a.mode !== undefined) n.attr.mode = a.mode;
    if (a.uid !== undefined) n.attr.uid = a.uid;
    if (a.gid !== undefined) n.attr.gid = a.gid;
    if (a.atimeMs !== undefined) n.attr.atimeMs = a.atimeMs;
    if (a.mtimeMs !== undefined) n.attr.mtimeMs = a.mtimeMs;
    n.attr.ctimeMs = Date.now();
    return { ...n.attr };
  }
  async statfs(): Promise<StatFs> {
    return { files: this.nodes.size, blocks: 0, blockBytes: 0 };
  }
  async openPath({ path }: { path: string }): Promise<{ attr: Attr; layout: FileLayout | null }> {
    const attr = await this.lookup({ path });
    return { attr, layout: attr.type === 'file' ? await this.getLayout({ ino: attr.ino }) : null };
  }

  async getLayout({ ino }: { ino: Ino }): Promise<FileLayout> {
    const n = this.node(ino);
    return { ino, size: n.attr.size, blockSizeBytes: 1 << 20, blocks: [], version: n.version };
  }
}

/** Sizes of the writes received (bytes -> count), to measure what the kernel sends. */
export const writeSizes = new Map<number, number>();

class MemOpenFile implements OpenFile {
  /** This handle's version of the bytes, published to the node on flush (close-to-open). */
  private data: MemContent;
  private dirty: boolean;
  constructor(private readonly meta: MemMeta, readonly ino: Ino, private readonly writable: boolean, truncate: boolean) {
    this.data = truncate ? new MemContent() : meta.node(ino).data.snapshot();
    this.dirty = truncate;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    await new Promise((r) => setImmediate(r));
    return this.data.read(offset, length);
  }
  async readInto(offset: number, length: number, dst: Buffer): Promise<number> {
    const data = await this.read(offset, Math.min(length, dst.length));
    return data.copy(dst);
  }
  async readParts(offset: number, length: number): Promise<{ parts: Buffer[]; release(): void }> {
    return { parts: [await this.read(offset, length)], release: () => undefined };
  }
  async write(offset: number, data: Buffer): Promise<void> {
    if (!this.writable) throw new FsError('EBADF', 'read-only handle');
    writeSizes.set(data.length, (writeSizes.get(data.length) ?? 0) + 1);
    this.data.write(offset, data);
    this.dirty = true;
  }
  async truncate(size: number): Promise<void> {
    this.data.truncate(size);
    this.dirty = true;
  }
  size(): number {
    return this.data.size;
  }
  async flush(): Promise<void> {
    if (!this.dirty) return;
    const n = this.meta.node(this.ino);
    n.data = this.data.snapshot();
    n.attr.size = n.data.size;
    n.attr.mtimeMs = n.attr.ctimeMs = Date.now();
    n.version++;
    this.dirty = false;
  }
  async fsync(): Promise<void> {
    await this.flush();
  }
  async close(): Promise<void> {
    if (this.writable) await this.flush();
  }
}

export class MemClient implements FsClient {
  readonly mem = new MemMeta();
  readonly meta = this.mem as unknown as MetaApi;
  readonly config: ClusterConfig = { replicas: 1, writeQuorum: 1, readQuorum: 1, blockSizeBytes: 1 << 20 };
  async open(path: string, opts: OpenOptions): Promise<OpenFile> {
    const attr = await this.meta.lookup({ path });
    return this.openIno(attr.ino, opts);
  }
  async openIno(ino: Ino, opts: OpenOptions): Promise<OpenFile> {
    const n = this.mem.node(ino);
    if (n.attr.type === 'dir') throw new FsError('EISDIR', 'is a directory');
    return new MemOpenFile(this.mem, ino, opts.write, !!opts.truncate);
  }
  async openLayout(layout: FileLayout, opts: OpenOptions): Promise<OpenFile> {
    return this.openIno(layout.ino, opts);
  }
  async truncatePath(path: string, size: number): Promise<Attr> {
    const f = await this.open(path, { write: true });
    await f.truncate(size);
    await f.close();
    return this.meta.lookup({ path });
  }
  async close(): Promise<void> {}
}
