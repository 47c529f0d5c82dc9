// A mount's metadata cache, the client's half of src/meta/change-feed.ts: attributes by path,
// directory listings (names), and the block lists of small files, kept exact by the server's change
// feed. It answers only while its lease runs; changes by others reach it before they are
// acknowledged to whoever made them, so a cached answer is never older than a finished change.
// `ls -lR` then costs one readdir per directory instead of a lookup and a getattr per name.
import type { Logger } from '../common/log.js';
import { FsError } from '../common/errors.js';
import { joinPath, nameOf, parentOf, type Attr, type CommitRequest, type CommitResult, type DirEntry, type FileLayout, type Ino, type MetaApi, type UnlinkEntry, type UnlinkManyResult } from '../meta/api.js';
import { changeOf, type Change } from '../meta/changes.js';
import type { MetaClient, Stamped } from './meta-client.js';
import { HoleyMap } from './holey-map.js';
import { Listing } from './listing.js';
import { UnlinkQueue } from './unlink-queue.js';

export interface MetaCacheOptions {
  /** Cached names and attributes past which the cache starts over. */
  maxEntries?: number;
  /** The cluster's block size: with it, this client's own commits leave their block list cached. */
  blockSizeBytes?: number;
  logger?: Logger;
  /**
   * Answer unlinks at once and send them in batches (unlink-queue.ts); every other call waits until
   * they are answered. giveUpMs: how long an undeliverable batch is sent again.
   */
  asyncUnlink?: { giveUpMs: number; retryMs?: number };
}

/** Room for a 100,000-file tree; each entry is a few hundred bytes. */
const DEFAULT_MAX_ENTRIES = 200_000;
/** Block lists above this many blocks are not kept (a commit resends them whole anyway). */
const MAX_CACHED_LAYOUT_BLOCKS = 256;
/** The lease is taken to end this much earlier than the server's, against timer and scheduling slack. */
const LEASE_MARGIN_MS = 250;
const RETRY_MS = 200;
/** A poll waits this part of the lease for a change, so that it renews the lease well before it ends. */
const POLL_WAIT_FRACTION = 0.25;


export class CachingMeta implements MetaApi {
  private epoch: string | null = null;
  /** Answers stamped below this are not cached: a change after them has been applied here. */
  private floor = 0;
  private applied = 0;
  private leaseUntil = 0;
  /** Until when unlinks may be answered here first: the server's unlink delegation, within the lease. */
  private delegatedUntil = 0;
  /** Recalled: deliver the queued unlinks, then poll once without asking, which releases the delegation. */
  private releasing = false;
  /** Directory path -> unlinks in it answered here and not yet answered by the server. */
  private readonly pendingIn = new Map<string, number>();
  private readonly attrs = new HoleyMap<string, Attr>();
  private readonly pathsOfIno = new HoleyMap<Ino, Set<string>>();
  private readonly names = new HoleyMap<string, Listing>();
  /** Directory path -> paths directly in it with something cached (see dropBelow). */
  private readonly below = new HoleyMap<string, Set<string>>();
  private readonly layouts = new HoleyMap<Ino, FileLayout>();
  /** Our own changes, answered exactly and applied here, that the feed will bring back: skipped then. */
  private readonly ownSeqs = new Set<number>();
  private readonly maxEntries: number;
  private stopped = false;
  private generationCount = 0;
  private loop: Promise<void> | null = null;
  /** Told of every change made elsewhere; the change is acknowledged once all of them settled. */
  private readonly listeners: Array<(changes: Change[]) => Promise<void>> = [];
  /** Lookups answered here and those that went to the server; own changes kept as answered (tests and status read them). */
  readonly stats = { hits: 0, misses: 0, resets: 0, ownKept: 0 };
  /** Unlinks answered and not yet made on the server (asyncUnlink). */
  readonly unlinks: UnlinkQueue | null;

  constructor(private readonly client: MetaClient, private readonly opts: MetaCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const a = opts.asyncUnlink;
    this.unlinks = a
      ? new UnlinkQueue({
        send: (entries) => this.changeNow('unlinkMany', { entries, answered: true }),
        settled: (entries, delivered) => {
          for (const e of entries) {
            this.countPending(parentOf(e.path), -1);
            // Not made: the names are back on the server, so this cache must ask it again.
            if (!delivered) this.apply(changeOf('unlink', { path: e.path })!);
          }
        },
        mayDeliver: () => this.epoch !== null && Date.now() < this.leaseUntil,
        giveUpMs: a.giveUpMs,
        retryMs: a.retryMs ?? RETRY_MS,
        logger: opts.logger,
      })
      : null;
  }

