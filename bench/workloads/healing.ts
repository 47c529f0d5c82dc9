// (c) Self-healing throughput, each beside the raw disk read rate measured in the same run
// (sequential `dd` read of a file on the same disk, caches dropped).
//  - scrub: (1) the re-hash of every block of one server, timed from here (POST
//    /v1/blocks/H/verify, one block at a time like a scrubber, caches dropped); (2) one pass of the
//    data server's own scrubber with its rate cap lifted: data server 1 is restarted with the same
//    arguments plus --scrub-rate-mb-per-s 100000 --scrub-interval-ms 5000 and its "scrub pass
//    finished" log line gives the pass's bytes and seconds.
//  - rebuild: a cluster (N=3, Qw=3, Qr=1) holding 200 MiB (1 GiB without --quick); data server 2
//    is killed, its data dir deleted and it is started again with the same arguments (a blank
//    server); the time until its inventory equals the others' -> MiB/s. Once at the metadata
//    server's default repair rate cap, once with the metadata server restarted with
//    --repair-rate-mb-per-s 0 (unlimited). The CPU time the servers spent on it (from /proc, per
//    GiB rebuilt) goes in the note: on a shared machine it moves far less than the wall-clock rate.
// Rebuild needs the metadata server's GET /v1/admin/status (self-healing engine); without it those
// rows say "skipped" and why.
import { readFileSync } from 'node:fs';
import { copyFile, readFile, rm, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'undici';
import { connectClient } from '../../src/client/connect.js';
import { DataClient } from '../../src/client/data-client.js';
import { waitReady } from '../../src/cluster/local.js';
import { killServer, runningPid, startServer, stopServer, type ServerRef } from '../../src/cluster/processes.js';
import { dataUrlOf, metaUrlOf, paths } from '../../src/cluster/state.js';
import { authValue } from '../../src/common/protocol.js';
import { QfsCluster, specLabel, type ClusterSpec } from '../lib/cluster.js';
import { runOk, sleep } from '../lib/proc.js';
import type { Ctx, Row, Workload, WorkloadResult } from '../lib/types.js';
import { MiB, checkAbort, dropCaches, errMsg, makeRandomFile, nowMs, ratio } from '../lib/util.js';

const SPEC: ClusterSpec = { replicas: 3, writeQuorum: 3, readQuorum: 1 };
const STATUS_PATH = '/v1/admin/status';
/** The servers' "MB" (src/repair/rate-limiter.ts BYTES_PER_MB). */
const MB = 1_000_000;

type StatusProbe = { available: true; body: unknown } | { available: false; reason: string };

async function adminStatus(metaUrl: string, secret: string): Promise<StatusProbe> {
  try {
    const res = await request(metaUrl + STATUS_PATH, { method: 'GET', headers: { authorization: authValue(secret) }, headersTimeout: 10_000, bodyTimeout: 10_000 });
    const text = await res.body.text();
    if (res.statusCode === 404 || /no such endpoint/.test(text)) return { available: false, reason: `the metadata server has no GET ${STATUS_PATH} (self-healing engine not there yet)` };
    if (res.statusCode !== 200) return { available: false, reason: `GET ${STATUS_PATH} answered HTTP ${res.statusCode}: ${text.slice(0, 200)}` };
    const j = JSON.parse(text) as { result?: unknown };
    return { available: true, body: j.result ?? j };
  } catch (err) {
    return { available: false, reason: `GET ${STATUS_PATH} failed: ${errMsg(err)}` };
  }
}

interface HealStatusLike {
  repair?: { rateMbPerS?: number };
  recoveries?: Array<{ server: number; kind: string; startedAtMs: number; finishedAtMs: number | null; totalBytes: number; doneBytes: number; rateBytesPerS: number }>;
}

function dataClient(url: string, secret: string, index: number): DataClient {
  return new DataClient({ index, url, secret, requestTimeoutMs: 30_000, connectTimeoutMs: 2_000, connections: 1 });
}

async function inventorySet(c: DataClient): Promise<Map<string, number>> {
  return new Map((await c.inventory()).blocks);
}

/** user + system CPU milliseconds of a process so far (Linux /proc), or null if it is gone. */
function cpuMs(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * (1000 / 100); // clock ticks, USER_HZ = 100
  } catch {
    return null;
  }
}

/** CPU milliseconds of the metadata server and every data server, by name ('meta', 'data-K'). */
function clusterCpuMs(cluster: QfsCluster): Record<string, number | null> {
  const out: Record<string, number | null> = { meta: cpuMs(runningPid(cluster.dir, { kind: 'meta' })) };
  for (let k = 1; k <= SPEC.replicas; k++) out[`data-${k}`] = cpuMs(runningPid(cluster.dir, { kind: 'data', index: k }));
  return out;
}

