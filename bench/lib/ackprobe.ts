// Does a file system return from close() or fsync() before its servers' disks have the data?
// Documentation and config defaults say what should happen; this measures what does. strace follows
// the fsync-family syscalls of the server processes (chunkservers, bricks, data servers) on their
// data files while one client process, through the mount, writes a new 64 KiB file and closes it
// (case "close"), then writes another, fsyncs it and closes it (case "fsync"). strace -ttt and
// perl's Time::HiRes both read CLOCK_REALTIME, so a server fsync that ended before the client's
// call returned was waited for; one that started after it returned was not.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, sleep, spawnTracked, stopChild } from './proc.js';
import type { Ctx } from './types.js';
import { rmrf } from './util.js';

export interface ProbeServers {
  /** Server processes to follow (every thread: strace -f). */
  pids: number[];
  /** Only syncs of files under this path count (a server also fsyncs its own logs and state). */
  dataPrefix: string;
  /** How the report names one of them, e.g. "chunkserver". */
  noun: string;
}

export interface ProbeCase {
  op: 'close' | 'fsync';
  /** When the client's close() (case close) or fsync() (case fsync) returned, epoch seconds. */
  returnedAt: number;
  /** Server syncs of data files from the client's open() until SETTLE_S after its call returned. */
  calls: number;
  /** Of those, how many had finished when the client's call returned. */
  doneBefore: number;
  firstStartAfterMs: number | null;
  lastEndAfterMs: number | null;
}

export interface AckProbe {
  noun: string;
  servers: number;
  cases: ProbeCase[];
}

/** Long enough for MooseFS's chunk close after the write session (tens of ms when measured). */
const SETTLE_S = 2;
const SYNC_CALLS = ['fsync', 'fdatasync', 'sync_file_range', 'syncfs'];

// Random data: MooseFS skips writing zero blocks (HDD_SPARSIFY_ON_WRITE), which would hide the write.
const CLIENT_PL = `
use strict; use warnings; use Time::HiRes qw(time sleep); use IO::Handle;
my ($dir, $settle) = @ARGV;
open(my $r, "<", "/dev/urandom") or die "urandom: $!"; my $buf; read($r, $buf, 65536) == 65536 or die "urandom short"; close $r;
for my $op ("close", "fsync") {
  my $t0 = time;
  open(my $fh, ">", "$dir/$op.bin") or die "open: $!"; binmode $fh;
  syswrite($fh, $buf) == 65536 or die "write: $!";
  my $t1 = time;
  if ($op eq "fsync") { $fh->sync or die "fsync: $!"; }
  my $t2 = time;
  close($fh) or die "close: $!";
  my $t3 = time;
  printf "%s %.6f %.6f %.6f %.6f\\n", $op, $t0, $t1, $t2, $t3;
  sleep $settle;
}`;

export function straceAvailable(): boolean {
  return spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;
}

interface SyncCall {
  start: number;
  end: number | null;
}

/**
 * Sync calls on files under prefix from `strace -f -ttt -T -y` output. Lines start with the thread
 * id when strace follows more than one; a call another thread interrupts is split into
 * "<unfinished ...>" and "<... resumed>" lines of the same thread.
 */
export function parseStrace(text: string, prefix: string): SyncCall[] {
  const calls: SyncCall[] = [];
  const open = new Map<string, { start: number; counted: boolean }>();
  const names = SYNC_CALLS.join('|');
  const whole = new RegExp(`^(?:(\\d+)\\s+)?(\\d+\\.\\d+)\\s+(?:${names})\\(\\d+<([^>]*)>.*?(<unfinished \\.\\.\\.>|<(\\d+\\.\\d+)>)$`);
  const resumed = new RegExp(`^(?:(\\d+)\\s+)?(\\d+\\.\\d+)\\s+<\\.\\.\\. (?:${names}) resumed>.*<(\\d+\\.\\d+)>$`);
  for (const line of text.split('\n')) {
    let m = whole.exec(line);
    if (m) {
      const [, pid, ts, path, tail, dur] = m;
      const start = Number(ts);
      if (tail!.startsWith('<unfinished')) open.set(pid ?? '', { start, counted: path!.startsWith(prefix) });
      else if (path!.startsWith(prefix)) calls.push({ start, end: start + Number(dur) });
      continue;
    }
    m = resumed.exec(line);
    if (m) {
      const [, pid, , dur] = m;
      const o = open.get(pid ?? '');
      open.delete(pid ?? '');
      if (o?.counted) calls.push({ start: o.start, end: o.start + Number(dur) });
    }
  }
  for (const o of open.values()) if (o.counted) calls.push({ start: o.start, end: null });
  return calls;
}

