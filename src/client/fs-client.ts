import type { ClusterConfig } from '../common/config.js';
import { FsError } from '../common/errors.js';
import type { Attr, FileLayout, Ino, MetaApi } from '../meta/api.js';
import type { FsClient, OpenFile, OpenOptions } from './types.js';
import type { Mediator } from './quorum.js';
import { QuorumOpenFile, type OpenFileOptions } from './open-file.js';
import type { DirReadAhead } from './dir-read-ahead.js';

/** FsClient over a remote metadata server and the quorum mediator. */
export class QuorumFsClient implements FsClient {
  constructor(
    readonly meta: MetaApi,
    readonly mediator: Mediator,
    private readonly fileOpts: OpenFileOptions,
    private readonly onClose: () => Promise<void>,
    /** Read-ahead across a directory's small files; needs the metadata cache's listings. */
    readonly readAhead: DirReadAhead | null = null,
  ) {}

  get config(): ClusterConfig {
    return this.mediator.config;
  }

  async open(path: string, opts: OpenOptions): Promise<OpenFile> {
    const { attr, layout } = await this.meta.openPath({ path });
    if (attr.type === 'dir') throw new FsError('EISDIR', `${path} is a directory`);
    if (attr.type !== 'file' || !layout) throw new FsError('EINVAL', `${path} is not a regular file`);
    return this.openLayout(layout, { ...opts, path });
  }

  async openIno(ino: Ino, opts: OpenOptions): Promise<OpenFile> {
    const layout: FileLayout = opts.knownEmpty
      ? { ino, size: 0, blockSizeBytes: this.config.blockSizeBytes, blocks: [], version: 0 }
      : await this.meta.getLayout({ ino });
    return this.openLayout(layout, opts);
  }

  async openLayout(layout: FileLayout, opts: OpenOptions): Promise<OpenFile> {
    const f = new QuorumOpenFile(this.meta, this.mediator, layout, opts.write, this.fileOpts);
    if (opts.truncate && layout.size > 0) await f.truncate(0);
    if (!opts.write && opts.path !== undefined) this.readAhead?.opened(opts.path, layout, f.cacheScope);
    return f;
  }

  async truncatePath(path: string, size: number): Promise<Attr> {
    const f = await this.open(path, { write: true });
    await f.truncate(size);
    await f.close();
    return this.meta.lookup({ path });
  }

  close(): Promise<void> {
    return this.onClose();
  }
}
