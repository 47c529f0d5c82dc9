// The quorumfs CLI as a user runs it: bad configs refused with one line and nothing created; a
// local cluster brought up detached, used with the file commands, inspected and brought down, and
// its servers' Unix sockets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { request } from 'node:http';
import { connectFromOptions } from '../src/client/connect.js';
import { pidAlive } from '../src/cluster/processes.js';
import { paths, requireClusterState } from '../src/cluster/state.js';
import { HEAP_FLAGS } from '../src/common/tuned-env.js';
import { readWhole, writeWhole } from './helpers/files.js';
import { CLI, tempDir, qfs } from './helpers/procs.js';


const dirs: string[] = [];
after(() => {
  for (const d of dirs) {
    if (existsSync(join(d, 'cluster.json'))) qfs(['down', '--dir', d]);
    rmSync(d, { recursive: true, force: true });
  }
});

test('invalid configs are refused with one clear line and nothing is created', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--replicas', '0'], /replicas \(N\) must be at least 1/],
    [['--replicas', '5', '--write-quorum', '2', '--read-quorum', '3'], /Qr \+ Qw must exceed N/],
    [['--replicas', '3', '--write-quorum', '3', '--read-quorum', '4'], /read quorum Qr=4 exceeds replicas N=3/],
    [['--replicas', '3', '--write-quorum', '4'], /write quorum Qw=4 exceeds replicas N=3/],
    [['--replicas', 'five'], /--replicas must be a whole number/],
    [['--read-quorum', '2.5'], /--read-quorum must be a whole number/],
    [['--block-size', '12'], /block size must be at least/],
  ];
  for (const [flags, re] of cases) {
    const dir = join(tempDir(), 'cluster');
    dirs.push(dir);
    const r = qfs(['up', '--dir', dir, '--detach', ...flags]);
    assert.equal(r.code, 1, `${flags.join(' ')}: exit code`);
    assert.match(r.stderr, re);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
    assert.equal(existsSync(dir), false, 'nothing created for a refused config');
  }
});

test('up --detach, file commands, status, down, and resume with the same data', () => {
  const dir = join(tempDir(), 'c');
  dirs.push(dir);
  const up = qfs(['up', '--dir', dir, '--detach', '--replicas', '3']);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /N=3 Qw=3 Qr=2/);
  assert.equal(statSync(join(dir, 'secret')).mode & 0o777, 0o600, 'secret is private');
  for (let k = 1; k <= 3; k++) assert.ok(existsSync(join(dir, `data-${k}`, 'identity.json')), `data-${k} holds its identity`);
  for (const pidFile of [paths.metaPid(dir), ...[1, 2, 3].map((k) => paths.dataPid(dir, k))]) {
    const pid = readFileSync(pidFile, 'utf8').trim();
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    for (const f of HEAP_FLAGS) assert.ok(argv.includes(f), `server ${pid} runs with ${f}: ${argv.join(' ')}`);
    assert.match(readFileSync(`/proc/${pid}/environ`, 'utf8'), /(^|\0)GLIBC_TUNABLES=/, `server ${pid} has the allocator settings`);
  }

  const local = join(dir, '..', 'hello.txt');
  writeFileSync(local, 'hello, quorum\n');
  const d = ['--dir', dir];
  assert.equal(qfs(['mkdir', '/docs', ...d]).code, 0);
  assert.equal(qfs(['put', local, '/docs/a.txt', ...d]).code, 0);
  assert.equal(qfs(['cat', '/docs/a.txt', ...d]).stdout, 'hello, quorum\n');
  assert.equal(qfs(['mv', '/docs/a.txt', '/docs/b.txt', ...d]).code, 0);
  const ls = qfs(['ls', '/docs', ...d]);
  assert.match(ls.stdout, /^-rw.* 14 .* b\.txt$/m);
  assert.match(qfs(['stat', '/docs/b.txt', ...d]).stdout, /size: 14/);
  const out = join(dir, '..', 'out.txt');
  assert.equal(qfs(['get', '/docs/b.txt', out, ...d]).code, 0);
  assert.equal(readFileSync(out, 'utf8'), 'hello, quorum\n');

  const missing = qfs(['cat', '/nope', ...d]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^quorumfs cat: ENOENT/);
  assert.equal(qfs(['rm', '/docs', ...d]).code, 1, 'rm of a directory without -r is refused');

  const st = JSON.parse(qfs(['status', '--json', ...d]).stdout) as { servers: Array<{ up: boolean; blocks: number }>; blocks: { referenced: number; underReplicated: number } };
  assert.equal(st.servers.length, 3);
  assert.ok(st.servers.every((s) => s.up && s.blocks === 1));
  assert.deepEqual([st.blocks.referenced, st.blocks.underReplicated], [1, 0]);

  // A mount of this cluster goes with it, instead of answering EIO until someone unmounts it.
  const mp = join(dir, '..', 'mnt');
  const mount = qfs(['mount', mp, ...d]);
  assert.equal(mount.code, 0, mount.stderr);
  assert.equal(readFileSync(join(mp, 'docs', 'b.txt'), 'utf8'), 'hello, quorum\n');
  const down = qfs(['down', ...d]);
  assert.equal(down.code, 0, down.stderr);
  assert.match(down.stdout, /stopped 4 servers/);
  assert.match(down.stdout, new RegExp(`unmounted ${mp}`));
  assert.ok(!readFileSync('/proc/mounts', 'utf8').split('\n').some((l) => l.split(' ')[1] === mp), 'the mount is gone');
  const stDown = qfs(['status', ...d]);
  assert.match(stDown.stdout, /data server 1: DOWN/);

  // Started again on the same directory: the same cluster and data.
  assert.equal(qfs(['up', '--dir', dir, '--detach']).code, 0);
  assert.equal(qfs(['cat', '/docs/b.txt', ...d]).stdout, 'hello, quorum\n');
  const conflict = qfs(['up', '--dir', dir, '--detach', '--replicas', '5']);
  assert.equal(conflict.code, 1);
  assert.match(conflict.stderr, /created with replicas=3/);
  assert.equal(qfs(['rm', '-r', '/docs', ...d]).code, 0);
  assert.equal(qfs(['ls', '/', ...d]).stdout, '');
  assert.equal(qfs(['down', ...d]).code, 0);
});

