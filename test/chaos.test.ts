// The chaos commands against a real local cluster started with the CLI: what a server stores and
// for which file, a real SIGKILL and restart, bytes flipped on disk that the server then refuses,
// a wipe that brings a blank server with a new identity, and one-line errors for bad targets.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { tempDir, qfs, qfsOk } from './helpers/procs.js';

const root = tempDir('qfs-chaos-');
const dir = join(root, 'cluster');
const d = ['--dir', dir];


const ok = qfsOk;

function blockFiles(k: number): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    for (const e of readdirSync(p, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(p, e.name));
      else out.push(join(p, e.name));
    }
  };
  const blocks = join(dir, `data-${k}`, 'blocks');
  if (existsSync(blocks)) walk(blocks);
  return out;
}

function identity(k: number): string {
  return (JSON.parse(readFileSync(join(dir, `data-${k}`, 'identity.json'), 'utf8')) as { id: string }).id;
}

function dataUrl(k: number): string {
  const state = JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as { host: string; dataPorts: number[] };
  return `http://${state.host}:${state.dataPorts[k - 1]}`;
}

async function verifyStatus(k: number, hash: string): Promise<number> {
  const secret = readFileSync(join(dir, 'secret'), 'utf8').trim();
  const res = await request(`${dataUrl(k)}/v1/blocks/${hash}/verify`, { method: 'POST', headers: { authorization: `Bearer ${secret}` } });
  await res.body.text();
  return res.statusCode;
}

function serverUp(k: number): boolean {
  const st = JSON.parse(ok(['status', '--json', ...d])) as { servers: Array<{ index: number; up: boolean }> };
  return st.servers.find((s) => s.index === k)!.up;
}

before(() => {
  ok(['up', '--detach', '--replicas', '3', '--block-size', '4096', ...d]);
  const local = join(root, 'f.bin');
  writeFileSync(local, Buffer.alloc(10_000, 'quorum'));
  ok(['mkdir', '/docs', ...d]);
  ok(['put', local, '/docs/f', ...d]);
});

after(() => {
  if (existsSync(join(dir, 'cluster.json'))) qfs(['down', ...d]);
  rmSync(root, { recursive: true, force: true });
});

test('chaos ls lists the blocks a server stores, their sizes and the file referencing them', () => {
  const out = ok(['chaos', 'ls', '2', ...d]);
  assert.match(out, /^data server 2 \(running, id [0-9a-f-]{36}\): 3 blocks, 10000 bytes/m);
  const lines = out.split('\n').filter((l) => /^[0-9a-f]{64} /.test(l));
  assert.equal(lines.length, 3);
  for (const l of lines) assert.match(l, /^[0-9a-f]{64}\s+\d+\s+\/docs\/f$/);
  const inv = JSON.parse(ok(['chaos', 'ls', '2', '--json', ...d])) as { blocks: Array<{ hash: string; sizeBytes: number; paths: string[] }> };
  assert.deepEqual(inv.blocks.map((b) => b.sizeBytes).sort((a, b) => a - b), [1808, 4096, 4096]);
  assert.ok(inv.blocks.every((b) => b.paths.length === 1 && b.paths[0] === '/docs/f'));
});

test('chaos kill makes status show the server DOWN; chaos restart brings it back with its blocks', () => {
  const idBefore = identity(1);
  assert.match(ok(['chaos', 'kill', '1', ...d]), /^data server 1 killed \(SIGKILL, pid \d+\)$/m);
  assert.equal(serverUp(1), false);
  assert.match(ok(['status', ...d]), /^data server 1: DOWN/m);
  const again = qfs(['chaos', 'kill', '1', ...d]);
  assert.equal(again.code, 1, 'killing a dead server is refused');
  assert.match(again.stderr, /data server 1 is not running/);
  assert.match(ok(['chaos', 'restart', '1', ...d]), /^data server 1 restarted \(pid \d+; was down\): id [0-9a-f-]{36}, 3 blocks/m);
  assert.equal(serverUp(1), true);
  assert.equal(identity(1), idBefore, 'a restart keeps the identity');
  assert.match(ok(['chaos', 'restart', '1', ...d]), /was running as pid \d+, killed first/);
  assert.equal(ok(['cat', '/docs/f', ...d]).length, 10_000);
});

test('chaos corrupt --path flips bytes of that file\'s block files in place; the server then refuses the copy (409)', async () => {
  const inv = JSON.parse(ok(['chaos', 'ls', '3', '--json', ...d])) as { blocks: Array<{ hash: string }> };
  const files = blockFiles(3);
  const before = new Map(files.map((f) => [f, readFileSync(f)]));
  for (const b of inv.blocks) assert.equal(await verifyStatus(3, b.hash), 200);
  const out = ok(['chaos', 'corrupt', '3', '--path', '/docs/f', ...d]);
  assert.match(out, /^corrupted 3 block copies on data server 3$/m);
  for (const f of files) {
    const now = readFileSync(f);
    assert.equal(now.length, before.get(f)!.length, 'same size');
    assert.notDeepEqual(now, before.get(f), `${f} changed`);
    assert.match(out, new RegExp(`corrupted data-3/blocks/\\S+/${f.split('/').pop()} \\(`));
  }
  for (const b of inv.blocks) assert.equal(await verifyStatus(3, b.hash), 409, 'verify says the copy is corrupt');
  // The file still reads: Qr=2 of the 2 good copies.
  assert.equal(ok(['cat', '/docs/f', ...d]).length, 10_000);
});

test('chaos wipe gives the server a new identity and an emptied blocks directory', () => {
  const idBefore = identity(2);
  assert.equal(blockFiles(2).length, 3);
  const wipeStartMs = Date.now();
  const out = ok(['chaos', 'wipe', '2', ...d]);
  const blocksRightAfter = blockFiles(2);
  assert.match(out, /^data server 2 wiped: deleted 3 blocks and identity [0-9a-f-]{36}; restarted blank \(pid \d+\) with new identity [0-9a-f-]{36}, \d+ blocks?$/m);
  assert.notEqual(identity(2), idBefore);
  assert.ok(out.includes(identity(2)), 'the new identity is printed');
  // Empty right after, unless the cluster's blank-server rebuild was faster than this check: then
  // every block file there was written after the wipe began, none survived it.
  for (const f of blocksRightAfter) assert.ok(statSync(f).mtimeMs >= wipeStartMs - 1_000, `${f} survived the wipe`);
  assert.equal(serverUp(2), true);
});

test('bad targets are refused with one line and exit status 1', () => {
  const cases: Array<[string[], RegExp]> = [
    [['chaos', 'kill', '4', ...d], /^quorumfs chaos kill: data server 4 does not exist: the cluster in .* has data servers 1\.\.3$/],
    [['chaos', 'corrupt', '0', ...d], /data server 0 does not exist/],
    [['chaos', 'restart', 'two', ...d], /K must be a whole number, got "two"/],
    [['chaos', 'ls', '1', '--dir', join(root, 'nothing')], /no QuorumFS cluster in/],
    [['chaos', 'corrupt', '1', '--path', '/nope', ...d], /ENOENT/],
  ];
  for (const [args, re] of cases) {
    const r = qfs(args);
    assert.equal(r.code, 1, `${args.join(' ')}: exit status`);
    assert.match(r.stderr.trim(), re);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }
  ok(['down', ...d]);
  const r = qfs(['chaos', 'kill', '1', ...d]);
  assert.equal(r.code, 1);
  assert.match(r.stderr.trim(), /^quorumfs chaos kill: the cluster in .* is not running \(start it with: quorumfs up --dir .* --detach\)$/);
});
