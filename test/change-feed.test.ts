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

/** True once p has settled (checked after the pending callbacks ran). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => { done = true; }, () => { done = true; });
  await new Promise((r) => setTimeout(r, 50));
  return done;
}

test('unlink delegation: granted to a client alone, recalled by anyone else, released by its next poll', async () => {
  await withFeed(async (feed) => {
    const since = await joined(feed, A);
    // Granted on a poll that asks for it, and answered at once so the client uses it now.
    const started = Date.now();
    const granted = await feed.poll(A, since, feed.epoch, 2_000, true);
    assert.ok(Date.now() - started < 1_000, 'a newly granted delegation waited for the poll to time out');
    assert.deepEqual([granted.delegated, granted.recall], [true, false]);
    assert.ok(feed.holds(A));
    // Its own requests go through; anyone else's waits, and ends A's waiting poll with a recall.
    await feed.beforeRequest(A);
    const waiting = feed.poll(A, since, feed.epoch, 2_000, true);
    const other = feed.beforeRequest(null);
    const recalled = await waiting;
    assert.deepEqual([recalled.delegated, recalled.recall], [false, true]);
    assert.equal(await settled(other), false, 'a request went ahead of a recalled delegation');
    // A delivered what it queued (its own requests still pass) and releases with a poll that does not ask.
    await feed.beforeRequest(A);
    assert.ok(feed.holds(A), 'delivery refused while recalled');
    const released = await feed.poll(A, since, feed.epoch, 0, false);
    assert.deepEqual([released.delegated, released.recall], [false, false]);
    assert.equal(await settled(other), true);
    assert.equal(feed.holds(A), false);
  });
});

test('unlink delegation: never granted beside another lease, and a recall waits one lease at most', async () => {
  const feed = new ChangeFeed({ leaseMs: 600 });
  try {
    const sa = await joined(feed, A);
    const sb = await joined(feed, B);
    const refused = await feed.poll(A, sa, feed.epoch, 0, true);
    assert.equal(refused.delegated, false, 'granted while B holds a lease');
    // B's lease runs out; now A is alone and gets it.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await feed.poll(A, sa, feed.epoch, 0, true)).delegated, true);
    // B comes back: its poll recalls A first, and with B's lease set A cannot take it again.
    const bPoll = feed.poll(B, sb, feed.epoch, 0);
    assert.equal(await settled(bPoll), false, "B's poll went ahead of A's recall");
    assert.equal((await feed.poll(A, sa, feed.epoch, 0, false)).delegated, false);
    await bPoll;
    assert.equal((await feed.poll(A, sa, feed.epoch, 0, true)).delegated, false, 'granted again beside B');
    // A holder that stops polling holds others up for the rest of its lease, then loses the delegation.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await feed.poll(A, sa, feed.epoch, 0, true)).delegated, true);
    const t0 = Date.now();
    await feed.beforeRequest(null);
    const waited = Date.now() - t0;
    assert.ok(waited >= 300 && waited < 1_500, `waited ${waited} ms for a silent holder`);
    assert.equal(feed.holds(A), false);
  } finally {
    feed.close();
  }
});