  /**
   * Held by every call that goes to the server while unlinks are on their way: the server then
   * answers with them done, and no change of ours overtakes them. Cache hits need not wait: the
   * cache already shows what those unlinks changed (forgetUnlinked), and keeps no server answer
   * meanwhile (takes).
   */
  private unlinksLanded(): Promise<void> | null {
    return this.unlinks?.busy ? this.unlinks.idle() : null;
  }

  /** Waits for queued unlinks (before the client closes); what failed is still reported by sync. */
  async flushUnlinks(): Promise<void> {
    await this.unlinks?.idle();
  }

  /** Starts following the change feed; the cache answers from the first poll on. */
  start(): void {
    this.loop ??= this.follow();
  }

  /** Stops following; the pending poll ends with the client's connection pool. */
  stop(): void {
    this.stopped = true;
    this.leaseUntil = 0;
  }

  // ---- the change feed ---------------------------------------------------------------------------

  private async follow(): Promise<void> {
    let leaseMs = 2_000;
    while (!this.stopped) {
      const sent = Date.now();
      try {
        const want = this.unlinks !== null && !this.releasing;
        // A release is answered at once: the next poll may take the delegation back.
        const waitMs = this.releasing ? 0 : Math.floor(leaseMs * POLL_WAIT_FRACTION);
        const a = await this.client.watch(this.epoch === null ? null : this.applied, this.epoch, waitMs, want);
        if (this.stopped) break;
        this.releasing = false;
        if (a.reset || a.epoch !== this.epoch) {
          this.clear();
          this.stats.resets++;
          this.epoch = a.epoch;
          this.floor = a.seq;
          // Caches below forget everything too (they may hold entries from before a lost
          // connection or a gap), before the next poll acknowledges the reset.
          this.generationCount++;
          if (this.listeners.length > 0) await this.tellListeners([{ paths: [], subtrees: ['/'], inos: [] }]);
        } else {
          const news = a.events.filter((ev) => !this.ownSeqs.delete(ev.seq));
          for (const ev of news) this.apply(ev);
          if (news.length > 0) this.generationCount++;
          this.floor = Math.max(this.floor, a.seq);
          // Before the next poll acknowledges them: caches below must have forgotten too.
          if (news.length > 0 && this.listeners.length > 0) await this.tellListeners(news);
        }
        this.applied = a.seq;
        for (const seq of this.ownSeqs) if (seq <= a.seq) this.ownSeqs.delete(seq);
        leaseMs = a.leaseMs;
        this.leaseUntil = sent + a.leaseMs - LEASE_MARGIN_MS;
        this.delegatedUntil = a.delegated ? this.leaseUntil : 0;
        if (a.recall && this.unlinks) {
          // Another client waits to read: what was answered goes out first, and the next poll releases.
          await this.unlinks.idle();
          this.releasing = true;
        }
      } catch (err) {
        // Without the feed nothing here can be trusted: start over from a reset once it is back.
        this.leaseUntil = 0;
        this.delegatedUntil = 0;
        this.epoch = null;
        this.clear();
        if (this.stopped) break;
        this.opts.logger?.debug({ err: (err as Error).message }, 'metadata change feed unreachable; cache off until it is back');
        await new Promise((r) => setTimeout(r, RETRY_MS).unref());
      }
    }
  }

  /** Whether the cache answers now (it follows the feed and holds a running lease). */
  get active(): boolean {
    return this.epoch !== null && Date.now() < this.leaseUntil;
  }

  /**
   * Bumped whenever changes made elsewhere are applied here (before caches below are told): an
   * answer read before a bump may predate one of them, and must not be cached below.
   */
  generation(): number {
    return this.generationCount;
  }

  /** How long what is cached now stays trustworthy without further news (0 when inactive). */
  leaseLeftMs(): number {
    return this.active ? this.leaseUntil - Date.now() : 0;
  }

  /**
   * Adds a cache below this one (the kernel's): it is told of changes made by others before they
   * are acknowledged, and must keep nothing longer than leaseLeftMs() said when it got it.
   */
  onChanges(listener: (changes: Change[]) => Promise<void>): void {
    this.listeners.push(listener);
  }

