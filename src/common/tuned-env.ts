// Memory allocator settings for every QuorumFS process that moves block data.
//
// Measured on the 2-vCPU VMs we run on (scratch profile, 2026-11-25): a fresh 1 MiB Buffer comes
// from a new mmap, and touching its 256 pages costs ~4 ms of page faults; reading a cached block
// file into it took 4.3 ms and its first SHA-256 pass 2.7 ms, against 0.3 ms and 0.65 ms for a
// buffer whose pages were already mapped. glibc's defaults cause this: blocks of 1 MiB are above
// its mmap threshold, so every block buffer is mapped fresh and unmapped when V8 frees it.
// These tunables keep block-sized allocations in the heap (reused after GC, not returned to the
// kernel at once) and back the heap with transparent huge pages (one fault per 2 MiB). glibc reads
// them at process start only, so they are set in the environment of the processes we spawn; other
// C libraries ignore them. package.json's test and bench scripts carry the same string.
export const MALLOC_TUNABLES = 'glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456';

/** `env` with our allocator settings, unless the caller chose their own GLIBC_TUNABLES. */
export function tunedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return env.GLIBC_TUNABLES ? env : { ...env, GLIBC_TUNABLES: MALLOC_TUNABLES };
}
