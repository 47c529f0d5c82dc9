// The leased metadata cache (src/client/meta-cache.ts with src/meta/change-feed.ts) against a real
// metadata server process: a cached answer is never older than a change another client finished,
// a client that stops answering holds changes back for one lease at most, and a restarted server
// waits out the leases its predecessor gave before it answers a change.
// QFS_SEED=<n> replays the random sequence of the first test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { MetaClient } from '../src/client/meta-client.js';
import { CachingMeta } from '../src/client/meta-cache.js';
import { DEFAULT_CONFIG } from '../src/common/config.js';
import { DEFAULT_LEASE_MS } from '../src/meta/change-feed.js';
import type { MetaApi } from '../src/meta/api.js';
import { makeSecret, startMetaServer, tempDir, type Proc } from './helpers/procs.js';
import { prng } from './helpers/soak-model.js';
import { bash, startMount, unmountAll } from './helpers/fuse.js';

const SEED = Number(process.env.QFS_SEED ?? 20261125);
const OWNER = { uid: 0, gid: 0 };
const BLOCK = DEFAULT_CONFIG.blockSizeBytes;

let dir: string;
let secret: string;
let secretFile: string;
let dbPath: string;
let meta: Proc;
const closers: Array<() => Promise<void>> = [];

before(async () => {
  dir = tempDir('qfs-metacache-');
  [secretFile, secret] = makeSecret(dir);
  dbPath = join(dir, 'meta.db');
  meta = await startMetaServer({ dbPath, secretFile });
  const admin = new MetaClient({ url: meta.url, secret });
  await admin.format(DEFAULT_CONFIG);
  await admin.setServers([]);
  await admin.close();
});

