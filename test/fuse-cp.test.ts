// A real tree through the mount: `cp -a` of a system header tree in and out again, compared with
// diff -r and with find's view of types, modes, owners, sizes, link targets and modification times.
// The default is /usr/include/linux (~760 files in nested dirs): all of /usr/include (~8,000
// files) takes 5-9 minutes on 2 cores today, too close to the per-test bound for CI; run it with
// QFS_CP_SRC=/usr/include (npm run bench times the full cp -r).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { bash, startMount, unmountAll, type TestMount } from './helpers/fuse.js';
import { tempDir } from './helpers/procs.js';

const SRC = process.env.QFS_CP_SRC ?? '/usr/include/linux';
const CP_TIMEOUT_MS = 30 * 60_000;

let cluster: TestCluster;
let m: TestMount;
let out: string;

before(async () => {
  cluster = await startTestCluster({ replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 1024 * 1024 });
  m = await startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile });
  out = tempDir('qfs-cp-out-');
});

after(async () => {
  await unmountAll();
  await cluster?.stop();
  if (out) rmSync(out, { recursive: true, force: true });
});

/** One line per entry: path, type, mode, owner, size (not for dirs), link target, mtime in seconds. */
function listing(dir: string) {
  return bash(`cd '${dir}' && find . -printf '%P %y %m %U:%G %l %T@ ' -a \\( -type d -printf '-\\n' -o -printf '%s\\n' \\) | awk '{ split($(NF-1), t, "."); $(NF-1) = t[1]; print }' | sort`, undefined, CP_TIMEOUT_MS);
}

test(`cp -a ${SRC} into the mount and back out is identical`, { skip: !existsSync(SRC) && `${SRC} missing` }, async (t) => {
  const inMount = join(m.mountpoint, 'tree');
  let started = Date.now();
  const cpIn = await bash(`cp -a '${SRC}' '${inMount}'`, undefined, CP_TIMEOUT_MS);
  assert.equal(cpIn.code, 0, `cp in: ${cpIn.stderr.slice(0, 2000)}`);
  t.diagnostic(`cp -a in: ${Date.now() - started} ms`);

  const diffIn = await bash(`diff -r --no-dereference '${SRC}' '${inMount}'`, undefined, CP_TIMEOUT_MS);
  assert.equal(diffIn.code, 0, `diff after cp in: ${diffIn.stdout.slice(0, 2000)}${diffIn.stderr.slice(0, 2000)}`);
  const [srcList, mountList] = await Promise.all([listing(SRC), listing(inMount)]);
  assert.equal(mountList.code, 0, mountList.stderr);
  assert.equal(mountList.stdout, srcList.stdout, 'types, modes, owners, sizes, link targets and mtimes survive cp -a');

  started = Date.now();
  const back = join(out, 'tree');
  const cpOut = await bash(`cp -a '${inMount}' '${back}'`, undefined, CP_TIMEOUT_MS);
  assert.equal(cpOut.code, 0, `cp out: ${cpOut.stderr.slice(0, 2000)}`);
  t.diagnostic(`cp -a out: ${Date.now() - started} ms`);
  const diffOut = await bash(`diff -r --no-dereference '${SRC}' '${back}'`, undefined, CP_TIMEOUT_MS);
  assert.equal(diffOut.code, 0, `diff after cp out: ${diffOut.stdout.slice(0, 2000)}${diffOut.stderr.slice(0, 2000)}`);
  assert.equal((await listing(back)).stdout, srcList.stdout);
});
