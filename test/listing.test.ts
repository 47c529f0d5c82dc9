// A directory's cached names (src/client/listing.ts): whatever mix of adds, removals and reads,
// after() answers what a fresh sort of the current names would, and readdir's order is the server's.
// QFS_SEED=<n> replays a random sequence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Listing } from '../src/client/listing.js';
import { prng } from './helpers/soak-model.js';

const SEED = Number(process.env.QFS_SEED ?? 20261126);

function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** What after() must answer: the names after `name` in UTF-8 byte order. `rank` is each pool
 * name's place in a fresh sort of the whole pool, taken once: the oracle stays a plain scan. */
function expectedAfter(names: Set<string>, name: string, count: number, rank: Map<string, number>): string[] {
  if (!names.has(name)) return [];
  const from = rank.get(name)!;
  return [...names].filter((n) => rank.get(n)! > from).sort((a, b) => rank.get(a)! - rank.get(b)!).slice(0, count);
}

for (const poolSize of [40, 600]) {
  test(`after() matches a fresh sort through adds, removals and re-adds (${poolSize} names, seed ${SEED})`, () => {
    const r = prng(SEED + poolSize);
    // Names past U+FFFF sort differently in UTF-16 and UTF-8; include some.
    const pool = Array.from({ length: poolSize }, (_, i) => (i % 10 === 0 ? `f\u{1F600}${i}` : i % 7 === 0 ? `f\uFFFD${i}` : `f${String(i).padStart(4, '0')}`));
    // As a readdir answers them: in the server's order.
    const rank = new Map([...pool, ''].sort(utf8Order).map((n, i) => [n, i]));
    const initial = pool.filter(() => r.next() < 0.5).sort(utf8Order);
    const names = new Set(initial);
    const list = new Listing(initial);
    let reads = 0;
    for (let step = 0; step < 20_000; step++) {
      const name = r.pick(pool);
      const op = r.next();
      if (op < 0.3) {
        list.with(name);
        names.add(name);
      } else if (op < 0.5) {
        list.without(name);
        names.delete(name);
      } else {
        const count = r.int(1, 12);
        const from = names.size && r.next() < 0.9 ? r.pick([...names]) : name;
        assert.deepEqual(list.after(from, count), expectedAfter(names, from, count, rank), `step ${step}: after(${from}, ${count})`);
        reads++;
      }
      assert.equal(list.size, names.size);
    }
    assert.ok(reads > 5_000);
    assert.deepEqual([...list.ordered()], expectedAfter(new Set([...names, '']), '', names.size, rank));
  });
}

test('after() skips a long run of names removed since it last sorted', () => {
  const all = Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(4, '0')}`);
  const list = new Listing(all);
  assert.deepEqual(list.after('n0000', 2), ['n0001', 'n0002']);
  // Fewer changes than the rebuild threshold (an eighth of the names), all in one run.
  for (const n of all.slice(1, 100)) list.without(n);
  assert.deepEqual(list.after('n0000', 3), ['n0100', 'n0101', 'n0102']);
  list.with('n0050');
  assert.deepEqual(list.after('n0000', 2), ['n0050', 'n0100']);
  assert.deepEqual(list.after('n0050', 1), ['n0100']);
  assert.deepEqual(list.after('n0051', 1), [], 'a removed name has nothing after it');
});
