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

  constructor(readonly bytes: number, private readonly keep: number) {}

  /**
   * A buffer of at least `atLeast` bytes (default: the pool's size). One the pool cannot keep (it
   * keeps none, or it is larger than the pool's buffers) is a fresh buffer of exactly that size, so
   * a caller with a small need never gets a whole pool-sized allocation for nothing.
   */
  take(atLeast = this.bytes): Buffer {
    if (atLeast > this.bytes || this.keep === 0) return Buffer.allocUnsafe(atLeast);
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
    this.free.push(b.byteOffset === 0 && b.length === this.bytes ? b : Buffer.from(b.buffer, 0, this.bytes));
  }
}
