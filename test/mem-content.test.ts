import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { MemContent } from './helpers/mem-content.js';

/** A plain Buffer as the model of a file's bytes. */
function apply(model: Buffer, op: { kind: 'write'; offset: number; data: Buffer } | { kind: 'truncate'; size: number }): Buffer {
  if (op.kind === 'truncate') {
    const next = Buffer.alloc(op.size);
    model.copy(next, 0, 0, Math.min(op.size, model.length));
    return next;
  }
  const next = Buffer.alloc(Math.max(model.length, op.offset + op.data.length));
  model.copy(next);
  op.data.copy(next, op.offset);
  return next;
}

test('the in-memory file content matches a plain buffer through writes, truncates and snapshots', () => {
  const MiB = 1 << 20;
  // mulberry32: a fixed sequence, so a failure can be replayed.
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 2 ** 32) * n);
  };
  let content = new MemContent();
  let model: Buffer = Buffer.alloc(0);
  const published: Array<{ snap: MemContent; model: Buffer }> = [];
  let lastRead: { got: Buffer; want: Buffer } | null = null;
  for (let step = 0; step < 300; step++) {
    const r = rnd(10);
    if (r < 6) {
      // Small writes near the start too: chunks begin small and grow.
      const small = rnd(2) === 0;
      const op = { kind: 'write' as const, offset: rnd(small ? 20_000 : 5 * MiB), data: randomBytes(1 + rnd(small ? 10_000 : 2 * MiB)) };
      content.write(op.offset, op.data);
      model = apply(model, op);
    } else if (r < 8) {
      const op = { kind: 'truncate' as const, size: rnd(rnd(2) === 0 ? 30_000 : 6 * MiB) };
      content.truncate(op.size);
      model = apply(model, op);
    } else {
      // A flush: the published version must never change afterwards.
      published.push({ snap: content.snapshot(), model: Buffer.from(model) });
      if (rnd(2) === 0) content = published.at(-1)!.snap.snapshot(); // a new open of it
    }
    assert.equal(content.size, model.length);
    if (lastRead) assert.ok(lastRead.got.equals(lastRead.want), `step ${step}: bytes read before this step changed`);
    const off = rnd(model.length + 1);
    const len = rnd(3 * MiB);
    const got = content.read(off, len);
    assert.ok(got.equals(model.subarray(off, off + len)), `step ${step}: read(${off}, ${len})`);
    lastRead = { got, want: Buffer.from(got) };
  }
  assert.ok(published.length > 10);
  for (const p of published) assert.ok(p.snap.read(0, p.model.length + 1).equals(p.model), 'a published version is unchanged');
});