  /** Whether an answer is current: same epoch, and no applied change is newer than it. */
  private current(s: Stamped<unknown>): boolean {
    return this.active && s.epoch === this.epoch && s.seq >= this.floor;
  }

  /** Whether an answer may be cached: current, and (it may predate them) no unlink answered here is on its way. */
  private takes(s: Stamped<unknown>): boolean {
    return this.current(s) && !this.unlinks?.busy;
  }

  private apply(c: Change): void {
    for (const p of c.paths) {
      this.dropAttr(p);
      this.dropAttr(parentOf(p));
      this.dropNames(p);
      this.dropNames(parentOf(p));
    }
    for (const root of c.subtrees) this.dropBelow(root);
    for (const ino of c.inos) {
      for (const p of [...(this.pathsOfIno.get(ino) ?? [])]) this.dropAttr(p);
      this.layouts.delete(ino);
    }
  }

  private async tellListeners(events: Change[]): Promise<void> {
    const results = await Promise.allSettled(this.listeners.map((l) => l(events)));
    for (const r of results) {
      if (r.status === 'rejected') this.opts.logger?.warn({ err: String(r.reason) }, 'a cache below the metadata cache failed to forget a change');
    }
  }

  /**
   * Our own change: stale here at once, and answers older than it are not cached any more. An
   * answer that is the state at exactly its sequence number, newer than everything applied here,
   * is kept instead (a new name, a new block list): the feed brings only later changes, and this
   * one's echo is skipped.
   */
  private applyOwn<M extends keyof MetaApi>(method: M, args: Parameters<MetaApi[M]>[0], s: Stamped<unknown> | null): void {
    const c = changeOf(method, args as Record<string, unknown>);
    if (s && s.epoch !== this.epoch) {
      this.clear();
      return;
    }
    // A landing batch is learned while the queue is still busy: it is what the queue waits for.
    const learnable = s !== null && (method === 'unlinkMany' ? this.current(s) : this.takes(s));
    if (s && s.exact && s.seq > this.applied && learnable && c) {
      this.learnOwn(method, args as Record<string, unknown>, s.result, c);
      this.ownSeqs.add(s.seq);
      this.stats.ownKept++;
    } else if (c) {
      this.apply(c);
    }
    if (s) this.floor = Math.max(this.floor, s.seq);
  }

  private learnOwn(method: keyof MetaApi, args: Record<string, unknown>, result: unknown, c: Change): void {
    switch (method) {
      case 'commit':
        return this.learnCommit(args as unknown as CommitRequest, result as CommitResult, c);
      case 'unlinkMany':
        return this.learnUnlinks(args.entries as UnlinkEntry[], result as UnlinkManyResult, c);
      case 'create':
      case 'mkdir':
      case 'symlink':
      case 'unlink':
      case 'setattr':
        return this.learnNamed(method, args.path as string, result as Attr, c);
      default:
        // Renames, links, rmdirs: dropped, as another client's would be.
        return this.apply(c);
    }
  }

  private learnCommit(req: CommitRequest, result: CommitResult, c: Change): void {
    const { version, ...attr } = result;
    const paths = [...(this.pathsOfIno.get(attr.ino) ?? [])];
    this.apply(c);
    for (const p of paths) this.putAttr(p, attr);
    if (this.opts.blockSizeBytes !== undefined) {
      // A copy: the writer keeps its list and goes on changing it for its next commit.
      this.putLayout({ ino: attr.ino, size: req.size, blockSizeBytes: this.opts.blockSizeBytes, blocks: req.blocks.slice(), version });
    }
  }

  /**
   * A batch of this client's unlinks, answered exactly: the names stay out of their cached listings,
   * and each directory takes the attributes the server gave it, unless more unlinks in it are still
   * on their way (then it keeps the ones this client gave it when it answered them).
   */
  private learnUnlinks(entries: UnlinkEntry[], result: UnlinkManyResult, c: Change): void {
    const inBatch = new Map<string, number>();
    for (const e of entries) inBatch.set(parentOf(e.path), (inBatch.get(parentOf(e.path)) ?? 0) + 1);
    // A name the server kept (refused for another reason than being gone) must come back: not restored.
    const unsure = new Set(result.failed.filter((f) => f.code !== 'ENOENT').map((f) => parentOf(entries[f.index]!.path)));
    const kept = [...inBatch.keys()].filter((dir) => !unsure.has(dir)).map((dir) => ({ dir, listing: this.names.get(dir), attr: this.attrs.get(dir) }));
    this.apply(c);
    for (const { dir, listing, attr } of kept) {
      if (listing) this.putNames(dir, listing);
      const later = (this.pendingIn.get(dir) ?? 0) - inBatch.get(dir)!;
      const answered = result.parents.find((p) => p.path === dir)?.attr;
      if (later > 0 && attr) this.putAttr(dir, attr);
      else if (answered) this.putAttr(dir, answered);
    }
  }

