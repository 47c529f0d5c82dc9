// The SQLite engine: the shared conformance suite, plus what only an embedded engine can show.
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { DEFAULT_CONFIG, type ClusterConfig } from '../src/common/config.js';
import type { MetaStore } from '../src/meta/api.js';
import { openStore } from '../src/meta/open-store.js';
import { SqlContext } from '../src/meta/sqlite/sql-context.js';
import { tempDir } from './helpers/procs.js';
import { metaConformance } from './meta-conformance.js';
import { OWNER, hashOf, rejectsWith } from './meta-conformance-helpers.js';

const CONFIG: ClusterConfig = { replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 65536 };

/** Temp dirs of this file, removed when it ends. */
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function freshStore(): Promise<{ store: MetaStore; dir: string; url: string }> {
  const dir = tempDir('qfs-meta-');
  dirs.push(dir);
  const url = `sqlite://${join(dir, 'sub', 'meta.db')}`;
  return { store: await openStore(url), dir, url };
}

metaConformance('sqlite engine', async () => {
  const { store, dir } = await freshStore();
  await store.format({ config: CONFIG });
  return { api: store, store, cleanup: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
});

describe('sqlite engine specifics', () => {
  it('openStore: accepted schemes and one-line errors', async () => {
    await assert.rejects(openStore('postgres://u@h/db'), /postgres metadata engine is not built yet/);
    await assert.rejects(openStore('mysql://x'), (e: Error) => /sqlite:\/\/.*postgres:\/\//.test(e.message) && !e.message.includes('\n'));
    await assert.rejects(openStore('sqlite://'), /names no database file/);
    const { store, dir } = await freshStore();
    assert.ok(existsSync(join(dir, 'sub', 'meta.db')), 'parent directory created, sqlite:///abs path used as is');
    await store.close();
  });

  it('data survives close and reopen', async () => {
    const { store, dir, url } = await freshStore();
    await store.format({ config: CONFIG });
    await store.setServers({ servers: [{ index: 1, url: 'http://127.0.0.1:1', id: 'abc' }] });
    await store.mkdir({ path: '/d', mode: 0o750, owner: OWNER });
    const f = await store.create({ path: '/d/f', mode: 0o600, owner: OWNER, exclusive: true });
    const h = hashOf('persist');
    await store.commit({ ino: f.ino, size: 5, blocks: [h], blockSizes: { [h]: 5 } });
    await store.close();

    const again = await openStore(url);
    assert.deepEqual((await again.getCluster({})).config, CONFIG);
    assert.deepEqual((await again.getCluster({})).servers, [{ index: 1, url: 'http://127.0.0.1:1', id: 'abc' }]);
    assert.equal((await again.lookup({ path: '/d' })).mode, 0o750);
    assert.deepEqual((await again.getLayout({ ino: f.ino })).blocks, [h]);
    assert.deepEqual(await again.listBlocks(), [{ hash: h, refs: 1, size: 5 }]);
    assert.equal((await again.checkIntegrity()).ok, true);
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('format: once, idempotent with the same config, refused with another', async () => {
    const { store } = await freshStore();
    assert.equal(await store.isFormatted(), false);
    await rejectsWith(store.getCluster({}), 'EIO', 'before format');
    await assert.rejects(store.format({ config: { ...CONFIG, writeQuorum: 1 } }), /Qr \+ Qw must exceed N/);
    await store.format({ config: CONFIG });
    await store.format({ config: { ...CONFIG } });
    await assert.rejects(store.format({ config: DEFAULT_CONFIG }), /cluster already formatted with N=3, Qw=2, Qr=2/);
    assert.deepEqual((await store.getCluster({})).config, CONFIG);
    await store.close();
  });

  it('membership: setServers keeps known ids, setServerId records new ones', async () => {
    const { store } = await freshStore();
    await store.format({ config: CONFIG });
    await store.setServers({ servers: [{ index: 1, url: 'http://a', id: null }, { index: 2, url: 'http://b', id: null }] });
    await store.setServerId({ index: 2, id: 'id-b' });
    await rejectsWith(store.setServerId({ index: 9, id: 'x' }), 'ENOENT');
    await store.setServers({ servers: [{ index: 1, url: 'http://a', id: null }, { index: 2, url: 'http://b', id: null }] });
    assert.deepEqual((await store.getCluster({})).servers.map((s) => s.id), [null, 'id-b']);
    await rejectsWith(store.setServers({ servers: [{ index: 1, url: 'x', id: null }, { index: 1, url: 'y', id: null }] }), 'EINVAL');
    await store.close();
  });

  it('faults: listed oldest first, cleared one copy at a time', async () => {
    const { store } = await freshStore();
    const [h1, h2] = [hashOf('f1'), hashOf('f2')];
    await store.reportFaults({ faults: [{ hash: h1, server: 1, reason: 'missing' }, { hash: h2, server: 2, reason: 'corrupt' }] });
    assert.equal((await store.listFaults({ limit: 1 })).length, 1);
    await store.clearFault({ hash: h1, server: 1, reason: 'missing' });
    assert.deepEqual(await store.listFaults({ limit: 10 }), [{ hash: h2, server: 2, reason: 'corrupt' }]);
    await store.close();
  });

  it('unreferenced block rows stay for garbage collection; inode numbers are never reused', async () => {
    const { store, url } = await freshStore();
    await store.format({ config: CONFIG });
    const f = await store.create({ path: '/f', mode: 0o644, owner: OWNER, exclusive: true });
    const h = hashOf('gc');
    await store.commit({ ino: f.ino, size: 1, blocks: [h], blockSizes: { [h]: 1 } });
    await store.unlink({ path: '/f' });
    const g = await store.create({ path: '/g', mode: 0o644, owner: OWNER, exclusive: true });
    assert.ok(g.ino > f.ino);
    assert.deepEqual(await store.listBlocks(), []);
    await store.close();
    const db = new Database(url.slice('sqlite://'.length), { readonly: true });
    assert.deepEqual(db.prepare('SELECT refs, size FROM blocks WHERE hash = ?').get(Buffer.from(h, 'hex')), { refs: 0, size: 1 });
    db.close();
  });

  it('a transaction committed without fsync leaves the connection fully synced for the next one', () => {
    const path = join(tempDir('qfs-sqlctx-'), 'x.db');
    const db = new Database(path);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    const ctx = new SqlContext(db);
    db.exec('CREATE TABLE t (v INTEGER)');
    ctx.txUnsynced(() => ctx.stmt('INSERT INTO t VALUES (1)').run());
    assert.equal(db.pragma('synchronous', { simple: true }), 2);
    assert.throws(() => ctx.txUnsynced(() => {
      ctx.stmt('INSERT INTO t VALUES (2)').run();
      throw new Error('rolled back');
    }), /rolled back/);
    assert.equal(db.pragma('synchronous', { simple: true }), 2, 'also after a transaction that threw');
    assert.deepEqual(db.prepare('SELECT v FROM t').pluck().all(), [1]);
    db.close();
  });

  it('checkIntegrity reports damage done behind its back', async () => {
    const { store, url } = await freshStore();
    await store.format({ config: CONFIG });
    const f = await store.create({ path: '/f', mode: 0o644, owner: OWNER, exclusive: true });
    await store.mkdir({ path: '/d', mode: 0o755, owner: OWNER });
    const h = hashOf('damage');
    await store.commit({ ino: f.ino, size: 1, blocks: [h], blockSizes: { [h]: 1 } });
    assert.equal((await store.checkIntegrity()).ok, true);
    await store.close();
    const db = new Database(url.slice('sqlite://'.length));
    db.prepare('UPDATE blocks SET refs = 3').run();
    db.prepare('UPDATE inodes SET nlink = 5 WHERE ino = ?').run(f.ino);
    db.prepare('UPDATE inodes SET nlink = 9 WHERE ino = 1').run();
    db.prepare('UPDATE inodes SET size = 0 WHERE ino = ?').run(f.ino);
    db.close();
    const again = await openStore(url);
    const report = await again.checkIntegrity();
    assert.equal(report.ok, false);
    const text = report.problems.join('\n');
    for (const want of [/refs 3 but is listed 1 times/, /nlink 5 but 1 names/, /directory 1 has nlink 9, expected 3/, /lists 1 blocks, more than 0/]) {
      assert.match(text, want);
    }
    await again.close();
  });
});
