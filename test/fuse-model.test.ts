// Model-based test: a seeded random sequence of file system calls applied in lockstep to the mount
// and to a local directory (the model). After every call the results (data, sizes, names, error
// codes) must be the same; every so often the whole trees are compared.
// QFS_SEED=<n> replays a sequence; QFS_MODEL_STEPS and QFS_MODEL_BUDGET_MS size the run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { startMount, unmountAll, type TestMount } from './helpers/fuse.js';
import { tempDir } from './helpers/procs.js';
import { prng } from './helpers/soak-model.js';

const SEED = Number(process.env.QFS_SEED ?? 424242);
const MAX_STEPS = Number(process.env.QFS_MODEL_STEPS ?? 3000);
/** The run stops early at this wall time so the test stays under a minute on a slow machine. */
const BUDGET_MS = Number(process.env.QFS_MODEL_BUDGET_MS ?? 40_000);
const BLOCK = 64 * 1024;
const NAMES = ['a', 'b', 'c', 'd'];

let cluster: TestCluster;
let m: TestMount;

before(async () => {
  cluster = await startTestCluster({ replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: BLOCK });
  // Debug level: on a mismatch the mount's own account of the last operations is in the message.
  m = await startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile, logLevel: 'debug' });
});

after(async () => {
  await unmountAll();
  await cluster?.stop();
});

type Outcome = { ok: unknown } | { err: string };

async function outcome(f: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await f() };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!code) throw err;
    return { err: code };
  }
}

interface Entry { path: string; type: 'file' | 'dir' | 'symlink' }

