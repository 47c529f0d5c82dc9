// The kernel knows files by nodeid; FuseOps knows them by path. This table maps one to the other:
// a node per name (parent nodeid, name), as libfuse's high-level layer keeps it, with the kernel's
// lookup count. Hard links are two nodes that report the same st_ino.
import { joinPath } from '../../meta/api.js';
import { FUSE_ROOT_ID } from './protocol.js';

export interface Node {
  readonly id: number;
  parent: Node | null;
  name: string;
  /** st_ino and type bits last reported for this name: a different inode under the name is a new node. */
  readonly ino: number;
  typeBits: number;
  /** References the kernel holds (entry replies minus FORGETs). */
  lookups: number;
  /** Open file handles (OPEN/CREATE not yet RELEASEd). */
  opens: number;
  /** No longer reachable by its name (removed, replaced, or its inode changed under the name). */
  detached: boolean;
  /**
   * Unlinked while open: renamed to a `.fuse_hidden` path that QuorumOps treats as gone. Kept as
   * the string QuorumOps knows it by (a later rename of the directory does not change it).
   */
  hiddenPath: string | null;
  children: Map<string, Node> | null;
  /** Path cache, valid while pathEpoch equals the table's epoch. */
  path: string;
  pathEpoch: number;
  /** Set while a rename of this node is on its way: paths through it wait for the outcome. */
  renaming: Promise<void> | null;
  /** Until when (epoch ms) the kernel may use its entry for this name without asking again. */
  entryUntilMs: number;
}

export class StaleNodeError extends Error {
  constructor(id: number) {
    super(`node ${id} has no name any more`);
    this.name = 'StaleNodeError';
  }
}

const S_IFDIR = 0o040000;
const S_IFMT = 0o170000;

export class NodeTable {
  private readonly nodes = new Map<number, Node>();
  /** Nodes by st_ino (hard links: several), for changes that name an inode rather than a path. */
  private readonly byIno = new Map<number, Set<Node>>();
  private nextId = FUSE_ROOT_ID + 1;
  /** Bumped by every change of a name, which may change any cached path below it. */
  private epoch = 0;
  private renamesInFlight = 0;
  private hiddenCounter = 0;
  readonly root: Node;

  constructor() {
    this.root = this.make(FUSE_ROOT_ID, null, '', 1, S_IFDIR);
    // The kernel never forgets the root.
    this.root.lookups = Number.MAX_SAFE_INTEGER;
  }

  get size(): number {
    return this.nodes.size;
  }

  private make(id: number, parent: Node | null, name: string, ino: number, typeBits: number): Node {
    const n: Node = {
      id, parent, name, ino, typeBits, lookups: 0, opens: 0, detached: false, hiddenPath: null,
      children: null, path: parent ? '' : '/', pathEpoch: parent ? -1 : Number.MAX_SAFE_INTEGER, renaming: null,
      entryUntilMs: 0,
    };
    this.nodes.set(id, n);
    let same = this.byIno.get(ino);
    if (!same) this.byIno.set(ino, (same = new Set()));
    same.add(n);
    return n;
  }

  get(id: number): Node | undefined {
    return this.nodes.get(id);
  }

  /** The nodes the kernel knows with this st_ino. */
  withIno(ino: number): Iterable<Node> {
    return this.byIno.get(ino) ?? [];
  }

  child(parent: Node, name: string): Node | undefined {
    return parent.children?.get(name);
  }

  /** The node now named by an absolute path, if the kernel was told about every name on the way. */
  at(path: string): Node | undefined {
    let n: Node | undefined = this.root;
    for (const part of path.split('/')) {
      if (part === '') continue;
      n = n.children?.get(part);
      if (!n) return undefined;
    }
    return n;
  }

  isDir(n: Node): boolean {
    return n.typeBits === S_IFDIR;
  }

  /**
   * The node for parent/name after the kernel was told about it (an entry reply), its lookup count
   * raised. A name that now shows a different inode (or type) gets a new node: the kernel then
   * drops its old inode instead of mixing the two.
   */
  remember(parent: Node, name: string, ino: number, mode: number): Node {
    const typeBits = mode & S_IFMT;
    let n = this.child(parent, name);
    if (n && (n.ino !== ino || n.typeBits !== typeBits)) {
      this.detach(n);
      n = undefined;
    }
    if (!n) {
      n = this.make(this.nextId++, parent, name, ino, typeBits);
      (parent.children ??= new Map()).set(name, n);
    }
    n.lookups++;
    return n;
  }

