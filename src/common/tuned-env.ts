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

/**
 * V8 heap settings for the same processes, given on their command line (V8 reads them when the
 * process starts; NODE_OPTIONS refuses this one). A mount or data server keeps ~12 MB of live
 * objects, so V8 set its old-generation limit near 27 MB, and started a major collection after
 * every few scavenges (as far as we can tell because the room left under the limit was smaller
 * than one young generation, up to 16 MB): 20-39 in one cold 512 MiB read, their concurrent
 * marking ~1-2 ms of CPU per MiB on helper threads. A 128 MB floor under the limit (V8 then skips
 * full collections below it) cut that to none. Measured on fresh local clusters, pairs without
 * and with: mount CPU per MiB read 3.85 -> 2.97 and 3.55 -> 2.93 ms, per MiB written 6.27 -> 4.34
 * and 5.66 -> 4.86 ms, each data server's 4.7 -> 4.1 ms. The price is up to ~116 MB more garbage
 * per busy process before a collection; V8's memory reducer collects it once the process idles.
 */
export const HEAP_FLAGS: readonly string[] = ['--initial-old-space-size=128'];

/** `env` with our allocator settings, unless the caller chose their own GLIBC_TUNABLES. */
export function tunedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return env.GLIBC_TUNABLES ? env : { ...env, GLIBC_TUNABLES: MALLOC_TUNABLES };
}