  /** A change of one name: its parent's listing is kept (with the name added or removed), not dropped. */
  private learnNamed(method: 'create' | 'mkdir' | 'symlink' | 'unlink' | 'setattr', path: string, attr: Attr, c: Change): void {
    const parent = parentOf(path);
    const listing = this.names.get(parent);
    this.apply(c);
    if (listing) {
      const name = nameOf(path);
      this.putNames(parent, method === 'unlink' ? listing.without(name) : method === 'setattr' ? listing : listing.with(name));
    }
    if (method === 'unlink') return;
    this.putAttr(path, attr);
    if (method === 'mkdir') this.putNames(path, new Listing([]));
  }

  private clear(): void {
    this.attrs.clear();
    this.pathsOfIno.clear();
    this.names.clear();
    this.layouts.clear();
    this.below.clear();
  }

  /**
   * Everything cached under a directory, found through the `below` index: a subtree costs what it
   * holds, not a scan of the whole cache (rm -rf of a big tree removes a directory per 100 files).
   */
  private dropBelow(root: string): void {
    const stack = [root];
    for (let dir = stack.pop(); dir !== undefined; dir = stack.pop()) {
      const kids = this.below.get(dir);
      if (!kids) continue;
      for (const p of [...kids]) {
        this.dropAttr(p);
        this.dropNames(p);
        stack.push(p);
      }
    }
  }

  /** Records that path has a cached entry (attributes or a listing), under its parent. */
  private index(path: string): void {
    if (path === '/') return;
    const parent = parentOf(path);
    let kids = this.below.get(parent);
    if (!kids) this.below.set(parent, (kids = new Set()));
    kids.add(path);
  }

  /** Forgets path in the index once it has neither attributes nor a listing cached. */
  private unindex(path: string): void {
    if (path === '/' || this.attrs.has(path) || this.names.has(path)) return;
    const parent = parentOf(path);
    const kids = this.below.get(parent);
    kids?.delete(path);
    if (kids && kids.size === 0) this.below.delete(parent);
  }

  private dropNames(path: string): void {
    if (this.names.delete(path)) this.unindex(path);
  }

  private putNames(path: string, list: Listing): void {
    this.names.set(path, list);
    this.index(path);
  }

  private dropAttr(path: string): void {
    const a = this.attrs.get(path);
    if (!a) return;
    this.attrs.delete(path);
    this.unindex(path);
    this.forgetIno(path, a.ino);
  }

  /** path no longer names ino here; the inode's block list goes with its last cached name. */
  private forgetIno(path: string, ino: Ino): void {
    const set = this.pathsOfIno.get(ino);
    set?.delete(path);
    if (set && set.size === 0) {
      this.pathsOfIno.delete(ino);
      this.layouts.delete(ino);
    }
  }

  private putAttr(path: string, a: Attr): void {
    // Another name of a hard-linked file changes its nlink and ctime under us: not kept.
    if (a.type !== 'dir' && a.nlink > 1) return;
    // The same inode again (a directory after each change in it): only the value is replaced, the
    // `below` index and `pathsOfIno` stay as they are. Dropping a name without a cached listing
    // and putting it back would delete and re-add it in its parent's `below` entry, a plain Set,
    // whose dead entries stay in the key's hash chain until the table is rebuilt (see holey-map.ts).
    const old = this.attrs.get(path);
    if (old && old.ino === a.ino) {
      // As when the name was dropped and put anew: the inode's cached block list is not kept.
      this.layouts.delete(a.ino);
      this.attrs.set(path, a);
      return;
    }
    if (old) this.forgetIno(path, old.ino);
    else if (this.attrs.size >= this.maxEntries) this.clear();
    this.attrs.set(path, a);
    this.index(path);
    let set = this.pathsOfIno.get(a.ino);
    if (!set) this.pathsOfIno.set(a.ino, (set = new Set()));
    set.add(path);
  }

