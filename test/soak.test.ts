// Chaos soak: writers and readers work through FUSE mounts against a model of the expected
// contents while real faults hit the data servers (SIGKILL and restart, bytes flipped in stored
// block files, a wiped data directory restarted blank). Then the faults stop, fsck must report N
// verified copies of every block within FSCK_BOUND_MS, and a full read-back must equal the model.
//
// Configuration: N=5, Qw=3, Qr=3 (Qr + Qw = 6 > 5). With f servers faulty, a write needs N - f >= Qw
// servers up and a read needs N - f >= Qr good copies, so f <= min(N - Qw, N - Qr) = 2 keeps both
// working; Qw = Qr = 3 is the split of N=5 that tolerates the most faults for reads and writes
// alike, and writes go on while two servers are down (what the report's Qw=N could not do). The
// injector never lets more than 2 servers be faulty, counting a server faulty from the fault until
// it is seen whole again (test/helpers/fault-injector.ts). Within that budget nothing may fail: no
// operation returns an error (EIO included) and every read returns exactly what the model expects.
//
// Writers (mount A) own their paths: create or overwrite whole, append, rename, delete, and read
// back their own files. Readers use a second mount (B): an acknowledged write (close returned 0)
// must be visible there whole (close-to-open). A read never overlaps a change of the same path (a
// per-path lock in the model), so every read must return exactly the last acknowledged contents:
// what a read racing a writer may see is the subject of the FUSE tests; here the question is
// whether faults ever make the cluster return anything else.
//
// QFS_SEED=<n> replays the operations and fault choices (timing still varies); QFS_SOAK_SECONDS
// sets the duration (default 180); QFS_SOAK_VERBOSE=1 prints operations and faults as they happen.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { FaultInjector } from './helpers/fault-injector.js';
import { run, startMount, unmountAll, type TestMount } from './helpers/fuse.js';
import { Model, content, prng, type Contents, type Prng } from './helpers/soak-model.js';
import { CLI } from './helpers/procs.js';

const SEED = Number(process.env.QFS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const DURATION_MS = Number(process.env.QFS_SOAK_SECONDS ?? 180) * 1000;
/** QFS_SOAK_VERBOSE=1 prints every operation and fault as it happens. */
const VERBOSE = process.env.QFS_SOAK_VERBOSE === '1';
const CONFIG = { replicas: 5, writeQuorum: 3, readQuorum: 3, blockSizeBytes: 64 * 1024 };
const BUDGET = CONFIG.replicas - Math.max(CONFIG.readQuorum, CONFIG.writeQuorum);
const BLOCK = CONFIG.blockSizeBytes;
/** Small files (at most 12 blocks): the data set, and so each repair and rebuild, stays a few MiB. */
const MAX_FILE_BYTES = 12 * BLOCK;
const WRITERS = 3;
const READERS = 2;
const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
const COLD_DIR = '/soak/cold';
const COLD_FILES = 24;
/** From the end of the faults to a clean fsck: repair of a blank server's few MiB plus backoffs. */
const FSCK_BOUND_MS = 120_000;

let cluster: TestCluster | undefined;
let injector: FaultInjector | undefined;
let writeMount: TestMount;
let readMount: TestMount;
let stopWork = false;

before(async () => {
  cluster = await startTestCluster(CONFIG, {
    dataMeta: true,
    // Quick down detection; garbage collected during the run (overwrites leave a lot); scrubbing
    // often enough that flipped bytes nobody reads are found within seconds.
    metaArgs: ['--down-after-ms', '1500', '--gc-grace-ms', '15000'],
    dataArgs: ['--scrub-rate-mb-per-s', '16', '--scrub-interval-ms', '3000'],
  });
  writeMount = await startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile });
  readMount = await startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile });
});

after(async () => {
  stopWork = true;
  // The injector first: a restart it has under way must not start a server after stop() killed the rest.
  await injector?.abort();
  await unmountAll();
  await cluster?.stop();
});

interface Counts { [op: string]: number }