/**
 * Stops a server (SIGTERM) and starts it again with its usual arguments plus `extra`, recording its
 * pid where the cluster tools look for it; waits until it answers. Throws with its last log line.
 */
async function restartWith(cluster: QfsCluster, ref: ServerRef, extra: string[]): Promise<void> {
  const dir = cluster.dir;
  const state = cluster.state();
  await stopServer(dir, ref);
  startServer(dir, state, ref, extra);
  await waitReady(dir, state, ref, cluster.secret(), 30_000);
}

/** Waits for a JSON log line with this msg written after `offset`; returns it. */
async function waitLogLine(ctx: Ctx, file: string, offset: number, msg: string, limitMs: number): Promise<Record<string, unknown>> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    checkAbort(ctx.signal);
    const text = (await readFile(file)).subarray(offset).toString('utf8');
    for (const line of text.split('\n')) {
      if (!line.includes(msg)) continue;
      try {
        const j = JSON.parse(line) as Record<string, unknown>;
        if (j.msg === msg) return j;
      } catch {
        // partial line
      }
    }
    if (Date.now() > deadline) throw new Error(`no "${msg}" in ${file} within ${limitMs / 1000} s`);
    await sleep(250, ctx.signal);
  }
}

export const healing: Workload = {
  name: 'healing',
  title: 'self-healing',
  timeoutMs: (quick) => (quick ? 20 : 60) * 60_000,
  async run(ctx: Ctx, out: WorkloadResult) {
    // 200 MiB even in quick mode: a rebuild of 64 MiB lasted ~2 s, half of it the blank server's
    // startup and detection, so it measured those rather than the transfer.
    const dataMiB = ctx.quick ? 200 : 1024;
    const fileMiB = 10;
    const diskMiB = ctx.quick ? 64 : 256;
    const target = `QuorumFS ${specLabel(SPEC)}`;
    const wl = `self-healing (${dataMiB} MiB)`;
    const cluster = await QfsCluster.up(ctx, 'healing', SPEC);
    const clients: DataClient[] = [];
    try {
      const state = cluster.state();
      const secret = cluster.secret();
      const metaUrl = metaUrlOf(state);
      for (let i = 1; i <= SPEC.replicas; i++) clients.push(dataClient(dataUrlOf(state, i), secret, i));
      const probe = await adminStatus(metaUrl, secret);
      out.raw.statusEndpoint = probe.available ? 'present' : probe.reason;

      // Data: files of random bytes written through the client library.
      ctx.log(`healing: writing ${dataMiB} MiB`);
      const c = await connectClient({ metaUrl, secret });
      try {
        const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
        for (let i = 0; i * fileMiB < dataMiB; i++) {
          checkAbort(ctx.signal);
          const path = `/heal-${String(i).padStart(3, '0')}.bin`;
          await c.meta.create({ path, mode: 0o644, owner, exclusive: false });
          const f = await c.open(path, { write: true, truncate: true });
          for (let b = 0; b < fileMiB; b++) await f.write(b * MiB, randomBytes(MiB));
          await f.close();
        }
      } finally {
        await c.close();
      }
      const ref = await inventorySet(clients[0]!);
      const refBytes = [...ref.values()].reduce((a, b) => a + b, 0);
      out.raw.blocks = ref.size;
      out.raw.bytes = refBytes;

      // Baseline: raw sequential read of a file on the same disk, caches dropped.
      const diskFile = join(cluster.dir, 'disk-read.bin');
      let diskMiBs: number | null = null;
      try {
        await makeRandomFile(diskFile, diskMiB * MiB);
        await dropCaches(ctx.log);
        const t0 = nowMs();
        await runOk('dd', [`if=${diskFile}`, 'of=/dev/null', 'bs=1M', 'status=none'], { timeoutMs: 300_000, signal: ctx.signal });
        diskMiBs = diskMiB / ((nowMs() - t0) / 1000);
      } catch (err) {
        checkAbort(ctx.signal);
        ctx.log(`disk read baseline failed: ${errMsg(err)}`);
      } finally {
        await rm(diskFile, { force: true });
      }
      out.raw.diskReadMiBs = diskMiBs;
      const baseline = { label: `dd read ${diskMiB} MiB, cold`, value: diskMiBs, unit: 'MiB/s' };
      const row = (figure: string, v: number | null, status: Row['status'], note?: string): Row =>
        ({ workload: wl, target, figure, value: v, unit: 'MiB/s', status, baseline, vsBaseline: ratio(v, diskMiBs), ...(note ? { note } : {}) });

      // Scrub (1): re-hash every block of server 1 from disk, one at a time, timed from here.
      const rehash = 'scrub: re-hash all blocks (timed via /verify)';
      try {
        await dropCaches(ctx.log);
        const t0 = nowMs();
        let bytes = 0;
        for (const [hash] of ref) {
          checkAbort(ctx.signal);
          bytes += await clients[0]!.verify(hash);
        }
        const v = bytes / MiB / ((nowMs() - t0) / 1000);
        out.raw.scrubRehashMiBs = v;
        out.rows.push(row(rehash, v, 'ok', `${ref.size} blocks, one request at a time`));
      } catch (err) {
        checkAbort(ctx.signal);
        out.rows.push(row(rehash, null, 'FAIL', errMsg(err)));
      }

      // Scrub (2): one pass of the server's own scrubber, cap lifted, from its log.
      const pass = 'scrub: one scrubber pass, rate cap lifted';
      const ref1: ServerRef = { kind: 'data', index: 1 };
      try {
        const log1 = paths.dataLog(cluster.dir, 1);
        const offset = (await stat(log1)).size;
        try {
          await restartWith(cluster, ref1, ['--scrub-rate-mb-per-s', '100000', '--scrub-interval-ms', '5000']);
        } catch (err) {
          throw new Error(`data server 1 would not start with --scrub-rate-mb-per-s/--scrub-interval-ms: ${errMsg(err)}`);
        }
        await dropCaches(ctx.log); // the first pass starts 5 s after the restart
        const j = await waitLogLine(ctx, log1, offset, 'scrub pass finished', (ctx.quick ? 120 : 600) * 1000);
        out.raw.scrubPassLog = j;
        const mb = Number(j.mb);
        const secs = Number(j.seconds);
        if (!(mb > 0) || !(secs > 0)) throw new Error(`unexpected "scrub pass finished" line: ${JSON.stringify(j).slice(0, 200)}`);
        out.rows.push(row(pass, (mb * MB) / MiB / secs, 'ok', `${String(j.checkedBlocks)} blocks in ${secs} s (the server's own figure; default cap 16 MB/s)`));
      } catch (err) {
        checkAbort(ctx.signal);
        out.rows.push(row(pass, null, /would not start/.test(errMsg(err)) ? 'skipped' : 'FAIL', errMsg(err)));
      } finally {
        // Back to its usual arguments (a scrubber re-reading every 5 s would disturb the rebuild).
        await restartWith(cluster, ref1, []).catch((err: unknown) => ctx.log(`restarting data server 1: ${errMsg(err)}`));
      }

      // Rebuild of a blank data server 2: at the default repair rate cap, then uncapped.
      const rb = 'rebuild blank server';
      if (!probe.available) {
        out.rows.push(row(`${rb} (default cap)`, null, 'skipped', probe.reason));
        out.rows.push(row(`${rb} (--repair-rate-mb-per-s 0)`, null, 'skipped', probe.reason));
        return;
      }
      const runs: Record<string, unknown> = {};
      out.raw.rebuild = runs;
      const cap = (probe.body as HealStatusLike).repair?.rateMbPerS;
      try {
        await rebuild(ctx, cluster, clients, ref, refBytes, (runs.defaultCap = {}) as Record<string, unknown>, (v, st, note) =>
          out.rows.push(row(`${rb} (default cap)`, v, st, [note, cap ? `repair rate cap ${cap} MB/s` : ''].filter(Boolean).join('; '))));
      } catch (err) {
        checkAbort(ctx.signal);
        out.rows.push(row(`${rb} (default cap)`, null, 'FAIL', errMsg(err)));
      }
      const uncapped = `${rb} (--repair-rate-mb-per-s 0)`;
      try {
        try {
          await restartWith(cluster, { kind: 'meta' }, ['--repair-rate-mb-per-s', '0']);
        } catch (err) {
          out.rows.push(row(uncapped, null, 'skipped', `metadata server would not start with --repair-rate-mb-per-s 0: ${errMsg(err)}`));
          await restartWith(cluster, { kind: 'meta' }, []);
          return;
        }
        await sleep(3_000, ctx.signal); // heartbeats: the restarted metadata server learns who is up
        await rebuild(ctx, cluster, clients, ref, refBytes, (runs.uncapped = {}) as Record<string, unknown>, (v, st, note) => out.rows.push(row(uncapped, v, st, note)));
      } catch (err) {
        checkAbort(ctx.signal);
        out.rows.push(row(uncapped, null, 'FAIL', errMsg(err)));
      }
    } finally {
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await cluster.destroy();
    }
  },
};

