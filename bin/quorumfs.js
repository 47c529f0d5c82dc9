#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build`.
import { spawn } from 'node:child_process';
import { MALLOC_TUNABLES } from '../dist/src/common/tuned-env.js';

// Client commands that move block data run with the allocator settings of tuned-env.ts, which glibc
// only reads at startup: without them they re-run themselves once with the setting. Servers and
// mounts are not wrapped: whoever starts them (our cluster code, `quorumfs mount`, a service unit)
// sets the environment, so their pid stays the real process for signals and SIGKILL.
const WRAPPED = new Set(['put', 'get', 'cat', 'up']);

if (!process.env.GLIBC_TUNABLES && WRAPPED.has(process.argv[2] ?? '')) {
  const child = spawn(process.execPath, process.argv.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, GLIBC_TUNABLES: MALLOC_TUNABLES },
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
