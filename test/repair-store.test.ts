// The store side of self-healing, without processes: the repair queue (priority, backoff, bulk
// enqueue), garbage collection's deletion protocol against reservations and commits, orphans, and
// the migration of a version-1 database.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { MetaStore } from '../src/meta/api.js';
import { openStore } from '../src/meta/open-store.js';
import { tempDir } from './helpers/procs.js';
import { OWNER, hashOf } from './meta-conformance-helpers.js';

const CONFIG = { replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 65536 };
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function fresh(): Promise<{ store: MetaStore; path: string }> {
  const dir = tempDir('qfs-repair-store-');
  dirs.push(dir);
  const path = join(dir, 'meta.db');
  const store = await openStore(`sqlite://${path}`);
  await store.format({ config: CONFIG });
  return { store, path };
}

/** A file /name holding the given blocks (sizes recorded as 10 bytes each: accounting only). */
async function fileWith(store: MetaStore, name: string, blocks: string[]): Promise<number> {
  const f = await store.create({ path: `/${name}`, mode: 0o644, owner: OWNER, exclusive: true });
  await store.commit({ ino: f.ino, size: blocks.length * CONFIG.blockSizeBytes, blocks, blockSizes: Object.fromEntries(blocks.map((b) => [b, 10])) });
  return f.ino;
}

const code = (c: string) => (e: unknown) => (e as { code?: string }).code === c;

describe('repair queue', () => {
  it('reported faults go before bulk ones; a deferred fault waits out its backoff', async () => {
    const { store } = await fresh();
    const [a, b, c] = [hashOf('a'), hashOf('b'), hashOf('c')];
    await store.enqueueBulkFaults({ faults: [{ hash: a, server: 1, reason: 'missing' }, { hash: b, server: 1, reason: 'missing' }] });
    await store.reportFaults({ faults: [{ hash: c, server: 2, reason: 'corrupt' }] });
    const now = Date.now();
    const all = (await store.listDueFaults({ nowMs: now, limit: 10, excludeServers: [] })).map((f) => f.hash);
    assert.equal(all[0], c, 'the reported fault first');
    assert.deepEqual(all.slice(1).sort(), [a, b].sort());
    assert.deepEqual((await store.listDueFaults({ nowMs: now, limit: 10, excludeServers: [2] })).map((f) => f.hash).sort(), [a, b].sort());
    await store.deferFault({ hash: a, server: 1, nextTryMs: now + 60_000, error: 'no source' });
    const due = await store.listDueFaults({ nowMs: now, limit: 10, excludeServers: [] });
    assert.deepEqual(due.map((f) => f.hash), [c, b]);
    const counts = await store.countFaults({ nowMs: now });
    assert.deepEqual(counts.find((x) => x.server === 1), { server: 1, reason: 'missing', count: 2, due: 1 });
    assert.equal(await store.retryServerFaults({ server: 1 }), 1);
    const again = (await store.listDueFaults({ nowMs: now, limit: 10, excludeServers: [] })).find((f) => f.hash === a);
    assert.equal(again?.attempts, 1, 'the attempt count survives the retry');
    // A reader meeting a bulk-queued copy moves it ahead.
    await store.reportFaults({ faults: [{ hash: b, server: 1, reason: 'missing' }] });
    assert.equal((await store.listDueFaults({ nowMs: now, limit: 1, excludeServers: [2] }))[0]?.hash, b);
  });

  it('a rebuild queues every referenced block with its bytes', async () => {
    const { store } = await fresh();
    const blocks = [hashOf('x'), hashOf('y'), hashOf('z')];
    await fileWith(store, 'f', blocks);
    await store.reserveBlocks({ hashes: [hashOf('only-reserved')] });
    await store.enqueueAllReferenced({ server: 3 });
    assert.deepEqual(await store.serverQueue({ server: 3, withBytes: true }), { blocks: 3, bytes: 30 });
    assert.deepEqual(await store.serverQueue({ server: 3, withBytes: false }), { blocks: 3, bytes: 0 });
  });
});