async function walk(root: string, rel = ''): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const d of await fs.readdir(join(root, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${d.name}` : d.name;
    if (d.isDirectory()) out.push({ path, type: 'dir' }, ...(await walk(root, path)));
    else out.push({ path, type: d.isSymbolicLink() ? 'symlink' : 'file' });
  }
  return out;
}

/** Names, types, sizes, link targets and contents of both trees. */
async function snapshot(root: string): Promise<string[]> {
  const lines: string[] = [];
  for (const e of (await walk(root)).sort((x, y) => x.path.localeCompare(y.path))) {
    const p = join(root, e.path);
    if (e.type === 'dir') lines.push(`d ${e.path}`);
    else if (e.type === 'symlink') lines.push(`l ${e.path} -> ${await fs.readlink(p)}`);
    else {
      const st = await fs.stat(p);
      const data = await fs.readFile(p);
      lines.push(`f ${e.path} size=${st.size} nlink=${st.nlink} len=${data.length} sum=${checksum(data)}`);
    }
  }
  return lines;
}

function checksum(b: Buffer): string {
  let h = 2166136261;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619);
  return (h >>> 0).toString(16);
}

test('random operations give the same results on the mount as on a local disk', async (t) => {
  const rnd = prng(SEED);
  const model = tempDir('qfs-model-');
  const roots = [join(m.mountpoint, 'model'), model];
  await fs.mkdir(roots[0]!);
  const started = Date.now();
  const counts = new Map<string, number>();
  let step = 0;
  let calls = 0;
  let failed = 0;
  const history: string[] = [];

  const randomPath = (existing: Entry[]): string => {
    if (existing.length && rnd.next() < 0.6) return rnd.pick(existing).path;
    const depth = rnd.int(1, 3);
    return Array.from({ length: depth }, () => rnd.pick(NAMES)).join('/');
  };

  for (; step < MAX_STEPS && Date.now() - started < BUDGET_MS; step++) {
    const entries = await walk(model);
    const files = entries.filter((e) => e.type === 'file');
    const dirs = entries.filter((e) => e.type === 'dir');
    const r = rnd.next();
    let op: string;
    let args: unknown[] = [];
    let run: (root: string) => Promise<unknown>;

    if (r < 0.30) {
      // A write session: open, several writes at random offsets, maybe a read-back and an
      // ftruncate through the same descriptor, close.
      const path = files.length && rnd.next() < 0.8 ? rnd.pick(files).path : randomPath(entries);
      const flag = rnd.pick(['r+', 'r+', 'w', 'a', 'w+'] as const);
      const n = rnd.int(1, 6);
      const writes = Array.from({ length: n }, () => ({ off: rnd.int(0, 3 * BLOCK), data: rnd.bytes(rnd.pick([1, 7, 100, 4096, BLOCK - 1, BLOCK + 3, rnd.int(0, 2 * BLOCK)])) }));
      const readBack = rnd.next() < 0.5 ? { off: rnd.int(0, 3 * BLOCK), len: rnd.int(0, 2 * BLOCK) } : null;
      const trunc = rnd.next() < 0.2 ? rnd.int(0, 3 * BLOCK) : null;
      op = `write(${flag})`;
      args = [path, writes.map((w) => [w.off, w.data.length]), readBack, trunc];
      calls += n + 2;
      run = async (root) => {
        const h = await fs.open(join(root, path), flag);
        try {
          const res: unknown[] = [];
          for (const w of writes) res.push((await h.write(w.data, 0, w.data.length, flag === 'a' ? null : w.off)).bytesWritten);
          if (trunc !== null) await h.truncate(trunc);
          res.push((await h.stat()).size);
          if (readBack && flag !== 'a') {
            const buf = Buffer.alloc(readBack.len);
            const { bytesRead } = await h.read(buf, 0, readBack.len, readBack.off);
            res.push(checksum(buf.subarray(0, bytesRead)), bytesRead);
          }
          return res;
        } finally {
          await h.close();
        }
      };
    } else if (r < 0.40) {
      const path = files.length && rnd.next() < 0.8 ? rnd.pick(files).path : randomPath(entries);
      const len = rnd.int(0, 4 * BLOCK);
      op = 'truncate';
      args = [path, len];
      run = (root) => fs.truncate(join(root, path), len);
    } else if (r < 0.55) {
      const path = randomPath(entries);
      if (rnd.next() < 0.5) {
        op = 'readFile';
        args = [path];
        run = async (root) => checksum(await fs.readFile(join(root, path)));
      } else {
        const off = rnd.int(0, 4 * BLOCK);
        const len = rnd.int(1, 2 * BLOCK);
        op = 'pread';
        args = [path, off, len];
        run = async (root) => {
          const h = await fs.open(join(root, path), 'r');
          try {
            const buf = Buffer.alloc(len);
            const { bytesRead } = await h.read(buf, 0, len, off);
            return [bytesRead, checksum(buf.subarray(0, bytesRead))];
          } finally {
            await h.close();
          }
        };
      }
    } else if (r < 0.62) {
      const path = randomPath(entries);
      op = 'stat';
      args = [path];
      run = async (root) => {
        const st = await fs.lstat(join(root, path));
        return [st.isFile(), st.isDirectory(), st.isSymbolicLink(), st.isDirectory() ? 0 : st.size, st.isDirectory() ? 0 : st.nlink];
      };
    } else if (r < 0.67) {
      const path = rnd.next() < 0.3 ? '' : randomPath(dirs.length ? dirs : entries);
      op = 'readdir';
      args = [path];
      run = async (root) => (await fs.readdir(join(root, path))).sort();
    } else if (r < 0.75) {
      const path = randomPath(entries);
      op = 'mkdir';
      args = [path];
      run = (root) => fs.mkdir(join(root, path));
    } else if (r < 0.80) {
      const path = dirs.length && rnd.next() < 0.7 ? rnd.pick(dirs).path : randomPath(entries);
      op = 'rmdir';
      args = [path];
      run = (root) => fs.rmdir(join(root, path));
    } else if (r < 0.86) {
      const path = randomPath(entries);
      op = 'unlink';
      args = [path];
      run = (root) => fs.unlink(join(root, path));
    } else if (r < 0.95) {
      const from = randomPath(entries);
      const to = randomPath(entries);
      op = 'rename';
      args = [from, to];
      run = (root) => fs.rename(join(root, from), join(root, to));
    } else if (r < 0.98) {
      const from = files.length ? rnd.pick(files).path : randomPath(entries);
      const to = randomPath(entries);
      op = 'link';
      args = [from, to];
      run = (root) => fs.link(join(root, from), join(root, to));
    } else {
      const path = randomPath(entries);
      // Relative targets without '..': resolved, they stay inside the tree on both sides.
      const target = rnd.pick(['a', 'b/a', 'x/y']);
      op = 'symlink';
      args = [target, path];
      run = async (root) => {
        await fs.symlink(target, join(root, path));
        return fs.readlink(join(root, path));
      };
    }

    calls++;
    counts.set(op, (counts.get(op) ?? 0) + 1);
    const onMount = await outcome(() => run(roots[0]!));
    const onModel = await outcome(() => run(roots[1]!));
    history.push(`${step} ${op} ${JSON.stringify(args)} -> ${JSON.stringify(onModel).slice(0, 80)}`);
    if (history.length > 25) history.shift();
    if (!isDeepStrictEqual(onMount, onModel)) {
      await new Promise((r) => setTimeout(r, 200));
      const log = m.output().split('\n').slice(-40).join('\n');
      assert.deepEqual(onMount, onModel, `seed ${SEED} step ${step}: ${op} differs (mount vs local); last steps:\n${history.join('\n')}\nmount log:\n${log}`);
    }
    if ('err' in onModel) failed++;

    if (step % 100 === 99) {
      assert.deepEqual(await snapshot(roots[0]!), await snapshot(roots[1]!), `seed ${SEED} step ${step}: trees differ`);
    }
  }
  assert.deepEqual(await snapshot(roots[0]!), await snapshot(roots[1]!), `seed ${SEED} end: trees differ`);
  t.diagnostic(`seed ${SEED}: ${step} steps (${calls} calls, ${failed} steps failing alike with an errno) in ${Date.now() - started} ms: ${JSON.stringify([...counts])}`);
  assert.ok(step >= Math.min(MAX_STEPS, 300), `only ${step} steps fitted in the time budget`);
  await fs.rm(model, { recursive: true, force: true });
});
