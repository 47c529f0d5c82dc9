// The change feed's long poll in-process: a client's own changes neither end nor wake its wait,
// anyone else's change ends it at once, with every event after `since` in the answer.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChangeFeed } from '../src/meta/change-feed.js';

const change = (path: string) => ({ paths: [path], subtrees: [], inos: [] });

const A = 'client-a';
const B = 'client-b';

/** A feed with a 5 s lease, closed (its waiting publishers let go) after fn. */
async function withFeed(fn: (feed: ChangeFeed) => Promise<void>): Promise<void> {
  const feed = new ChangeFeed({ leaseMs: 5_000 });
  try {
    await fn(feed);
  } finally {
    feed.close();
  }
}

async function joined(feed: ChangeFeed, client: string): Promise<number> {
  const first = await feed.poll(client, null, null, 0);
  assert.equal(first.reset, true);
  return first.seq;
}

test('own changes do not end a poll; the next change by anyone else does, at once', async () => {
  await withFeed(async (feed) => {
    const since = await joined(feed, A);
    await joined(feed, B);
    const started = Date.now();
    const polled = feed.poll(A, since, feed.epoch, 1_500);
    // B holds a lease and has not acknowledged these: publishing them waits for B, so not awaited.
    const own = [feed.publish(change('/a1'), A), feed.publish(change('/a2'), A)];
    let answered = false;
    void polled.then(() => { answered = true; });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(answered, false, "the poll ended on the client's own changes");
    void feed.publish(change('/b1'), B);
    const ans = await polled;
    assert.ok(Date.now() - started < 1_000, `the poll waited ${Date.now() - started} ms after another client's change`);
    assert.deepEqual(ans.events.map((e) => e.paths[0]), ['/a1', '/a2', '/b1']);
    // A's own changes wait only for B, which acknowledges them with its next poll.
    await feed.poll(B, ans.seq, feed.epoch, 0);
    await Promise.all(own);
  });
});

test('a poll after the other client changed something answers at once, also when own changes came later', async () => {
  await withFeed(async (feed) => {
    const since = await joined(feed, A);
    const other = feed.publish(change('/b1'), B);
    const own = [feed.publish(change('/a1'), A), feed.publish(change('/a2'), A)];
    const started = Date.now();
    const ans = await feed.poll(A, since, feed.epoch, 2_000);
    assert.ok(Date.now() - started < 500, `waited ${Date.now() - started} ms with news already there`);
    assert.deepEqual(ans.events.map((e) => e.paths[0]), ['/b1', '/a1', '/a2']);
    // This poll acknowledges everything so far (B's change waited for that); nothing new from
    // others, so it waits its time out.
    const t0 = Date.now();
    const quiet = await feed.poll(A, ans.seq, feed.epoch, 300);
    assert.ok(Date.now() - t0 >= 250, 'a poll without news returned early');
    assert.deepEqual(quiet.events, []);
    await Promise.all([other, ...own]);
  });
});

test("a poll that finds only the client's own changes after `since` waits for its time out", async () => {
  await withFeed(async (feed) => {
    const since = await joined(feed, A);
    await feed.publish(change('/a1'), A);
    await feed.publish(change('/a2'), A);
    const t0 = Date.now();
    const ans = await feed.poll(A, since, feed.epoch, 300);
    assert.ok(Date.now() - t0 >= 250, `answered after ${Date.now() - t0} ms with nothing new from others`);
    assert.deepEqual(ans.events.map((e) => e.paths[0]), ['/a1', '/a2']);
  });
});