  // ---- cached reads ------------------------------------------------------------------------------

  /** lookup()'s answer when it is a cache hit (no wait, no call); undefined otherwise. */
  cachedAttr(path: string): Attr | undefined {
    if (!this.active) return undefined;
    const a = this.attrs.get(path);
    if (a) this.stats.hits++;
    return a;
  }

  async lookup(args: { path: string }): Promise<Attr> {
    const cached = this.cachedAttr(args.path);
    if (cached) return cached;
    if (this.active) {
      const siblings = args.path === '/' ? undefined : this.names.get(parentOf(args.path));
      if (siblings && !siblings.has(nameOf(args.path))) {
        this.stats.hits++;
        throw new FsError('ENOENT', `no such file or directory: ${args.path}`);
      }
    }
    await this.unlinksLanded();
    this.stats.misses++;
    const s = await this.client.call('lookup', args);
    if (this.takes(s)) this.putAttr(args.path, s.result);
    return s.result;
  }

  async readdir(args: { path: string }): Promise<DirEntry[]> {
    if (this.active) {
      const list = this.names.get(args.path);
      if (list) {
        const entries: DirEntry[] = [];
        for (const name of list.ordered()) {
          const attr = this.attrs.get(joinPath(args.path, name));
          if (!attr) break;
          entries.push({ name, attr });
        }
        if (entries.length === list.size) {
          this.stats.hits++;
          return entries;
        }
      }
    }
    await this.unlinksLanded();
    this.stats.misses++;
    const s = await this.client.call('readdir', args);
    if (this.takes(s)) {
      if (this.attrs.size + s.result.length >= this.maxEntries) this.clear();
      for (const e of s.result) this.putAttr(joinPath(args.path, e.name), e.attr);
      this.putNames(args.path, new Listing(s.result.map((e) => e.name)));
    }
    return s.result;
  }

  async openPath(args: { path: string }): Promise<{ attr: Attr; layout: FileLayout | null }> {
    if (this.active) {
      const attr = this.attrs.get(args.path);
      const layout = attr && attr.type === 'file' ? this.layouts.get(attr.ino) : undefined;
      if (attr && (attr.type !== 'file' || layout)) {
        this.stats.hits++;
        return { attr, layout: layout ?? null };
      }
    }
    await this.unlinksLanded();
    this.stats.misses++;
    const s = await this.client.call('openPath', args);
    if (this.takes(s)) {
      this.putAttr(args.path, s.result.attr);
      this.putLayout(s.result.layout);
    }
    return s.result;
  }

  async getLayout(args: { ino: Ino }): Promise<FileLayout> {
    if (this.active) {
      const layout = this.layouts.get(args.ino);
      if (layout) {
        this.stats.hits++;
        return layout;
      }
    }
    await this.unlinksLanded();
    this.stats.misses++;
    const s = await this.client.call('getLayout', args);
    if (this.takes(s)) this.putLayout(s.result);
    return s.result;
  }

  /**
   * For read-ahead across a directory (dir-read-ahead.ts): the cached block lists of up to `count`
   * files after `path` in its directory's listing, skipping names whose attributes or block list
   * are not cached; null when the listing is not cached. Never a round trip.
   */
  layoutsAfter(path: string, count: number): Array<{ path: string; layout: FileLayout }> | null {
    if (!this.active) return null;
    const dir = parentOf(path);
    const list = this.names.get(dir);
    if (!list) return null;
    const out: Array<{ path: string; layout: FileLayout }> = [];
    for (const name of list.after(nameOf(path), count)) {
      const p = joinPath(dir, name);
      const attr = this.attrs.get(p);
      const layout = attr?.type === 'file' ? this.layouts.get(attr.ino) : undefined;
      if (layout) out.push({ path: p, layout });
    }
    return out;
  }

  /** Only for inodes with a cached name, so that a name's change always drops its layout too. */
  private putLayout(layout: FileLayout | null): void {
    if (!layout || layout.blocks.length > MAX_CACHED_LAYOUT_BLOCKS || !this.pathsOfIno.has(layout.ino)) return;
    this.layouts.set(layout.ino, layout);
  }

  // ---- changes -----------------------------------------------------------------------------------

