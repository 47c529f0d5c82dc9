// The metadata cache's maps (src/client/holey-map.ts): through any mix of sets and deletes they
// answer as a Map would, and the holes deleted keys leave are swept before they outnumber the
// live entries. QFS_SEED=<n> replays a sequence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HoleyMap } from '../src/client/holey-map.js';
import { prng } from './helpers/soak-model.js';

const SEED = Number(process.env.QFS_SEED ?? 20261127);

test(`answers as a Map does through random sets and deletes (seed ${SEED})`, () => {
  const r = prng(SEED);
  const model = new Map<string, number>();
  const m = new HoleyMap<string, number>();
  // A busy key among many: the pattern (drop a directory, put it back) the map exists for.
  const keys = ['/d', ...Array.from({ length: 3000 }, (_, i) => `/d/f${i}`)];
  let maxHoles = 0;
  for (let step = 0; step < 60_000; step++) {
    const key = r.next() < 0.3 ? '/d' : r.pick(keys);
    const op = r.next();
    if (op < 0.45) {
      const v = step;
      m.set(key, v);
      model.set(key, v);
    } else if (op < 0.8) {
      assert.equal(m.delete(key), model.delete(key), `step ${step}: delete(${key})`);
    } else {
      assert.equal(m.get(key), model.get(key), `step ${step}: get(${key})`);
      assert.equal(m.has(key), model.has(key), `step ${step}: has(${key})`);
    }
    assert.equal(m.size, model.size, `step ${step}: size`);
    maxHoles = Math.max(maxHoles, m.holeCount);
    assert.ok(m.holeCount <= Math.max(1024, m.size) + 1, `step ${step}: ${m.holeCount} holes beside ${m.size} entries`);
  }
  for (const key of keys) assert.equal(m.get(key), model.get(key));
  assert.ok(maxHoles > 100, 'deletes left holes to sweep');
  // Everything deleted: the holes are swept on the way instead of piling up to 3,001.
  for (const key of keys) m.delete(key);
  assert.equal(m.size, 0);
  assert.ok(m.holeCount <= 1024, `${m.holeCount} holes left`);
  assert.ok(keys.every((key) => !m.has(key)));
  m.clear();
  assert.deepEqual([m.size, m.holeCount, m.get('/d')], [0, 0, undefined]);
});

test('a key deleted and set again is live once; deleting what is absent or already deleted changes nothing', () => {
  const m = new HoleyMap<number, string>();
  assert.equal(m.delete(7), false);
  m.set(7, 'a');
  assert.equal(m.delete(7), true);
  assert.equal(m.delete(7), false);
  assert.deepEqual([m.size, m.holeCount, m.has(7)], [0, 1, false]);
  m.set(7, 'b').set(7, 'c');
  assert.deepEqual([m.size, m.holeCount, m.get(7)], [1, 0, 'c']);
});
