// `quorumfs mount` / `quorumfs umount` as a user runs them: the background form, one-line errors,
// a stale mount left by a killed mount process, and SIGTERM committing what was still open.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { startTestCluster, type TestCluster } from './helpers/cluster.js';
import { bash, mountBaseDir, run, startMount, unmountAll } from './helpers/fuse.js';
import { CLI } from './helpers/procs.js';

let cluster: TestCluster;
const cleanup: string[] = [];

before(async () => {
  cluster = await startTestCluster({ replicas: 3, writeQuorum: 2, readQuorum: 2, blockSizeBytes: 64 * 1024 });
});

after(async () => {
  await unmountAll();
  for (const mp of cleanup) {
    await run('fusermount', ['-u', '-z', mp]);
    rmSync(join(mp, '..'), { recursive: true, force: true });
  }
  await cluster?.stop();
});

function newMountpoint(): string {
  const mp = join(mkdtempSync(join(mountBaseDir(), 'qfs-cli-')), 'mnt');
  cleanup.push(mp);
  return mp;
}

function qfs(args: string[]) {
  return run(process.execPath, [CLI, ...args], { timeoutMs: 60_000 });
}

async function mountSource(mp: string): Promise<string | null> {
  const line = (await fs.readFile('/proc/mounts', 'utf8')).split('\n').find((l) => l.split(' ')[1] === mp);
  return line ? line.split(' ')[0]! : null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const endpoint = () => ['--meta', cluster.metaUrl, '--secret-file', cluster.secretFile];

test('mount in the background, use it, umount; the mount process goes away', async () => {
  const mp = newMountpoint();
  const r = await qfs(['mount', mp, ...endpoint(), '--log-file', join(mp, '..', 'mount.log')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `mounted at ${mp}\n`);
  const src = await mountSource(mp);
  assert.match(src ?? '', /^quorumfs@\d+$/);
  const pid = Number(src!.split('@')[1]);

  await fs.writeFile(join(mp, 'hello.txt'), 'hello\n');
  assert.equal(await fs.readFile(join(mp, 'hello.txt'), 'utf8'), 'hello\n');

  const again = await qfs(['mount', mp, ...endpoint()]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already mounted/);
  assert.equal(again.stderr.trim().split('\n').length, 1, again.stderr);

  const u = await qfs(['umount', mp]);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(await mountSource(mp), null);
  assert.equal(pidAlive(pid), false, 'the mount process exited');
  assert.deepEqual(await fs.readdir(mp), [], 'the mountpoint is an empty directory again');
});

test('up --mount, as npm start runs it, serves the new local cluster there; down unmounts it before the servers go', async () => {
  const mp = newMountpoint();
  const dir = join(mp, '..', 'cluster');
  const up = await qfs(['up', '--dir', dir, '--replicas', '3', '--detach', '--mount', mp]);
  try {
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /^QuorumFS cluster up in .*\nmounted at /);
    assert.match(await mountSource(mp) ?? '', /^quorumfs@\d+$/);
    await fs.writeFile(join(mp, 'started.txt'), 'up\n');
    assert.equal(await fs.readFile(join(mp, 'started.txt'), 'utf8'), 'up\n');
  } finally {
    const down = await qfs(['down', '--dir', dir]);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, new RegExp(`unmounted ${mp}`));
  }
  assert.equal(await mountSource(mp), null);
});

test('one-line errors: not mounted, bad secret file, unreachable metadata server', async () => {
  const mp = newMountpoint();
  const u = await qfs(['umount', mp]);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /is not mounted/);
  assert.equal(u.stderr.trim().split('\n').length, 1);

  const secret = join(mp, '..', 'open-secret');
  writeFileSync(secret, 'ab'.repeat(32), { mode: 0o644 });
  const bad = await qfs(['mount', mp, '--meta', cluster.metaUrl, '--secret-file', secret]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /readable by others/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);

  // The daemon dies at start-up: its last log line becomes the error.
  const dead = await qfs(['mount', mp, '--meta', 'http://127.0.0.1:1', '--secret-file', cluster.secretFile, '--log-file', join(mp, '..', 'dead.log')]);
  assert.equal(dead.code, 1);
  assert.equal(dead.stderr.trim().split('\n').length, 1, dead.stderr);
  assert.match(dead.stderr, /^quorumfs mount: .*(unreachable|ECONNREFUSED|connect)/i);
  assert.equal(await mountSource(mp), null);
});

test('a mount whose process was killed is stale; mount over it and umount both recover', async () => {
  const mp = newMountpoint();
  const m = await startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile, mountpoint: mp });
  await fs.writeFile(join(mp, 'kept.txt'), 'kept');
  m.child.kill('SIGKILL');
  await new Promise((r) => m.child.once('exit', r));
  assert.ok(await mountSource(mp), 'still in the mount table');
  await assert.rejects(fs.stat(mp), { code: 'ENOTCONN' });

  // Mounting again clears the stale one first.
  const r = await qfs(['mount', mp, ...endpoint(), '--log-file', join(mp, '..', 'm.log')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await fs.readFile(join(mp, 'kept.txt'), 'utf8'), 'kept');
  const src = await mountSource(mp);
  const pid = Number(src!.split('@')[1]);
  process.kill(pid, 'SIGKILL');
  await bash(`while kill -0 ${pid} 2>/dev/null; do sleep 0.05; done`);

  // umount of a stale mount detaches it.
  const u = await qfs(['umount', mp]);
  assert.equal(u.code, 0, u.stderr);
  assert.equal(await mountSource(mp), null);
  await m.unmount();
});

test('SIGTERM unmounts and commits a file that a process still had open', async () => {
  const mp = newMountpoint();
  const child = spawn(process.execPath, [CLI, 'mount', mp, '--foreground', ...endpoint()], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  while (!out.includes('mounted at ')) {
    assert.equal(child.exitCode, null, out);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(await mountSource(mp));

  // A shell keeps the file open (busy mount) while the mount is told to stop.
  const holder = bash(`exec 3>'${mp}/open.txt'; echo "written before SIGTERM" >&3; sleep 3`);
  await new Promise((r) => setTimeout(r, 1000));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
  await holder;
  assert.equal(await mountSource(mp), null, 'unmounted');

  const check = await startMount({ metaUrl: cluster.metaUrl, secretFile: cluster.secretFile });
  assert.equal(await fs.readFile(join(check.mountpoint, 'open.txt'), 'utf8'), 'written before SIGTERM\n');
  await check.unmount();
});