async function rebuild(
  ctx: Ctx, cluster: QfsCluster, clients: DataClient[], ref: Map<string, number>, refBytes: number, raw: Record<string, unknown>,
  report: (v: number | null, st: Row['status'], note?: string) => void,
): Promise<void> {
  const state = cluster.state();
  const secret = cluster.secret();
  const metaUrl = metaUrlOf(state);
  const ref2: ServerRef = { kind: 'data', index: 2 };
  const limitMs = (ctx.quick ? 5 : 20) * 60_000;
  const noProgressMs = ctx.quick ? 60_000 : 120_000;
  await copyFile(paths.dataLog(cluster.dir, 2), join(ctx.logDir, `healing-data-2-before-wipe-${Date.now()}.log`)).catch(() => undefined);
  await killServer(cluster.dir, ref2);
  const cpuBefore = clusterCpuMs(cluster);
  await rm(paths.dataDir(cluster.dir, 2), { recursive: true, force: true });
  await dropCaches(ctx.log);
  ctx.log('healing: data server 2 killed and wiped; restarting it blank');
  const t0 = nowMs();
  startServer(cluster.dir, state, ref2);
  const samples: Array<{ s: number; blocks: number }> = [];
  const statusSamples: Array<{ s: number; recoveries: unknown }> = [];
  Object.assign(raw, { samples, statusSamples });
  let lastStatus = -Infinity;
  for (;;) {
    checkAbort(ctx.signal);
    const elapsed = nowMs() - t0;
    let have: Map<string, number> | null = null;
    try {
      have = await inventorySet(clients[1]!);
    } catch {
      // still starting
    }
    if (have) {
      let present = 0;
      for (const h of ref.keys()) if (have.has(h)) present++;
      samples.push({ s: Math.round(elapsed) / 1000, blocks: present });
      if (samples.length > 400) samples.splice(100, 1);
      if (present === ref.size) {
        // Equal to the others' inventories (servers 1 and 3), not merely a superset of a snapshot.
        const [i1, i3] = await Promise.all([inventorySet(clients[0]!), inventorySet(clients[2]!)]);
        const same = (a: Map<string, number>) => a.size === have!.size && [...a.keys()].every((h) => have!.has(h));
        if (same(i1) && same(i3)) {
          const secs = (nowMs() - t0) / 1000;
          raw.seconds = secs;
          const cpu = cpuSpent(cpuBefore, clusterCpuMs(cluster), refBytes);
          raw.cpu = cpu;
          const st = await adminStatus(metaUrl, secret);
          const rec = st.available ? (st.body as HealStatusLike).recoveries?.filter((r) => r.server === 2 && r.finishedAtMs !== null).pop() : undefined;
          raw.recovery = rec ?? null;
          const engine = rec && rec.finishedAtMs ? `engine: ${(rec.doneBytes / MiB / ((rec.finishedAtMs - rec.startedAtMs) / 1000)).toFixed(1)} MiB/s from detection` : '';
          report(refBytes / MiB / secs, 'ok', [`${ref.size} blocks in ${secs.toFixed(1)} s from restart`, engine, cpu?.line ?? ''].filter(Boolean).join('; '));
          return;
        }
      }
      if (elapsed > noProgressMs && present === 0) {
        report(null, 'FAIL', `no block arrived on the blank server within ${noProgressMs / 1000} s (is automatic rebuild on?)`);
        return;
      }
      if (elapsed > limitMs) {
        report(null, 'TIMEOUT', `${present}/${ref.size} blocks after ${limitMs / 60_000} min`);
        return;
      }
    } else if (elapsed > 60_000 && runningPid(cluster.dir, ref2) === null) {
      report(null, 'FAIL', 'restarted data server 2 exited');
      return;
    }
    if (elapsed - lastStatus > 2_000) {
      lastStatus = elapsed;
      const st = await adminStatus(metaUrl, secret);
      if (st.available) {
        statusSamples.push({ s: Math.round(elapsed) / 1000, recoveries: (st.body as HealStatusLike).recoveries ?? null });
        if (statusSamples.length > 60) statusSamples.splice(10, 1);
      }
    }
    await sleep(200, ctx.signal);
  }
}

/**
 * CPU the servers spent on a rebuild, per GiB rebuilt. The restarted server counts whole (its
 * startup included, ~0.5 s); every other process counts from the kill on.
 */
function cpuSpent(before: Record<string, number | null>, after: Record<string, number | null>, bytes: number): { byProcess: Record<string, number>; line: string } | null {
  const byProcess: Record<string, number> = {};
  for (const [name, end] of Object.entries(after)) {
    if (end === null) return null;
    const start = name === 'data-2' ? 0 : before[name];
    if (start === null || start === undefined) return null;
    byProcess[name] = end - start;
  }
  const gib = bytes / (1024 * MiB);
  const per = (ms: number) => (ms / 1000 / gib).toFixed(1);
  const total = Object.values(byProcess).reduce((a, b) => a + b, 0);
  const sources = Object.entries(byProcess).filter(([n]) => n !== 'meta' && n !== 'data-2').reduce((a, [, v]) => a + v, 0);
  return {
    byProcess,
    line: `CPU ${per(total)} s per GiB rebuilt (target ${per(byProcess['data-2']!)}, sources ${per(sources)}, metadata ${per(byProcess.meta!)})`,
  };
}