/**
 * Runs the probe on a mounted file system. Throws if strace cannot attach or the client fails;
 * the servers are detached again before it returns.
 */
export async function ackProbe(ctx: Ctx, mountDir: string, servers: ProbeServers, key: string): Promise<AckProbe> {
  if (servers.pids.length === 0) throw new Error(`no ${servers.noun} process to follow`);
  // Kept with the run's logs: the raw evidence behind the two report rows.
  const traceFile = join(ctx.logDir, `ackprobe-${key}.strace.log`);
  const workDir = await mkdtemp(join(mountDir, '.ackprobe-'));
  const tracer = spawnTracked('strace', [
    '-f', '-ttt', '-T', '-y', '-e', `trace=${SYNC_CALLS.join(',')}`, '-o', traceFile,
    ...servers.pids.flatMap((p) => ['-p', String(p)]),
  ]);
  let stderr = '';
  tracer.stderr!.on('data', (d: Buffer) => { stderr += d.toString('utf8'); });
  tracer.stdout!.resume();
  try {
    for (let i = 0; (stderr.match(/ attached/g) ?? []).length < servers.pids.length; i++) {
      if (tracer.exitCode !== null || i >= 100) throw new Error(`strace did not attach to ${servers.noun} pids ${servers.pids.join(',')}: ${stderr.trim().split('\n').pop() ?? ''}`);
      await sleep(100, ctx.signal);
    }
    const r = await run('perl', ['-e', CLIENT_PL, workDir, String(SETTLE_S)], {
      timeoutMs: 120_000, signal: ctx.signal, logFile: join(ctx.logDir, `ackprobe-${key}.log`),
    });
    if (r.code !== 0 || r.timedOut) throw new Error(`probe client failed: ${r.timedOut ? 'timed out' : r.stderr.trim().split('\n').pop()}`);
    await stopChild(tracer, 10_000);
    const calls = existsSync(traceFile) ? parseStrace(await readFile(traceFile, 'utf8'), servers.dataPrefix) : [];
    const times = r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/));
    const cases: ProbeCase[] = times.map((t, i) => {
      const op = t[0] === 'fsync' ? 'fsync' : 'close';
      const openedAt = Number(t[1]);
      const returnedAt = op === 'fsync' ? Number(t[3]) : Number(t[4]);
      const until = i + 1 < times.length ? Number(times[i + 1]![1]) : returnedAt + SETTLE_S;
      const mine = calls.filter((c) => c.start >= openedAt && c.start < until);
      const ms = (s: number) => Math.round((s - returnedAt) * 10_000) / 10;
      const ends = mine.map((c) => c.end).filter((e): e is number => e !== null);
      return {
        op,
        returnedAt,
        calls: mine.length,
        doneBefore: mine.filter((c) => c.end !== null && c.end <= returnedAt).length,
        firstStartAfterMs: mine.length ? ms(Math.min(...mine.map((c) => c.start))) : null,
        lastEndAfterMs: ends.length ? ms(Math.max(...ends)) : null,
      };
    });
    return { noun: servers.noun, servers: servers.pids.length, cases };
  } finally {
    await stopChild(tracer, 10_000);
    await rmrf(workDir).catch(() => undefined);
  }
}

/** The result in a few words, e.g. "0 of 3 chunkserver fsyncs done before it returned". */
export function summarizeCase(c: ProbeCase, noun: string): string {
  return c.calls === 0 ? `no ${noun} fsync within ${SETTLE_S} s` : `${c.doneBefore} of ${c.calls} ${noun} fsyncs done before it returned`;
}

/** The timing behind it, relative to the moment the client's call returned. */
export function describeCase(c: ProbeCase, noun: string): string {
  if (c.calls === 0) return `no fsync by a ${noun} in its data dir from open() until ${SETTLE_S} s after ${c.op}() returned`;
  const when = (ms: number | null) => (ms === null ? '?' : `${ms >= 0 ? '+' : ''}${ms} ms`);
  return `${c.calls} fsync calls by the ${noun}s in their data dirs; first began ${when(c.firstStartAfterMs)}, last ended ${when(c.lastEndAfterMs)} relative to ${c.op}() returning`;
}
