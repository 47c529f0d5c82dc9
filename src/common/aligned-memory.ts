// Page-aligned buffers, for writes that bypass the page cache (O_DIRECT, see DiskBlockStore.put).
// O_DIRECT needs the memory, offset and length aligned to the device's block size; a Buffer's
// memory comes from malloc and is only 16-byte aligned, and JavaScript cannot see addresses. A
// WebAssembly memory starts on a page boundary (V8 maps it with mmap), so views into one at
// multiples of the page size are aligned. A memory is made at its final size and never grown:
// growing would detach every view into it.

const PAGE_BYTES = 4096;
const WASM_PAGE_BYTES = 65536;

/** The memories made here: a view into one at a page multiple is page-aligned. */
const alignedMemories = new WeakSet<ArrayBufferLike>();

/** `count` buffers of `bytes` each, every one starting on a page boundary, out of one memory. */
export function alignedBuffers(bytes: number, count: number): Buffer[] {
  const stride = alignedStride(bytes);
  const pages = Math.max(1, Math.ceil((stride * count) / WASM_PAGE_BYTES));
  const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
  alignedMemories.add(memory.buffer);
  return Array.from({ length: count }, (_, i) => Buffer.from(memory.buffer, i * stride, bytes));
}

/** Distance between two buffers of `bytes` in alignedBuffers' memory. */
export function alignedStride(bytes: number): number {
  return Math.ceil(bytes / PAGE_BYTES) * PAGE_BYTES;
}

/** Whether b starts on a page boundary: a view at a page multiple of memory made here. */
export function isPageAligned(b: Uint8Array): boolean {
  return b.byteOffset % PAGE_BYTES === 0 && alignedMemories.has(b.buffer);
}
