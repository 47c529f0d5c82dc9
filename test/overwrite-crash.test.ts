// kill -9 of the metadata server in the middle of a stream of overwrites: after a restart every
// file holds exactly one complete version (never a mix), and the integrity check passes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { writeWhole, readWhole, sha } from './helpers/files.js';
import { startMetaServer } from './helpers/procs.js';
import { MetaClient } from '../src/client/meta-client.js';

const BLOCK = 64 * 1024;
let cl: TestCluster | undefined;
after(async () => { await cl?.stop(); });

/** Version v of file f: deterministic bytes whose size varies, so a torn file is easy to see. */
function version(f: number, v: number): Buffer {
  const size = BLOCK * (1 + ((f + v) % 4)) + v * 7;
  const b = Buffer.alloc(size);
  let x = (f * 1_000_003 + v * 7919 + 1) >>> 0;
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

test('metadata server SIGKILLed during overwrites: every file is an old or a new version, integrity ok', async () => {
  cl = await startTestCluster({ replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: BLOCK });
  const c = await cl.client({ writeWaitMs: 500 });
  const FILES = 4;
  const acked = new Map<number, number>();
  const attempted = new Map<number, Set<number>>();
  for (let f = 0; f < FILES; f++) {
    await writeWhole(c, `/f${f}`, version(f, 0));
    acked.set(f, 0);
    attempted.set(f, new Set([0]));
  }
  let stop = false;
  const writers = Array.from({ length: FILES }, async (_, f) => {
    for (let v = 1; !stop; v++) {
      attempted.get(f)!.add(v);
      try {
        await writeWhole(c, `/f${f}`, version(f, v));
        acked.set(f, v);
      } catch {
        return; // the metadata server is gone
      }
    }
  });
  await new Promise((r) => setTimeout(r, 400 + Math.floor(Math.random() * 800)));
  await cl.meta.kill();
  stop = true;
  await Promise.all(writers);
  cl.meta = await startMetaServer({ dbPath: join(cl.dir, 'meta', 'meta.db'), secretFile: cl.secretFile, port: cl.meta.port });
  const admin = new MetaClient({ url: cl.metaUrl, secret: cl.secret });
  const report = await admin.integrity();
  await admin.close();
  assert.deepEqual(report.problems, []);
  assert.equal(report.ok, true);
  const c2 = await cl.client();
  for (let f = 0; f < FILES; f++) {
    const got = sha(await readWhole(c2, `/f${f}`));
    const candidates = [...attempted.get(f)!].filter((v) => v >= acked.get(f)!);
    assert.ok(candidates.some((v) => sha(version(f, v)) === got), `file ${f} holds a version that was never written whole (acked ${acked.get(f)})`);
  }
});
