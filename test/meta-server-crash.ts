// Crash test of the metadata server: writers commit new block lists and replace files by rename
// (the editor's "write temp, rename over" pattern) while the process is SIGKILLed at a random
// moment. After restart the store must pass its integrity check and every file must show either
// its last acknowledged version or the one that was in flight, never anything else.
import assert from 'node:assert/strict';
import { OWNER, hashOf } from './meta-conformance-helpers.js';
import type { Running } from './meta-server.test.js';

/** The crash cluster's block size (meta-server.test.ts formats with 64 KiB). */
const BLOCK_BYTES = 65536;
/** A small pool so files share blocks and refcounts are exercised across files. */
const POOL = Array.from({ length: 12 }, (_, i) => hashOf(`crash-pool-${i}`));
const DIRECT_FILES = ['/c/f0', '/c/f1', '/c/f2'];
const RENAMED_FILES = ['/c/r0', '/c/r1'];

interface Tracked {
  acked: string;
  pending: string | null;
}

type Version = { size: number; blocks: Array<string | null> };
const key = (v: Version) => JSON.stringify([v.size, v.blocks]);

function randomVersion(): Version {
  const n = Math.floor(Math.random() * 5);
  const blocks = Array.from({ length: n }, () => (Math.random() < 0.15 ? null : POOL[Math.floor(Math.random() * POOL.length)]!));
  return { size: n * BLOCK_BYTES, blocks };
}

const sizesOf = (v: Version) => Object.fromEntries(v.blocks.filter((b): b is string => b !== null).map((b) => [b, BLOCK_BYTES]));

export async function runCrashRounds(first: Running, restart: (r: Running) => Promise<Running>, opts: { rounds: number }): Promise<Running> {
  let r = first;
  const state = new Map<string, Tracked>();
  await r.client.api.mkdir({ path: '/c', mode: 0o755, owner: OWNER });
  for (const p of [...DIRECT_FILES, ...RENAMED_FILES]) {
    await r.client.api.create({ path: p, mode: 0o644, owner: OWNER, exclusive: true });
    state.set(p, { acked: key({ size: 0, blocks: [] }), pending: null });
  }
  let totalOps = 0;
  for (let round = 0; round < opts.rounds; round++) {
    let killed = false;
    let ops = 0;
    const api = r.client.api;
    // Errors before the kill are test failures, collected rather than thrown so none goes unhandled.
    const failures: unknown[] = [];
    const guard = async (loop: () => Promise<void>) => {
      try {
        while (!killed) {
          await loop();
          ops++;
        }
      } catch (err) {
        if (!killed) failures.push(err);
      }
    };
    const direct = DIRECT_FILES.map((p) => guard(async () => {
      const t = state.get(p)!;
      const { ino } = await api.lookup({ path: p });
      const v = randomVersion();
      t.pending = key(v);
      await api.commit({ ino, size: v.size, blocks: v.blocks, blockSizes: sizesOf(v) });
      t.acked = t.pending;
      t.pending = null;
    }));
    let tmpCounter = 0;
    const renamed = RENAMED_FILES.map((p) => guard(async () => {
      const t = state.get(p)!;
      const tmp = `${p}.tmp-${round}-${tmpCounter++}`;
      const { ino } = await api.create({ path: tmp, mode: 0o644, owner: OWNER, exclusive: true });
      const v = randomVersion();
      await api.commit({ ino, size: v.size, blocks: v.blocks, blockSizes: sizesOf(v) });
      t.pending = key(v);
      await api.rename({ from: tmp, to: p });
      t.acked = t.pending;
      t.pending = null;
    }));
    await new Promise((res) => setTimeout(res, 150 + Math.random() * 600));
    killed = true;
    await r.proc.kill();
    await Promise.all([...direct, ...renamed]);
    await r.client.close();
    assert.deepEqual(failures, [], `round ${round}: writers failed before the kill`);
    assert.ok(ops > 0, `round ${round}: writers made progress before the kill`);
    totalOps += ops;

    r = await restart(r);
    const report = await r.client.integrity();
    assert.deepEqual(report.problems, [], `round ${round}: integrity after SIGKILL`);
    for (const [p, t] of state) {
      const { ino } = await r.client.api.lookup({ path: p });
      const got = key(await r.client.api.getLayout({ ino }));
      assert.ok(got === t.acked || got === t.pending, `round ${round}: ${p} is ${got}, expected ${t.acked} or ${t.pending}`);
      // Whatever survived is now the acknowledged state for the next round.
      t.acked = got;
      t.pending = null;
    }
  }
  assert.ok(totalOps > 20, `only ${totalOps} operations ran; the crash test did not exercise much`);
  return r;
}