after(async () => {
  await unmountAll();
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await meta?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function plainClient(): MetaApi {
  const c = new MetaClient({ url: meta.url, secret });
  closers.push(() => c.close());
  return c.api;
}

async function cachedClient(): Promise<CachingMeta> {
  const c = new MetaClient({ url: meta.url, secret, clientId: randomUUID() });
  const cache = new CachingMeta(c, { blockSizeBytes: BLOCK });
  cache.start();
  closers.push(async () => { cache.stop(); await c.close(); });
  for (let i = 0; i < 100 && !cache.active; i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok(cache.active, 'the cache got its first lease');
  return cache;
}

/** What a client answers for every path: attributes or errno, and listings of directories. */
async function view(api: MetaApi, paths: string[]): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const p of paths) {
    try {
      const a = await api.lookup({ path: p });
      out[p] = a;
      if (a.type === 'dir') out[`${p}/`] = (await api.readdir({ path: p })).map((e) => [e.name, e.attr]);
      else if (a.type === 'file') out[`${p}#`] = (await api.openPath({ path: p })).layout;
    } catch (err) {
      out[p] = (err as { code?: string }).code ?? String(err);
    }
  }
  return out;
}

test('a cached answer is never older than a change another client finished', async () => {
  const other = plainClient();
  const cache = await cachedClient();
  const rnd = prng(SEED);
  const names = ['/t', '/t/a', '/t/b', '/t/d', '/t/d/x', '/t/d/y', '/t/e', '/t/e/z'];
  await other.mkdir({ path: '/t', mode: 0o755, owner: OWNER });
  const counts: Record<string, number> = {};
  for (let step = 0; step < 500; step++) {
    // Fill the cache, then change something through another client (or, now and then, through it).
    await view(cache, names);
    const by: MetaApi = rnd.next() < 0.2 ? cache : other;
    const p = rnd.pick(names.slice(1));
    const q = rnd.pick(names.slice(1));
    const op = rnd.pick(['create', 'mkdir', 'unlink', 'rmdir', 'rename', 'chmod', 'commit', 'link'] as const);
    try {
      switch (op) {
        case 'create': await by.create({ path: p, mode: 0o644, owner: OWNER, exclusive: true }); break;
        case 'mkdir': await by.mkdir({ path: p, mode: 0o755, owner: OWNER }); break;
        case 'unlink': await by.unlink({ path: p }); break;
        case 'rmdir': await by.rmdir({ path: p }); break;
        case 'rename': await by.rename({ from: p, to: q }); break;
        case 'chmod': await by.setattr({ path: p, mode: rnd.int(0, 0o777) }); break;
        case 'link': await by.link({ path: p, newPath: q }); break;
        case 'commit': {
          const { ino } = await other.lookup({ path: p });
          await by.commit({ ino, size: rnd.int(0, BLOCK), blocks: [null], blockSizes: {} });
          break;
        }
      }
      counts[op] = (counts[op] ?? 0) + 1;
    } catch (err) {
      counts[`${op} refused`] = (counts[`${op} refused`] ?? 0) + 1;
      assert.ok((err as { code?: string }).code, `seed ${SEED} step ${step}: ${op} failed without an errno: ${String(err)}`);
    }
    assert.deepEqual(await view(cache, names), await view(other, names), `seed ${SEED} step ${step}: ${op} ${p} ${q}: cached view differs`);
  }
  assert.ok(cache.stats.hits > 1000, `the cache answered (${JSON.stringify(cache.stats)})`);
  for (const op of ['rename', 'commit', 'unlink', 'rmdir']) assert.ok((counts[op] ?? 0) >= 1, `${op} happened: ${JSON.stringify(counts)}`);
});

test("a client's own changes stay cached as answered, and others' changes still reach it", async () => {
  const other = plainClient();
  const cache = await cachedClient();
  await cache.mkdir({ path: '/own', mode: 0o755, owner: OWNER });
  const misses = cache.stats.misses;
  // Names whose UTF-16 order differs from the server's (UTF-8 bytes): the listing is re-sorted.
  const names = ['f1', 'f0', 'f10', 'f2', 'f\u{1F600}', 'f\uFFFD', 'F9'];
  for (const n of names) {
    const path = `/own/${n}`;
    await assert.rejects(cache.lookup({ path }), { code: 'ENOENT' });
    const a = await cache.create({ path, mode: 0o644, owner: OWNER, exclusive: true });
    await cache.commit({ ino: a.ino, size: 10, blocks: [null], blockSizes: {} });
    assert.deepEqual(await cache.openPath({ path }), await other.openPath({ path }), `${n}: as the server has it`);
  }
  // The writer's block list is its own: changing it after the commit changes nothing cached.
  const w = await cache.lookup({ path: '/own/f0' });
  const list: Array<string | null> = [null];
  await cache.commit({ ino: w.ino, size: 5, blocks: list, blockSizes: {} });
  list[0] = 'ab'.repeat(32);
  assert.deepEqual((await cache.openPath({ path: '/own/f0' })).layout?.blocks, [null]);
  await cache.mkdir({ path: '/own/sub', mode: 0o755, owner: OWNER });
  await assert.rejects(cache.lookup({ path: '/own/sub/x' }), { code: 'ENOENT' });
  await cache.unlink({ path: '/own/f2' });
  await assert.rejects(cache.lookup({ path: '/own/f2' }), { code: 'ENOENT' });
  await cache.setattr({ path: '/own/f1', mode: 0o600 });
  assert.deepEqual(await cache.readdir({ path: '/own' }), await other.readdir({ path: '/own' }));
  assert.equal(cache.stats.misses, misses, `every answer came from the cache (${JSON.stringify(cache.stats)})`);
  assert.ok(cache.stats.ownKept >= 2 * names.length + 4, `own changes kept (${JSON.stringify(cache.stats)})`);

  // Another client's changes to what this one learned by itself: seen as soon as they are answered.
  const f0 = await other.lookup({ path: '/own/f0' });
  await other.commit({ ino: f0.ino, size: 20, blocks: [null], blockSizes: {} });
  await other.unlink({ path: '/own/f1' });
  await other.create({ path: '/own/sub/x', mode: 0o644, owner: OWNER, exclusive: true });
  const paths = ['/own', '/own/f0', '/own/f1', '/own/f2', '/own/sub', '/own/sub/x'];
  assert.deepEqual(await view(cache, paths), await view(other, paths));
});

test('a mount that stops answering holds changes back for one lease at most, then catches up', async () => {
  const other = plainClient();
  await other.mkdir({ path: '/m', mode: 0o755, owner: OWNER });
  await other.create({ path: '/m/f', mode: 0o600, owner: OWNER, exclusive: true });
  const m = await startMount({ metaUrl: meta.url, secretFile });
  const f = join(m.mountpoint, 'm', 'f');
  assert.equal((await bash(`stat -c %a ${f}`)).stdout.trim(), '600');
  process.kill(m.child.pid!, 'SIGSTOP');
  let elapsed: number;
  try {
    const t0 = Date.now();
    await other.setattr({ path: '/m/f', mode: 0o640 });
    elapsed = Date.now() - t0;
  } finally {
    process.kill(m.child.pid!, 'SIGCONT');
  }
  // The mount's lease was renewed about a quarter lease before it stopped: the change waited
  // (most of a lease; without the wait it takes a few milliseconds).
  assert.ok(elapsed >= 300, `the change waited for the stopped mount's lease (${elapsed} ms)`);
  assert.ok(elapsed <= DEFAULT_LEASE_MS + 1_500, `and no longer than one lease (${elapsed} ms)`);
  assert.equal((await bash(`stat -c %a ${f}`)).stdout.trim(), '640', 'the resumed mount sees the change');
  // Running again, it acknowledges at once: a change does not wait out its lease any more (the
  // best of three, against a loaded machine; a change that waited would take most of a lease).
  await new Promise((r) => setTimeout(r, 300));
  const took: number[] = [];
  for (const mode of [0o600, 0o640, 0o644]) {
    const t1 = Date.now();
    await other.setattr({ path: '/m/f', mode });
    took.push(Date.now() - t1);
  }
  assert.ok(Math.min(...took) < DEFAULT_LEASE_MS / 2, `a live mount acknowledges promptly (${took.join(', ')} ms)`);
  assert.equal((await bash(`stat -c %a ${f}`)).stdout.trim(), '644');
  await m.unmount();
});

test('a restarted metadata server waits out the leases of the one before; caches start over', async () => {
  const cache = await cachedClient();
  const other = plainClient();
  await other.mkdir({ path: '/r', mode: 0o755, owner: OWNER });
  await cache.lookup({ path: '/r' });
  const resetsBefore = cache.stats.resets;
  const port = meta.port;
  await meta.kill();
  const killedAt = Date.now();
  meta = await startMetaServer({ dbPath, secretFile, port });
  const restarted = Date.now();
  await other.setattr({ path: '/r', mode: 0o700 }).catch(async () => {
    // The pool may hold a connection to the killed process: one retry on a fresh one.
    await plainClient().setattr({ path: '/r', mode: 0o700 });
  });
  const answered = Date.now();
  // Leases given before the kill ran up to a lease past it; the change was answered after that.
  if (restarted - killedAt < DEFAULT_LEASE_MS) {
    assert.ok(answered - killedAt >= DEFAULT_LEASE_MS / 2, `the change waited for the old leases (${answered - killedAt} ms after the kill)`);
  }
  for (let i = 0; i < 100 && (cache.stats.resets === resetsBefore || !cache.active); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(cache.stats.resets > resetsBefore, 'the cache started over with the new server');
  assert.equal((await cache.lookup({ path: '/r' })).mode, 0o700);
});