test(`chaos soak through the mount (N=5 Qw=3 Qr=3, at most ${BUDGET} servers faulty)`, { timeout: DURATION_MS + 5 * 60_000 }, async () => {
  const c = cluster!;
  const rnd = prng(SEED);
  const model = new Model();
  const ops: Counts = {};
  const problems: string[] = [];
  const events: string[] = [];
  const note = (line: string) => {
    events.push(`${new Date().toISOString().slice(11, 23)} ${line}`);
    if (VERBOSE) console.log(events[events.length - 1]);
    if (events.length > 80) events.shift();
  };
  const fail = (line: string) => {
    problems.push(line);
    note(`PROBLEM ${line}`);
    stopWork = true;
  };
  const count = (op: string) => { ops[op] = (ops[op] ?? 0) + 1; };
  const failureReport = () => `seed ${SEED} (replay with QFS_SEED=${SEED}):\n${problems.join('\n')}\nlast events:\n${events.join('\n')}`
    + `\nwrite mount log:\n${writeMount.output().slice(-3000)}\nread mount log:\n${readMount.output().slice(-3000)}`;

  const dirs = Array.from({ length: WRITERS }, (_, w) => `/soak/w${w}`);
  await fs.mkdir(join(writeMount.mountpoint, 'soak'));
  for (const d of [...dirs, COLD_DIR]) await fs.mkdir(join(writeMount.mountpoint, d));
  // Cold files, written once before the faults and only read after: the writers' files turn over in
  // seconds, so without these a server could be "whole" again by new writes alone, repair or not.
  const coldRnd = prng(rnd.u32());
  for (let i = 0; i < COLD_FILES; i++) {
    const p = `${COLD_DIR}/c${i}`;
    const data = content(coldRnd.u32(), coldRnd.int(0, 10 * BLOCK));
    await model.change([[p, data]], () => fs.writeFile(join(writeMount.mountpoint, p), data)).catch((err: unknown) => {
      fail(`writing cold file ${p} (no faults yet): ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    });
  }
  assert.deepEqual(problems, [], failureReport());

  injector = new FaultInjector({ cluster: c, budget: BUDGET, rnd: prng(rnd.u32()), oldestWriteMs: () => model.oldestInFlightMs(), log: note });
  const startedMs = Date.now();
  const deadline = startedMs + DURATION_MS;
  injector.start();
  const working = () => !stopWork && Date.now() < deadline && injector!.errors.length === 0;

  const writer = async (w: number, r: Prng) => {
    const path = (n: string) => `${dirs[w]}/${n}`;
    const on = (p: string) => join(writeMount.mountpoint, p);
    while (working()) {
      const existing = NAMES.map(path).filter((p) => model.current(p) !== null);
      const x = r.next();
      if (x < 0.15 && existing.length > 0) {
        await checkedRead(`writer ${w}`, writeMount, r.pick(existing));
        continue;
      }
      let op: string;
      let changes: Array<[string, Contents]>;
      let act: () => Promise<unknown>;
      if (x < 0.35 && existing.length > 0) {
        const p = r.pick(existing);
        const cur = model.current(p)!;
        const extra = content(r.u32(), r.int(1, 2 * BLOCK));
        if (cur.length + extra.length <= MAX_FILE_BYTES) {
          op = 'append';
          changes = [[p, Buffer.concat([cur, extra])]];
          act = () => fs.appendFile(on(p), extra);
        } else {
          op = 'delete';
          changes = [[p, null]];
          act = () => fs.unlink(on(p));
        }
      } else if (x < 0.47 && existing.length > 0) {
        const from = r.pick(existing);
        const to = path(r.pick(NAMES.filter((n) => path(n) !== from)));
        op = 'rename';
        changes = [[from, null], [to, model.current(from)]];
        act = () => fs.rename(on(from), on(to));
      } else if (x < 0.55 && existing.length > 0) {
        const p = r.pick(existing);
        op = 'delete';
        changes = [[p, null]];
        act = () => fs.unlink(on(p));
      } else {
        const p = path(r.pick(NAMES));
        const size = r.pick([0, 1, 4095, BLOCK - 1, BLOCK, BLOCK + 1, r.int(1, 3 * BLOCK), r.int(1, 10 * BLOCK)]);
        const data = content(r.u32(), size);
        op = 'overwrite';
        changes = [[p, data]];
        // A truncation with nothing written is committed when the last descriptor goes (RELEASE,
        // which the kernel sends just after close returns: `echo x > f` closes a dup before it
        // writes, and must not show other mounts an empty file). fsync is what acknowledges it.
        act = size === 0 ? () => writeEmptySynced(on(p)) : () => fs.writeFile(on(p), data);
      }
      count(op);
      const t0 = Date.now();
      try {
        await model.change(changes, act);
      } catch (err) {
        fail(`writer ${w}: ${op} ${changes.map(([p]) => p).join(' -> ')} failed after ${Date.now() - t0} ms: ${(err as NodeJS.ErrnoException).code ?? String(err)} (faulty: ${injector!.faultyNow.join(',') || 'none'})`);
        return;
      }
      note(`w${w} ${op} ${changes.map(([p, d]) => `${p}${d === null ? '' : `=${d.length}`}`).join(' ')} in ${Date.now() - t0} ms`);
    }
  };

  /** Reads path through mount m and compares it with the model; false after a problem. */
  const checkedRead = (who: string, m: TestMount, p: string): Promise<boolean> => model.read(p, async (expected) => {
    const t0 = Date.now();
    let got: Contents;
    try {
      got = await fs.readFile(join(m.mountpoint, p));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') {
        fail(`${who}: read of ${p} failed after ${Date.now() - t0} ms: ${code ?? String(err)} (faulty: ${injector!.faultyNow.join(',') || 'none'})`);
        return false;
      }
      got = null;
    }
    count(m === writeMount ? 'read-own' : got === null ? 'read-absent' : 'read');
    if (got === null ? expected === null : expected !== null && got.equals(expected)) return true;
    fail(`${who}: ${p} read ${got === null ? 'ENOENT' : `${got.length} bytes`}, expected ${expected === null ? 'ENOENT' : `${expected.length} bytes`}`
      + (got === null ? '' : ` (${model.explain(p, got)})`));
    return false;
  });

  const reader = async (r: Prng) => {
    const all = [...dirs.flatMap((d) => NAMES.map((n) => `${d}/${n}`)), ...Array.from({ length: COLD_FILES }, (_, i) => `${COLD_DIR}/c${i}`)];
    while (working()) {
      // Mostly files that exist; now and then a name that may not (ENOENT must stay ENOENT).
      const existing = model.existing();
      const p = existing.length > 0 && r.next() < 0.85 ? r.pick(existing) : r.pick(all);
      if (!(await checkedRead('reader', readMount, p))) return;
    }
  };

  try {
    await Promise.all([
      ...Array.from({ length: WRITERS }, (_, w) => writer(w, prng(rnd.u32()))),
      ...Array.from({ length: READERS }, () => reader(prng(rnd.u32()))),
    ]);
  } finally {
    await injector.stop();
  }
  const faultsEndMs = Date.now();
  assert.deepEqual(problems, [], failureReport());
  assert.deepEqual(injector.errors, [], `seed ${SEED}: faults could not be made or undone; last events:\n${events.join('\n')}`);

  // Faults over: the cluster must get back to N verified copies of everything on its own.
  let fsckOut = '';
  let clean = false;
  while (!clean && Date.now() - faultsEndMs < FSCK_BOUND_MS) {
    const r = await run(process.execPath, [CLI, 'fsck', '--json', '--meta', c.metaUrl, '--secret-file', c.secretFile], { timeoutMs: 60_000 });
    fsckOut = r.stdout || r.stderr;
    clean = r.code === 0;
    if (!clean) await new Promise((res) => setTimeout(res, 2_000));
  }
  const cleanAfterMs = Date.now() - faultsEndMs;
  assert.ok(clean, `seed ${SEED}: fsck not clean ${FSCK_BOUND_MS / 1000} s after the faults stopped; last output:\n${summarizeFsck(fsckOut)}\nlast events:\n${events.join('\n')}`);

  // Every acknowledged write is there, on both mounts' listings, and reads back exactly.
  for (const m of [readMount, writeMount]) {
    for (const d of [...dirs, COLD_DIR]) {
      const want = model.existing().filter((p) => p.startsWith(`${d}/`)).map((p) => p.slice(d.length + 1)).sort();
      assert.deepEqual((await fs.readdir(join(m.mountpoint, d))).sort(), want, `seed ${SEED}: names in ${d}`);
    }
  }
  for (const p of model.existing()) {
    const got = await fs.readFile(join(readMount.mountpoint, p));
    assert.ok(got.equals(model.current(p)!), `seed ${SEED}: final read-back of ${p}: ${got.length} bytes, expected ${model.current(p)!.length} (${model.explain(p, got)})`);
  }

  const i = injector;
  const faults = i.injected.kill + i.injected.corrupt + i.injected.wipe;
  const totalOps = Object.values(ops).reduce((a, b) => a + b, 0);
  const recovery = i.recoveryMs.length ? `, servers whole again after ${Math.round(median(i.recoveryMs) / 100) / 10} s median (max ${Math.round(Math.max(...i.recoveryMs) / 100) / 10} s)` : '';
  console.log(`soak seed ${SEED}: ${Math.round((faultsEndMs - startedMs) / 1000)} s, ${totalOps} ops ${JSON.stringify(ops)}, `
    + `${faults} faults (${i.injected.kill} kill, ${i.injected.corrupt} corrupt, ${i.injected.wipe} wipe; at most ${i.maxFaulty} faulty at once)${recovery}, `
    + `fsck clean ${(cleanAfterMs / 1000).toFixed(1)} s after the faults stopped, ${model.existing().length} files read back`);
  // A soak that injected nothing or did nothing proves nothing.
  const minFaults = Math.min(5, Math.floor(DURATION_MS / 20_000));
  assert.ok(faults >= minFaults, `seed ${SEED}: only ${faults} faults injected (expected at least ${minFaults})`);
  for (const k of ['kill', 'corrupt', 'wipe'] as const) if (faults >= 5) assert.ok(i.injected[k] >= 1, `seed ${SEED}: no ${k} fault injected`);
  assert.ok((ops.overwrite ?? 0) >= 20 && (ops.read ?? 0) >= 20, `seed ${SEED}: too little work done: ${JSON.stringify(ops)}`);
});

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The summary and the files that are not healthy, from fsck --json output (or the raw text). */
function summarizeFsck(out: string): string {
  try {
    const j = JSON.parse(out) as { summary: unknown; files: Array<{ paths: string[]; status: string; problems: unknown[] }> };
    const bad = j.files.filter((f) => f.status !== 'healthy').slice(0, 10).map((f) => `${f.status} ${f.paths.join(',')} ${JSON.stringify(f.problems).slice(0, 300)}`);
    return `${JSON.stringify(j.summary)}\n${bad.join('\n')}`;
  } catch {
    return out.slice(0, 3000);
  }
}

async function writeEmptySynced(path: string): Promise<void> {
  const fh = await fs.open(path, 'w');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
