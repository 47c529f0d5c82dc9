// Open directories. FuseOps.readdir returns a whole listing; the kernel reads it in pieces of a few
// KiB (READDIR with an offset), so each OPENDIR handle keeps the listing it read at offset 0 and
// serves the following offsets from it: a listing never shows a name twice or skips one because
// the directory changed between two READDIR calls.
import type { DirName } from '../adapter.js';
import { errno } from '../errno.js';

export interface DirListing {
  entries: DirName[];
  /** UTF-8 names, encoded once, by index. */
  encoded: Buffer[];
}

/** Upper bound of open directories per mount, like the file handle bound in handles.ts. */
const MAX_OPEN_DIRS = 65_536;
/** Handles are 64-bit on the wire; we keep them below 2^31 like file handles. */
const MAX_DIR_HANDLE = 0x7fffffff;

interface DirHandle {
  nodeid: number;
  listing: DirListing | null;
  loading: Promise<DirListing> | null;
}

export class DirHandles {
  private readonly open = new Map<number, DirHandle>();
  private next = 1;

  allocate(nodeid: number): number {
    if (this.open.size >= MAX_OPEN_DIRS) throw errno('EMFILE');
    while (this.open.has(this.next)) this.next = this.next >= MAX_DIR_HANDLE ? 1 : this.next + 1;
    const fh = this.next;
    this.next = this.next >= MAX_DIR_HANDLE ? 1 : this.next + 1;
    this.open.set(fh, { nodeid, listing: null, loading: null });
    return fh;
  }

  release(fh: number): void {
    this.open.delete(fh);
  }

  /**
   * The listing for a READDIR at offset. Offset 0 reads the directory afresh (opendir, rewinddir);
   * later offsets reuse it. Concurrent callers share one load.
   */
  async listing(fh: number, offset: number, load: () => Promise<DirName[]>): Promise<DirListing> {
    const h = this.open.get(fh);
    if (!h) throw errno('EBADF');
    if (h.loading) return h.loading;
    if (h.listing && offset > 0) return h.listing;
    const loading = load().then((entries) => {
      const listing = { entries, encoded: entries.map((e) => Buffer.from(e.name, 'utf8')) };
      h.listing = listing;
      return listing;
    });
    h.loading = loading;
    try {
      return await loading;
    } finally {
      h.loading = null;
    }
  }
}