test('a local cluster also answers on owner-only Unix sockets, which clients given its directory use', async () => {
  const dir = join(tempDir(), 'c');
  dirs.push(dir);
  assert.equal(qfs(['up', '--dir', dir, '--detach', '--replicas', '3']).code, 0);
  const state = requireClusterState(dir);
  const socks = [paths.metaSocket(dir), ...[1, 2, 3].map((k) => paths.dataSocket(dir, k))];
  for (const s of socks) {
    assert.ok(statSync(s).isSocket(), `${s} is a socket`);
    assert.equal(statSync(s).mode & 0o777, 0o600, `${s} is private`);
  }
  // The socket is a transport, not a way around the cluster secret.
  const status = await new Promise<number>((resolve, reject) => {
    request({ socketPath: paths.dataSocket(dir, 1), path: '/v1/health' }, (res) => { res.resume(); resolve(res.statusCode ?? 0); })
      .on('error', reject).end();
  });
  assert.equal(status, 401);

  const c = await connectFromOptions({ dir });
  try {
    await writeWhole(c, '/s', Buffer.from('over a socket'));
    assert.equal((await readWhole(c, '/s')).toString(), 'over a socket');
    // Keep-alive connections to the servers' TCP ports would show here had the client used TCP.
    const ports = [state.metaPort, ...state.dataPorts].map(String);
    const tcp = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8' }).split('\n')
      .filter((l) => l.includes(`pid=${process.pid},`) && ports.some((p) => l.includes(`:${p} `)));
    assert.deepEqual(tcp, [], 'no TCP connection to the cluster');
  } finally {
    await c.close();
  }
  assert.equal(qfs(['down', '--dir', dir]).code, 0);
  for (const s of socks) assert.equal(existsSync(s), false, `${s} removed by a clean stop`);
});

test('a foreground up stops the servers it started, also after its directory was deleted and made anew', async () => {
  const dir = join(tempDir(), 'fg');
  dirs.push(dir);
  const serverPids = () => [paths.metaPid(dir), ...[1, 2, 3].map((k) => paths.dataPid(dir, k))].map((f) => Number(readFileSync(f, 'utf8')));
  const up = spawn(process.execPath, [CLI, 'up', '--dir', dir, '--replicas', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  up.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  up.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => up.once('exit', (code) => resolve(code)));
  for (const deadline = Date.now() + 60_000; !out.includes('running in the foreground');) {
    assert.ok(Date.now() < deadline && up.exitCode === null, `up did not come up: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const first = serverPids();

  // The directory goes away under the running cluster and another cluster is made in its place:
  // its pid files now name the second cluster's servers, whose command lines name the same paths.
  rmSync(dir, { recursive: true, force: true });
  assert.equal(qfs(['up', '--dir', dir, '--detach', '--replicas', '3']).code, 0);
  const second = serverPids();
  for (const pid of [...first, ...second]) assert.ok(pidAlive(pid), `server ${pid} runs before the first up stops`);

  up.kill('SIGTERM');
  assert.equal(await exited, 0, out);
  for (const pid of first) assert.equal(pidAlive(pid), false, `server ${pid} of the first up was stopped`);
  for (const pid of second) assert.ok(pidAlive(pid), `server ${pid} of the second cluster was left alone`);
  assert.equal(qfs(['down', '--dir', dir]).code, 0);
  for (const pid of second) assert.equal(pidAlive(pid), false, `server ${pid} stopped by down`);
});
