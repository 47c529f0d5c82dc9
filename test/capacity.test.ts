// What `df` on a mount shows (src/fuse/capacity.ts): the data servers' disks as one cluster, from a
// probe that statfs does not wait for once it has an answer. The servers here are health sources
// with scripted answers; fuse-basic.test.ts checks the same probe against a real cluster.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { capacityFromHealth, healthCapacityProbe, type HealthSource } from '../src/fuse/capacity.js';
import { silentLogger } from '../src/common/log.js';
import type { DataServerHealth } from '../src/common/protocol.js';

const GiB = 1024 ** 3;

function health(totalGiB: number, freeGiB: number): DataServerHealth {
  return {
    id: 'x', dir: '/x', blocks: 0, bytes: 0, quarantined: 0, startedAtMs: 0,
    diskTotalBytes: totalGiB * GiB, diskFreeBytes: freeGiB * GiB,
  };
}

/** A server whose answer the test changes; counts how often it was asked. */
class Server implements HealthSource {
  asked = 0;
  constructor(public answer: DataServerHealth | 'never' | 'error') {}
  health(): Promise<DataServerHealth> {
    this.asked++;
    const a = this.answer;
    if (a === 'never') return new Promise(() => undefined);
    if (a === 'error') return Promise.reject(new Error('refused'));
    return Promise.resolve(a);
  }
}

test('N servers holding everything: the cluster is as full as its fullest disk; more servers spread blocks', () => {
  assert.deepEqual(capacityFromHealth([health(100, 40), health(50, 30), health(80, 10)], 3), { totalBytes: 50 * GiB, freeBytes: 10 * GiB });
  assert.deepEqual(capacityFromHealth([health(100, 40), health(100, 40), health(100, 40), health(100, 40)], 2), { totalBytes: 200 * GiB, freeBytes: 80 * GiB });
  assert.equal(capacityFromHealth([], 3), null);
});

test('the first statfs waits for the probe started with the mount; later ones answer from it', async () => {
  const servers = [new Server(health(100, 40)), new Server(health(100, 20))];
  const probe = healthCapacityProbe(servers, 2, silentLogger(), { cacheMs: 60_000 });
  assert.deepEqual(await probe(), { totalBytes: 100 * GiB, freeBytes: 20 * GiB });
  servers[1]!.answer = health(100, 5);
  assert.deepEqual(await probe(), { totalBytes: 100 * GiB, freeBytes: 20 * GiB }, 'within cacheMs: not asked again');
  assert.deepEqual(servers.map((s) => s.asked), [1, 1]);
});

test('an old answer is given at once while a fresh one is fetched behind it', async () => {
  const servers = [new Server(health(100, 40)), new Server(health(100, 20))];
  const probe = healthCapacityProbe(servers, 2, silentLogger(), { cacheMs: 50 });
  await probe();
  servers[1]!.answer = health(100, 5);
  await sleep(80);
  assert.deepEqual(await probe(), { totalBytes: 100 * GiB, freeBytes: 20 * GiB }, 'the stale value, not a wait');
  await sleep(20);
  assert.deepEqual(await probe(), { totalBytes: 100 * GiB, freeBytes: 5 * GiB }, 'the refreshed value');
  assert.deepEqual(servers.map((s) => s.asked), [2, 2]);
});

test('a server that does not answer in time or refuses is left out; none answering is unknown', async () => {
  const hung = new Server('never');
  const probe = healthCapacityProbe([new Server(health(100, 40)), hung, new Server('error')], 3, silentLogger(), { timeoutMs: 100, cacheMs: 50 });
  const started = Date.now();
  assert.deepEqual(await probe(), { totalBytes: 100 * GiB, freeBytes: 40 * GiB });
  assert.ok(Date.now() - started < 5_000, 'the hung server did not hold statfs beyond its timeout');
  const none = healthCapacityProbe([new Server('error'), new Server('never')], 2, silentLogger(), { timeoutMs: 50 });
  assert.equal(await none(), null);
});
