// A written block's buffer, shared by the open file that fills it, the write session that uploads
// it and the readers that copy from it meanwhile. A buffer from the block cache's pool goes back
// there when the last of them lets go, never before: a reader between hold and release must not
// see it refilled by the next write.
//
// Why pool them: the mount copied every 1 MiB FUSE write into a fresh buffer, and the heap grew to
// hold them until a collection freed them. On these VMs a fresh page is slow to touch: in a profile
// of a 512 MiB sequential write, the kernel zeroing new heap pages (clear_page_erms under the
// mount's malloc) was 7% of all CPU samples on the machine, more than the mount's SHA-256.
import type { BufferPool } from '../common/buffer-pool.js';
import type { HeldBlock } from './block-cache.js';

export class SharedBlock {
  private refs = 1;

  /** `bytes` with one reference (the caller's); `pool` takes it back after the last unref, if it made it. */
  constructor(readonly bytes: Buffer, private readonly pool: BufferPool | null = null) {}

  /** A buffer of the pool holding `data` (no longer than the pool's buffers) from its start, zeros after it. */
  static blockOf(data: Buffer, pool: BufferPool): SharedBlock {
    const b = pool.take();
    data.copy(b);
    b.fill(0, data.length);
    return new SharedBlock(b, pool);
  }

  ref(): this {
    if (this.refs <= 0) throw new Error('SharedBlock: ref after the last unref');
    this.refs++;
    return this;
  }

  unref(): void {
    if (this.refs <= 0) throw new Error('SharedBlock: unref after the last one');
    if (--this.refs === 0) this.pool?.give(this.bytes);
  }

  /** A reader's hold: one more reference, given up by release() (once, however often it is called). */
  hold(view: Buffer = this.bytes): HeldBlock {
    this.ref();
    let released = false;
    return {
      bytes: Promise.resolve(view),
      release: () => {
        if (released) return;
        released = true;
        this.unref();
      },
    };
  }
}
