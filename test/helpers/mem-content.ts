// File bytes of the in-memory file system, in 1 MiB chunks. The in-memory mount is the bench's
// ceiling of the FUSE binding, so the file system itself must cost next to nothing: no copy of a
// whole file per open, flush or growth. Versions share chunks; a chunk is copied before a
// handle changes one it does not own (copy on write), and a committed version never changes.

const CHUNK_BYTES = 1 << 20;
/** A chunk starts this small and doubles: a 4 KiB file must not cost a zeroed 1 MiB. */
const MIN_CHUNK_BYTES = 4096;

export class MemContent {
  /** A missing chunk (a hole, or past a truncate), or the part past a short chunk's end, reads as zeros. */
  private readonly chunks: Array<Buffer | undefined>;
  /** Chunks this version made itself and may change in place; all others are shared. */
  private readonly own = new Set<Buffer>();

  constructor(private bytes = 0, chunks: Array<Buffer | undefined> = []) {
    this.chunks = chunks;
  }

  get size(): number {
    return this.bytes;
  }

  /** A version that shares every chunk with this one; both copy before changing a chunk again. */
  snapshot(): MemContent {
    this.own.clear();
    return new MemContent(this.bytes, this.chunks.slice());
  }

  /** Bytes [offset, offset+length) clipped to the size; they stay valid however this version changes later. */
  read(offset: number, length: number): Buffer {
    const end = Math.min(offset + length, this.bytes);
    if (offset >= end) return Buffer.alloc(0);
    const first = Math.floor(offset / CHUNK_BYTES);
    const c = this.chunks[first];
    if (first === Math.floor((end - 1) / CHUNK_BYTES) && (!c || end - first * CHUNK_BYTES <= c.length)) {
      if (!c) return Buffer.alloc(end - offset);
      const part = c.subarray(offset - first * CHUNK_BYTES, end - first * CHUNK_BYTES);
      return this.own.has(c) ? Buffer.from(part) : part;
    }
    const out = Buffer.alloc(end - offset);
    for (let pos = offset; pos < end;) {
      const i = Math.floor(pos / CHUNK_BYTES);
      const upto = Math.min(end, (i + 1) * CHUNK_BYTES);
      const from = pos - i * CHUNK_BYTES;
      const src = this.chunks[i];
      if (src && from < src.length) src.copy(out, pos - offset, from, upto - i * CHUNK_BYTES);
      pos = upto;
    }
    return out;
  }

  write(offset: number, data: Buffer): void {
    for (let done = 0; done < data.length;) {
      const pos = offset + done;
      const i = Math.floor(pos / CHUNK_BYTES);
      const at = pos - i * CHUNK_BYTES;
      const n = Math.min(data.length - done, CHUNK_BYTES - at);
      data.copy(this.writable(i, at + n), at, done, done + n);
      done += n;
    }
    this.bytes = Math.max(this.bytes, offset + data.length);
  }

  truncate(size: number): void {
    if (size < this.bytes) {
      const keep = Math.ceil(size / CHUNK_BYTES);
      this.chunks.length = Math.min(this.chunks.length, keep);
      // The cut chunk's tail must read as zeros if the file grows again.
      const tail = size % CHUNK_BYTES;
      const last = this.chunks[keep - 1];
      if (tail > 0 && last && tail < last.length) this.writable(keep - 1, 0).fill(0, tail);
    }
    this.bytes = size;
  }

  /** Chunk i, owned by this version and at least `reach` bytes long. */
  private writable(i: number, reach: number): Buffer {
    const c = this.chunks[i];
    if (c && this.own.has(c) && c.length >= reach) return c;
    let size = Math.max(MIN_CHUNK_BYTES, c?.length ?? 0);
    while (size < reach) size *= 2;
    const mine = Buffer.alloc(Math.min(size, CHUNK_BYTES));
    c?.copy(mine);
    if (c) this.own.delete(c);
    this.chunks[i] = mine;
    this.own.add(mine);
    return mine;
  }
}
