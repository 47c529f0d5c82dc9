import { alignedBuffers, alignedStride } from './aligned-memory.js';

/**
 * Buffers of one size, reused. A new large buffer costs page faults to fill, and a stream of them
 * makes V8 run full collections for the external memory (a data server receiving a sequential
 * write spent about 2.5 ms per MiB in mark-compacts started by "external memory pressure").
 * Only a caller that knows no reference outlives its use may give a buffer back.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  /** The memory of every buffer this pool made: only those come back, whatever view of them is given. */
  private readonly made = new WeakSet<ArrayBufferLike>();
  /** The memory of the aligned buffers, once made; with `aligned`, only those are kept. */
  private slab: ArrayBufferLike | null = null;

  /** With `aligned`: every buffer it keeps starts on a page boundary (aligned-memory.ts), made together at first use. */
  private stride: number | null;

  constructor(readonly bytes: number, private readonly keep: number, opts: { aligned?: boolean } = {}) {
    this.stride = opts.aligned && keep > 0 ? alignedStride(bytes) : null;
  }

  /**
   * A buffer of at least `atLeast` bytes (default: the pool's size). One the pool cannot keep (it
   * keeps none, or it is larger than the pool's buffers) is a fresh buffer of exactly that size, so
   * a caller with a small need never gets a whole pool-sized allocation for nothing.
   */
  take(atLeast = this.bytes): Buffer {
    if (atLeast > this.bytes || this.keep === 0) return Buffer.allocUnsafe(atLeast);
    if (this.stride !== null && this.slab === null) {
      let slab: Buffer[];
      try {
        slab = alignedBuffers(this.bytes, this.keep);
      } catch {
        // V8 reserves ~10 GiB of address space for a WebAssembly memory: under a smaller
        // `ulimit -v` it cannot make one. Ordinary buffers then, written through the page cache.
        this.stride = null;
        return this.take(atLeast);
      }
      this.slab = slab[0]!.buffer;
      this.made.add(this.slab);
      this.free.push(...slab.reverse());
    }
    const spare = this.free.pop();
    if (spare) return spare;
    const b = Buffer.allocUnsafeSlow(this.bytes);
    this.made.add(b.buffer);
    return b;
  }

  /**
   * Gives back the buffer that b is, or is a view into (a subarray handed on as the answer).
   * A buffer this pool did not make is ignored, so callers need not track where theirs came from.
   */
  give(b: Buffer): void {
    if (!this.made.has(b.buffer) || this.free.length >= this.keep) return;
    // Buffers made past the aligned ones are left to the garbage collector: the kept ones stay aligned.
    if (this.slab !== null && b.buffer !== this.slab) return;
    // A view of a slab buffer goes back as that buffer: the slot its offset falls in.
    const start = this.stride !== null ? Math.floor(b.byteOffset / this.stride) * this.stride : 0;
    this.free.push(b.byteOffset === start && b.length === this.bytes ? b : Buffer.from(b.buffer, start, this.bytes));
  }
}
