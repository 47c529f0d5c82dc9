// The threadpool request source keeps one libuv threadpool thread blocked in read(2) per reader
// loop, and the pool also serves every fs.promises call of the process: readers must leave some
// threads free. libuv sizes the pool once, from UV_THREADPOOL_SIZE, at its first use, and Node
// already uses it to read the first ES module: setting the variable from our code is too late, it
// has to be in the environment the mount process starts with.

/** libuv's default when UV_THREADPOOL_SIZE is unset. */
const LIBUV_DEFAULT_THREADS = 4;

/** The size of this process's pool: the environment it started with (nothing of ours changes it). */
export function threadpoolSize(env: NodeJS.ProcessEnv = process.env): number {
  const n = Number(env.UV_THREADPOOL_SIZE);
  return Number.isInteger(n) && n > 0 ? Math.min(n, 1024) : LIBUV_DEFAULT_THREADS;
}
