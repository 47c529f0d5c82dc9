/**
 * Buffers of one size, reused. A new large buffer costs page faults to fill, and a stream of them
 * makes V8 run full collections for the external memory (a data server receiving a sequential
 * write spent about 2.5 ms per MiB in mark-compacts started by "external memory pressure").
 * Only a caller that knows no reference outlives its use may give a buffer back.
 */
export class BufferPool {
  private readonly free: Buffer[] = [];
  constructor(readonly bytes: number, private readonly keep: number) {}

  take(): Buffer {
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bytes);
  }

  give(b: Buffer): void {
    if (b.length === this.bytes && this.free.length < this.keep) this.free.push(b);
  }
}