  /** Undoes remember() when the kernel did not get the reply (the request was interrupted). */
  unref(n: Node, count = 1): void {
    n.lookups -= count;
    this.dropIfUnused(n);
  }

  forget(id: number, count: number): void {
    const n = this.nodes.get(id);
    if (n && n !== this.root) this.unref(n, count);
  }

  dropIfUnused(n: Node): void {
    if (n.lookups > 0 || n.opens > 0 || n === this.root) return;
    this.nodes.delete(n.id);
    const same = this.byIno.get(n.ino);
    if (same?.delete(n) && same.size === 0) this.byIno.delete(n.ino);
    if (n.parent?.children?.get(n.name) === n) {
      n.parent.children.delete(n.name);
      if (n.parent.children.size === 0) n.parent.children = null;
    }
  }

  /** The name is gone (unlink, rmdir, replaced): the node lives on until the kernel forgets it. */
  detach(n: Node): void {
    if (n.parent?.children?.get(n.name) === n) n.parent.children.delete(n.name);
    n.detached = true;
    this.epoch++;
  }

  /** parent/name now names node n (after a successful rename); whatever had that name is detached. */
  move(n: Node, newParent: Node, newName: string): void {
    const target = this.child(newParent, newName);
    if (target && target !== n) this.detach(target);
    if (n.parent?.children?.get(n.name) === n) n.parent.children.delete(n.name);
    n.parent = newParent;
    n.name = newName;
    (newParent.children ??= new Map()).set(newName, n);
    this.epoch++;
  }

  /** A name QuorumOps recognises as "unlinked while open" (see HIDDEN_NAME_RE in ops.ts). */
  hiddenName(n: Node): string {
    this.hiddenCounter = (this.hiddenCounter + 1) % 0x10000;
    return `.fuse_hidden${(n.id % 0x1000000000000).toString(16).padStart(12, '0')}${this.hiddenCounter.toString(16).padStart(4, '0')}`;
  }

  /** The node now answers to its hidden path, out of the name map. */
  hide(n: Node, hiddenPath: string): void {
    if (n.parent?.children?.get(n.name) === n) n.parent.children.delete(n.name);
    n.hiddenPath = hiddenPath;
    this.epoch++;
  }

  /** Marks a rename of n as in flight; paths through n wait until done() is called. */
  beginRename(n: Node): () => void {
    let done!: () => void;
    const p = new Promise<void>((r) => { done = r; });
    n.renaming = p;
    this.renamesInFlight++;
    return () => {
      if (n.renaming === p) n.renaming = null;
      this.renamesInFlight--;
      done();
    };
  }

  /**
   * The path of a node, for FuseOps. Throws StaleNodeError for a node whose name is gone. While a
   * rename of the node or of one of its ancestors is on its way, waits for it (the kernel locks
   * neither the descendants of a directory being renamed nor a GETATTR of the renamed file).
   */
  pathOf(n: Node): string | Promise<string> {
    if (this.renamesInFlight > 0) {
      for (let a: Node | null = n; a; a = a.parent) {
        if (a.renaming) return a.renaming.then(() => this.pathOf(n));
      }
    }
    return this.pathNow(n);
  }

  private pathNow(n: Node): string {
    if (n.hiddenPath !== null) return n.hiddenPath;
    if (n.pathEpoch === this.epoch || n === this.root) {
      if (n.detached) throw new StaleNodeError(n.id);
      return n.path;
    }
    const parts: string[] = [];
    for (let a: Node = n; a !== this.root; ) {
      if (a.detached || a.hiddenPath !== null || !a.parent) throw new StaleNodeError(n.id);
      parts.push(a.name);
      a = a.parent;
    }
    n.path = '/' + parts.reverse().join('/');
    n.pathEpoch = this.epoch;
    return n.path;
  }

  /** Path of parent/name, for requests that name a child. */
  childPath(parent: Node, name: string): string | Promise<string> {
    const p = this.pathOf(parent);
    if (typeof p === 'string') return joinPath(p, name);
    return p.then((s) => joinPath(s, name));
  }
}