describe('garbage collection protocol', () => {
  it('deletes an unreferenced block after its grace and leaves a tombstone', async () => {
    const { store } = await fresh();
    const h = hashOf('gone');
    const ino = await fileWith(store, 'f', [h]);
    await store.reportFaults({ faults: [{ hash: h, server: 1, reason: 'missing' }] });
    await store.commit({ ino, size: 0, blocks: [], blockSizes: {} });
    const later = Date.now() + 1;
    assert.deepEqual(await store.listGcCandidates({ cutoffMs: later, limit: 10 }), [h]);
    assert.deepEqual(await store.listGcCandidates({ cutoffMs: later - 60_000, limit: 10 }), [], 'not before its grace');
    assert.equal(await store.markDeleting({ hash: h, cutoffMs: later, nowMs: later }), true);
    assert.equal(await store.beginDeleting({ hash: h }), true);
    assert.deepEqual(await store.listDeleting({ limit: 10 }), [h]);
    await store.finishDeleting({ hash: h, nowMs: later });
    assert.equal(await store.getBlock({ hash: h }), null);
    assert.deepEqual(await store.listFaults({ limit: 10 }), [], 'its faults went with it');
    // A commit naming it without a fresh reservation would point at deleted bytes.
    const g = await store.create({ path: '/g', mode: 0o644, owner: OWNER, exclusive: true });
    await assert.rejects(store.commit({ ino: g.ino, size: 10, blocks: [h], blockSizes: { [h]: 10 } }), code('EAGAIN'));
    // An upload made alongside this reservation may have met the deletes: it is to be redone.
    assert.deepEqual(await store.reserveBlocks({ hashes: [h, hashOf('new')] }), { reupload: [h] });
    assert.deepEqual(await store.reserveBlocks({ hashes: [h] }), { reupload: [] }, 'the tombstone went with the first reservation');
    await store.commit({ ino: g.ino, size: 10, blocks: [h], blockSizes: { [h]: 10 } });
    assert.equal((await store.getBlock({ hash: h }))?.refs, 1);
    assert.equal((await store.checkIntegrity()).ok, true);
  });

  it('a reservation rescues a marked block, and waits (EAGAIN) for one whose deletes are in flight', async () => {
    const { store } = await fresh();
    const [m, s] = [hashOf('marked'), hashOf('sending')];
    await store.reserveBlocks({ hashes: [m, s] });
    const later = Date.now() + 1;
    for (const h of [m, s]) assert.equal(await store.markDeleting({ hash: h, cutoffMs: later, nowMs: later }), true);
    assert.equal(await store.beginDeleting({ hash: s }), true);
    assert.deepEqual(await store.reserveBlocks({ hashes: [m] }), { reupload: [] }, 'no delete was sent: an upload alongside stands');
    assert.equal(await store.beginDeleting({ hash: m }), false, 'the mark was cleared: no delete is sent');
    assert.equal((await store.getBlock({ hash: m }))?.deleting, 0);
    await assert.rejects(store.reserveBlocks({ hashes: [s] }), code('EAGAIN'));
    const f = await store.create({ path: '/f', mode: 0o644, owner: OWNER, exclusive: true });
    await assert.rejects(store.commit({ ino: f.ino, size: 10, blocks: [s], blockSizes: { [s]: 10 } }), code('EAGAIN'));
    await store.finishDeleting({ hash: s, nowMs: later });
    assert.deepEqual(await store.reserveBlocks({ hashes: [s] }), { reupload: [s] });
    // A commit also rescues a marked block.
    assert.equal(await store.markDeleting({ hash: m, cutoffMs: Date.now() + 1, nowMs: Date.now() }), true);
    await store.commit({ ino: f.ino, size: 2 * CONFIG.blockSizeBytes, blocks: [m, s], blockSizes: { [m]: 10, [s]: 10 } });
    assert.equal(await store.beginDeleting({ hash: m }), false);
    assert.equal(await store.markDeleting({ hash: m, cutoffMs: Date.now() + 1, nowMs: Date.now() }), false, 'referenced now');
    assert.equal((await store.checkIntegrity()).ok, true);
  });

  it('a commit of an unreserved block refuses every state a deletion may have crossed its upload in', async () => {
    const { store } = await fresh();
    const [fresh1, used, dropped, collected] = ['fresh', 'used', 'dropped', 'collected'].map(hashOf) as [string, string, string, string];
    await fileWith(store, 'u', [used]);
    const d = await fileWith(store, 'd', [dropped]);
    await store.commit({ ino: d, size: 0, blocks: [], blockSizes: {} });
    const c = await fileWith(store, 'c', [collected]);
    await store.commit({ ino: c, size: 0, blocks: [], blockSizes: {} });
    const later = Date.now() + 1;
    assert.equal(await store.markDeleting({ hash: collected, cutoffMs: later, nowMs: later }), true);
    assert.equal(await store.beginDeleting({ hash: collected }), true);
    const f = await store.create({ path: '/f', mode: 0o644, owner: OWNER, exclusive: true });
    const commitUnreserved = (h: string) => store.commit({ ino: f.ino, size: 10, blocks: [h], blockSizes: { [h]: 10 }, unreserved: [h] });
    await assert.rejects(commitUnreserved(collected), code('EAGAIN'), 'deletes in flight');
    await store.finishDeleting({ hash: collected, nowMs: later });
    await assert.rejects(commitUnreserved(collected), code('EAGAIN'), 'deleted: a tombstone');
    assert.deepEqual(await store.reserveBlocks({ hashes: [collected] }), { reupload: [collected] });
    // Another writer's reservation replaced the tombstone with a row: that writer may not have
    // uploaded yet, so the bytes may be on no server.
    await assert.rejects(commitUnreserved(collected), code('EAGAIN'), 'reserved again by another writer');
    await assert.rejects(commitUnreserved(dropped), code('EAGAIN'), 'unreferenced: refused all the same');
    await commitUnreserved(fresh1);
    await commitUnreserved(used);
    assert.equal((await store.getBlock({ hash: used }))?.refs, 2);
    await store.commit({ ino: f.ino, size: 10, blocks: [dropped], blockSizes: { [dropped]: 10 } });
    assert.equal((await store.getBlock({ hash: dropped }))?.refs, 1, 'reserved (not named unreserved), the same commit goes through');
    assert.equal((await store.checkIntegrity()).ok, true);
  });

  it('orphans: blocks on a server with no row are due once first seen before the cutoff', async () => {
    const { store } = await fresh();
    const [leak, kept] = [hashOf('leak'), hashOf('kept')];
    await fileWith(store, 'f', [kept]);
    const t0 = Date.now();
    assert.deepEqual(await store.noteOrphans({ server: 1, hashes: [leak, kept, 'zz'], nowMs: t0, cutoffMs: t0 - 1000 }), []);
    assert.deepEqual(await store.noteOrphans({ server: 1, hashes: [leak, kept], nowMs: t0 + 5000, cutoffMs: t0 }), [leak], 'first-seen time kept');
    assert.equal(await store.markDeleting({ hash: leak, cutoffMs: t0, nowMs: t0 + 5000 }), true);
    assert.equal(await store.markDeleting({ hash: kept, cutoffMs: t0 + 5000, nowMs: t0 + 5000 }), false);
    assert.equal(await store.beginDeleting({ hash: leak }), true);
    await store.finishDeleting({ hash: leak, nowMs: t0 + 5000 });
    assert.deepEqual(await store.noteOrphans({ server: 1, hashes: [kept], nowMs: t0 + 6000, cutoffMs: t0 + 6000 }), []);
    assert.equal((await store.checkIntegrity()).ok, true);
  });
});

