// fsck against a real local cluster: a healthy cluster passes; one corrupt copy makes its file
// under-replicated, corrupt copies everywhere make it unrecoverable; --repair refills the first.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { supportsFetch } from '../src/fsck/fetch-block.js';
import { blockPath } from './helpers/files.js';
import { tempDir, qfs, qfsOk } from './helpers/procs.js';

const root = tempDir('qfs-fsck-');
const dir = join(root, 'cluster');
const d = ['--dir', dir];


const ok = qfsOk;

function put(remote: string, bytes: Buffer): void {
  const local = join(root, 'upload');
  writeFileSync(local, bytes);
  ok(['put', local, remote, ...d]);
}

before(() => {
  ok(['up', '--detach', '--replicas', '3', '--block-size', '4096', ...d]);
  ok(['mkdir', '/docs', ...d]);
  // Random bytes: no two blocks alike, so no block is shared (deduplicated) between files.
  put('/docs/a', randomBytes(9_000));
  put('/docs/b', randomBytes(9_000));
  put('/docs/d', randomBytes(9_000));
  put('/c', randomBytes(5_000));
});

after(() => {
  if (existsSync(join(dir, 'cluster.json'))) qfs(['down', ...d]);
  rmSync(root, { recursive: true, force: true });
});

test('a healthy cluster: every path healthy, exit status 0', () => {
  const out = ok(['fsck', ...d]);
  for (const p of ['/docs/a', '/docs/b', '/docs/d', '/c']) assert.match(out, new RegExp(`^healthy\\s+${p}\\s+\\(\\d+ blocks?, \\d+ bytes, 3/3 copies each\\)$`, 'm'));
  assert.match(out, /^fsck: 4 files, 11 blocks: 4 healthy, 0 under-replicated, 0 unrecoverable$/m);
});

test('one corrupt copy: its file is under-replicated, listed by path; all copies corrupt: unrecoverable; exit 1', () => {
  ok(['chaos', 'corrupt', '2', '--path', '/docs/b', ...d]);
  for (const k of ['1', '2', '3']) ok(['chaos', 'corrupt', k, '--path', '/c', ...d]);
  const r = qfs(['fsck', ...d]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^healthy\s+\/docs\/a /m);
  assert.match(r.stdout, /^under-replicated\s+\/docs\/b\s+\(3 blocks, 9000 bytes, fewest good copies 2\/3; block [0-9a-f]{12}: 2\/3 good, corrupt on 2/m);
  assert.match(r.stdout, /^unrecoverable\s+\/c\s+\(2 blocks, 5000 bytes, fewest good copies 0\/3; block [0-9a-f]{12}: 0\/3 good, corrupt on 1,2,3/m);
  assert.match(r.stdout, /^fsck: 4 files, 11 blocks: 2 healthy, 1 under-replicated, 1 unrecoverable$/m);
  // fsck's verification makes the servers quarantine and report the corrupt copies, and the
  // cluster's own repair may refill /docs/b at once; a fresh corruption is checked as JSON.
  ok(['chaos', 'corrupt', '3', '--path', '/docs/d', ...d]);
  const j = qfs(['fsck', '--json', ...d]);
  assert.equal(j.code, 1);
  const json = JSON.parse(j.stdout) as { files: Array<{ paths: string[]; status: string; minGoodCopies: number; problems: Array<{ corruptOn: number[] }> }> };
  const byPath = new Map(json.files.map((f) => [f.paths[0], f]));
  assert.equal(byPath.get('/docs/d')?.status, 'under-replicated');
  assert.equal(byPath.get('/docs/d')?.minGoodCopies, 2);
  assert.deepEqual(byPath.get('/docs/d')?.problems[0]?.corruptOn, [3]);
  assert.equal(byPath.get('/c')?.status, 'unrecoverable');
});

test('--repair refills an under-replicated file; the unrecoverable one is reported as such', async (t) => {
  const state = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { host: string; dataPorts: number[] };
  const secret = readFileSync(join(dir, 'secret'), 'utf8').trim();
  if (!(await supportsFetch(`http://${state.host}:${state.dataPorts[0]}`, secret))) {
    const r = qfs(['fsck', '--repair', ...d]);
    assert.equal(r.code, 1);
    assert.match(r.stderr.trim(), /^quorumfs fsck: data server .* has no block fetch endpoint/);
    t.skip('data servers have no POST /v1/blocks/<hash>/fetch yet (self-healing not merged); checked only that --repair fails with one clear line');
    return;
  }
  // A lost copy (block file deleted behind the server's back): nobody knows until it is checked.
  const lost = JSON.parse(ok(['chaos', 'ls', '1', '--json', ...d])).blocks.find((b: { paths: string[] }) => b.paths.includes('/docs/a')).hash as string;
  rmSync(blockPath(join(dir, 'data-1'), lost));
  const r = qfs(['fsck', '--repair', ...d]);
  assert.equal(r.code, 1, 'still 1: /c cannot be repaired');
  assert.match(r.stdout, /^before repair: 4 files, 11 blocks: \d healthy, [1-3] under-replicated, 1 unrecoverable$/m);
  // fsck copies the block unless the cluster's own repair (told by the server fsck asked) got there first.
  assert.ok(new RegExp(`^repaired  block ${lost.slice(0, 12)} on server 1 \\(copied from server [23](,[23])?\\)$`, 'm').test(r.stdout) || !/NOT FIXED/.test(r.stdout), r.stdout);
  for (const p of ['/docs/a', '/docs/b', '/docs/d']) assert.match(r.stdout, new RegExp(`^healthy\\s+${p} `, 'm'));
  assert.match(r.stdout, /^unrecoverable\s+\/c /m);
  assert.match(r.stdout, /^LOST\s+block [0-9a-f]{12}: no server has a good copy/m);
  assert.match(r.stdout, /^fsck after repair: 4 files, 11 blocks: 3 healthy, 0 under-replicated, 1 unrecoverable$/m);
  ok(['rm', '/c', ...d]);
  assert.match(ok(['fsck', ...d]), /^fsck: 3 files, 9 blocks: 3 healthy, 0 under-replicated, 0 unrecoverable$/m);
});
