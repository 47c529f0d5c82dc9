#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build`.
import { spawn } from 'node:child_process';
import { HEAP_FLAGS, MALLOC_TUNABLES } from '../dist/src/common/tuned-env.js';

// Client commands that move block data run with the allocator and heap settings of tuned-env.ts,
// which glibc and V8 only read at startup: without them they re-run themselves once with them
// (`up` too, for the mount it may serve in process). Servers and mounts are not wrapped: whoever
// starts them (our cluster code, `quorumfs mount`, a service unit) gives the settings, so their
// pid stays the real process for signals and SIGKILL.
const WRAPPED = new Set(['put', 'get', 'cat', 'up']);
const heapFlagsMissing = HEAP_FLAGS.some((f) => !process.execArgv.includes(f));

if ((!process.env.GLIBC_TUNABLES || heapFlagsMissing) && WRAPPED.has(process.argv[2] ?? '')) {
  const child = spawn(process.execPath, [...HEAP_FLAGS, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GLIBC_TUNABLES: process.env.GLIBC_TUNABLES || MALLOC_TUNABLES },
  });
  // A terminal's Ctrl-C reaches the whole process group, the child included; other signals sent to
  // this pid are passed on. Either way the child decides when to exit, and we follow it.
  process.on('SIGINT', () => undefined);
  for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => {
    if (signal) {
      process.removeAllListeners(signal);
      process.kill(process.pid, signal);
    }
    process.exit(code ?? 1);
  });
} else {
  const { main } = await import('../dist/src/cli/main.js');
  main(process.argv).catch((err) => {
    process.stderr.write(`quorumfs: ${err && err.message ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