describe('schema migration', () => {
  it('a version-1 database opens, gains the new columns and keeps its faults', async () => {
    const dir = tempDir('qfs-migrate-');
    dirs.push(dir);
    const path = join(dir, 'v1.db');
    const db = new Database(path);
    // The version-1 tables the new code touches, as version 1 created them.
    db.exec(`
      CREATE TABLE blocks (hash BLOB PRIMARY KEY, refs INTEGER NOT NULL DEFAULT 0, size INTEGER, touched_ms INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE faults (hash BLOB NOT NULL, server INTEGER NOT NULL, reason TEXT NOT NULL, created_ms INTEGER NOT NULL, PRIMARY KEY (hash, server)) WITHOUT ROWID;
      PRAGMA user_version = 1;`);
    const h = hashOf('old fault');
    db.prepare('INSERT INTO faults VALUES (?, 2, ?, 1)').run(Buffer.from(h, 'hex'), 'write-missed');
    db.close();
    const store = await openStore(`sqlite://${path}`);
    const due = await store.listDueFaults({ nowMs: Date.now(), limit: 10, excludeServers: [] });
    assert.deepEqual(due, [{ hash: h, server: 2, reason: 'write-missed', attempts: 0, nextTryMs: 0, createdMs: 1 }]);
    await store.close();
    const again = await openStore(`sqlite://${path}`); // idempotent: nothing is added twice
    assert.equal((await again.listFaults({ limit: 10 })).length, 1);
    await again.close();
  });
});
