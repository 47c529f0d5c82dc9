// (a) put and get of one large file through the CLI, each beside `cp` + fsync of the same file
// between two local directories on the same disk, measured just before, in the same run.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { QfsCluster, DEFAULT_SPEC, specLabel, type ClusterSpec } from '../lib/cluster.js';
import { runOk } from '../lib/proc.js';
import type { Ctx, Workload, WorkloadResult } from '../lib/types.js';
import { MiB, dropCaches, errMsg, makeRandomFile, nowMs, ratio, sha256File, checkAbort } from '../lib/util.js';

const CONFIGS: ClusterSpec[] = [DEFAULT_SPEC, { replicas: 3, writeQuorum: 3, readQuorum: 1 }];

export const putget: Workload = {
  name: 'putget',
  title: 'put/get via CLI',
  timeoutMs: (quick) => (quick ? 15 : 45) * 60_000,
  async run(ctx: Ctx, out: WorkloadResult) {
    const sizeMiB = ctx.quick ? 64 : 256;
    const bytes = sizeMiB * MiB;
    const title = `put/get ${sizeMiB} MiB (CLI)`;
    const work = join(ctx.scratch, 'putget');
    await mkdir(join(work, 'a'), { recursive: true });
    await mkdir(join(work, 'b'), { recursive: true });
    const src = join(work, 'a', 'big.bin');
    try {
      await makeRandomFile(src, bytes);
      const srcSha = await sha256File(src);
      out.raw.fileBytes = bytes;
      const raw: Record<string, unknown>[] = [];
      out.raw.configs = raw;

      for (const spec of CONFIGS) {
        checkAbort(ctx.signal);
        const target = `QuorumFS ${specLabel(spec)}`;
        // Baseline, right before this config: cp between two local dirs, then fsync the copy;
        // the median of three (one copy of a file this size is short and noisy).
        let cpMiBs: number | null = null;
        const dst = join(work, 'b', 'big.bin');
        try {
          const rates: number[] = [];
          for (let i = 0; i < 3; i++) {
            await rm(dst, { force: true });
            await dropCaches(ctx.log);
            const t0 = nowMs();
            await runOk('bash', ['-c', 'cp -- "$1" "$2" && sync -- "$2"', 'cp', src, dst], { timeoutMs: 300_000, signal: ctx.signal });
            rates.push(sizeMiB / ((nowMs() - t0) / 1000));
          }
          await rm(dst, { force: true });
          cpMiBs = rates.sort((a, b) => a - b)[1]!;
        } catch (err) {
          checkAbort(ctx.signal);
          ctx.log(`cp baseline failed: ${errMsg(err)}`);
        }
        const baseline = { label: 'local cp + fsync, median of 3', value: cpMiBs, unit: 'MiB/s' };
        const rec: Record<string, unknown> = { config: spec, cpMiBs };
        raw.push(rec);

        let cluster: QfsCluster | null = null;
        try {
          cluster = await QfsCluster.up(ctx, `putget-n${spec.replicas}`, spec);
          for (const op of ['put', 'get'] as const) {
            checkAbort(ctx.signal);
            try {
              await dropCaches(ctx.log);
              const t0 = nowMs();
              if (op === 'put') await cluster.cli(['put', src, '/big.bin', '--dir', cluster.dir], 20 * 60_000);
              else await cluster.cli(['get', '/big.bin', dst, '--dir', cluster.dir], 20 * 60_000);
              const secs = (nowMs() - t0) / 1000;
              if (op === 'get') {
                const got = await sha256File(dst);
                await rm(dst, { force: true });
                if (got !== srcSha) throw new Error('get returned different bytes than were put');
              }
              const v = sizeMiB / secs;
              rec[`${op}MiBs`] = v;
              rec[`${op}Seconds`] = secs;
              out.rows.push({ workload: title, target, figure: op, value: v, unit: 'MiB/s', status: 'ok', baseline, vsBaseline: ratio(v, cpMiBs) });
            } catch (err) {
              checkAbort(ctx.signal);
              out.rows.push({ workload: title, target, figure: op, value: null, unit: 'MiB/s', status: 'FAIL', baseline, note: errMsg(err) });
              if (op === 'put') {
                out.rows.push({ workload: title, target, figure: 'get', value: null, unit: 'MiB/s', status: 'skipped', baseline, note: 'put failed' });
                break;
              }
            }
          }
        } catch (err) {
          checkAbort(ctx.signal);
          for (const op of ['put', 'get']) out.rows.push({ workload: title, target, figure: op, value: null, unit: 'MiB/s', status: 'FAIL', baseline, note: errMsg(err) });
        } finally {
          await cluster?.destroy();
        }
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
};
