// The byte queue both ends of a link parse frames from (src/common/link-frames.ts). A client link
// reads into one buffer that every read overwrites, so what the queue keeps of it must be copied
// (own); a random mix of reads of any size, takes, copies and skips must give back the bytes sent,
// in order. QFS_SEED=<n> replays a sequence.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ChunkQueue } from '../src/common/link-frames.js';
import { prng } from './helpers/soak-model.js';

const SEED = Number(process.env.QFS_SEED ?? 20261127);

test(`gives back the stream in order, out of one reused read buffer (seed ${SEED})`, () => {
  const r = prng(SEED);
  const stream = randomBytes(2 * 1024 * 1024);
  const readBuf = Buffer.alloc(64 * 1024);
  const q = new ChunkQueue();
  const got: Buffer[] = [];
  let sent = 0;
  let received = 0;
  while (received < stream.length) {
    if (sent < stream.length && (q.size === 0 || r.next() < 0.5)) {
      // One read: the bytes land in the shared buffer, the queue is handed a view of them.
      const n = Math.min(stream.length - sent, 1 + Math.floor(r.next() * readBuf.length));
      stream.copy(readBuf, 0, sent, sent + n);
      const chunk = readBuf.subarray(0, n);
      q.push(chunk);
      sent += n;
      // Consume some while the view is valid, as the link's onData does, then own the rest.
      consume(Math.floor(r.next() * q.size));
      q.own(chunk);
      readBuf.fill(0xee); // the next read overwrites it
    } else {
      consume(1 + Math.floor(r.next() * q.size));
    }
  }
  assert.equal(q.size, 0);
  assert.ok(Buffer.concat(got).equals(stream), 'the bytes came back changed or out of order');

  function consume(n: number): void {
    if (n === 0) return;
    const how = r.next();
    if (how < 0.4) {
      got.push(Buffer.from(q.take(n)));
    } else if (how < 0.8) {
      const out = Buffer.alloc(n);
      assert.equal(q.copyInto(out, 0, n), n);
      got.push(out);
    } else {
      // Skipped bytes still count as read: record what they were, from the stream itself.
      const at = received;
      assert.equal(q.skip(n), n);
      got.push(stream.subarray(at, at + n));
    }
    received += n;
  }
});

test('own leaves chunks it does not hold, and older chunks, as they are', () => {
  const q = new ChunkQueue();
  const older = Buffer.from('abc');
  const shared = Buffer.from('defgh');
  q.push(older);
  q.push(shared);
  assert.equal(q.take(2).toString(), 'ab');
  q.own(Buffer.from('zz')); // not in the queue: nothing happens
  q.own(shared);
  shared.fill('x');
  assert.equal(q.size, 6);
  assert.equal(q.take(6).toString(), 'cdefgh');
});