  private async change<M extends keyof MetaApi>(method: M, args: Parameters<MetaApi[M]>[0]): Promise<Awaited<ReturnType<MetaApi[M]>>> {
    await this.unlinksLanded();
    return this.changeNow(method, args);
  }

  private async changeNow<M extends keyof MetaApi>(method: M, args: Parameters<MetaApi[M]>[0]): Promise<Awaited<ReturnType<MetaApi[M]>>> {
    let s: Stamped<Awaited<ReturnType<MetaApi[M]>>> | null = null;
    try {
      s = await this.client.call(method, args);
      return s.result;
    } finally {
      // Also after a failure: a request that timed out may still have changed the namespace.
      this.applyOwn(method, args, s);
    }
  }

  create(args: Parameters<MetaApi['create']>[0]): Promise<Attr> { return this.change('create', args); }
  mkdir(args: Parameters<MetaApi['mkdir']>[0]): Promise<Attr> { return this.change('mkdir', args); }
  symlink(args: Parameters<MetaApi['symlink']>[0]): Promise<Attr> { return this.change('symlink', args); }
  link(args: Parameters<MetaApi['link']>[0]): Promise<Attr> { return this.change('link', args); }
  unlinkMany(args: Parameters<MetaApi['unlinkMany']>[0]) { return this.change('unlinkMany', args); }

  async unlink(args: Parameters<MetaApi['unlink']>[0]): Promise<void> {
    if (!this.unlinks || Date.now() >= this.delegatedUntil) return this.change('unlink', args);
    // Answered here: the name is gone for this client now, and for the server with the next batch.
    // The inode is named when the cache knows it (it is exact while the delegation holds).
    const ino = this.attrs.get(args.path)?.ino;
    this.forgetUnlinked(args.path);
    this.unlinks.add(ino === undefined ? { path: args.path } : { path: args.path, ino });
  }
  /**
   * What an unlink answered here changes in this cache: the name leaves its directory's listing, and
   * the directory's times move as a local file system's would, so that a path walk through it (the
   * kernel looks the directory up before each `unlink(path)`) needs no round trip meanwhile.
   */
  private forgetUnlinked(path: string): void {
    const dir = parentOf(path);
    // What apply() would drop for this unlink, but the directory's entries are changed in place
    // rather than dropped and put back after every unlink (see putAttr and holey-map.ts).
    this.dropAttr(path);
    this.dropNames(path);
    this.names.get(dir)?.without(nameOf(path));
    const attr = this.attrs.get(dir);
    if (attr) {
      const now = Date.now();
      this.putAttr(dir, { ...attr, mtimeMs: now, ctimeMs: now });
    }
    this.countPending(dir, 1);
  }

  private countPending(dir: string, delta: number): void {
    const n = (this.pendingIn.get(dir) ?? 0) + delta;
    if (n > 0) this.pendingIn.set(dir, n);
    else this.pendingIn.delete(dir);
  }

  rmdir(args: Parameters<MetaApi['rmdir']>[0]): Promise<void> { return this.change('rmdir', args); }
  rename(args: Parameters<MetaApi['rename']>[0]): Promise<void> { return this.change('rename', args); }
  setattr(args: Parameters<MetaApi['setattr']>[0]): Promise<Attr> { return this.change('setattr', args); }
  commit(args: Parameters<MetaApi['commit']>[0]): Promise<CommitResult> { return this.change('commit', args); }

  // ---- passed through ----------------------------------------------------------------------------

  getCluster(args: Record<string, never>) { return this.client.api.getCluster(args); }
  async readlink(args: { path: string }) {
    await this.unlinksLanded();
    return this.client.api.readlink(args);
  }

  async statfs(args: Record<string, never>) {
    await this.unlinksLanded();
    return this.client.api.statfs(args);
  }

  reserveBlocks(args: { hashes: string[] }) { return this.client.api.reserveBlocks(args); }
  reportFaults(args: Parameters<MetaApi['reportFaults']>[0]) { return this.client.api.reportFaults(args); }

  /** Also delivers queued unlinks first, and reports one that could not be made (as fsync reports a failed write-back). */
  async sync(args: Record<string, never>): Promise<void> {
    await this.unlinksLanded();
    const failed = this.unlinks?.takeFailure();
    if (failed) throw failed;
    return this.client.api.sync(args);
  }
}
