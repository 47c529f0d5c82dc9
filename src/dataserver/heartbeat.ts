// Tells the metadata server, once a second, that this server is alive, who it is (its identity, so
// a blank restart is recognised) and how full it is. Failures are logged on change only: a
// metadata server that is down for a minute should cost one log line, not sixty.
import { statfs } from 'node:fs/promises';
import type { Logger } from '../common/log.js';
import type { Heartbeat } from '../common/protocol.js';
import type { BlockStore } from './block-store.js';
import { errText, type MetaLink } from './meta-link.js';
import type { Scrubber } from './scrubber.js';

export const HEARTBEAT_INTERVAL_MS = 1_000;

export interface HeartbeatOptions {
  link: MetaLink;
  store: BlockStore;
  dir: string;
  index: number;
  id: string;
  /** This server's own base URL, as peers and clients reach it. */
  url: string;
  scrubber: Scrubber | null;
  logger: Logger;
}

export class HeartbeatLoop {
  private timer: NodeJS.Timeout | null = null;
  private failing = false;
  private stopped = false;

  constructor(private readonly o: HeartbeatOptions) {}

  start(): void {
    void this.beat();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async beat(): Promise<void> {
    const started = Date.now();
    try {
      await this.o.link.heartbeat(await this.build());
      if (this.failing) this.o.logger.info({ meta: this.o.link.metaUrl }, 'metadata server reachable again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.o.logger.warn({ meta: this.o.link.metaUrl, err: errText(err) }, 'heartbeat failed; retrying every second');
      this.failing = true;
    }
    if (this.stopped) return;
    // Fixed rate, not fixed delay: a slow answer does not stretch the interval the meta server sees.
    this.timer = setTimeout(() => void this.beat(), Math.max(0, HEARTBEAT_INTERVAL_MS - (Date.now() - started)));
    this.timer.unref();
  }

  private async build(): Promise<Heartbeat> {
    const [stats, fsStats] = await Promise.all([this.o.store.stats(), statfs(this.o.dir)]);
    return {
      index: this.o.index,
      id: this.o.id,
      url: this.o.url,
      blocks: stats.blocks,
      bytes: stats.bytes,
      diskFreeBytes: fsStats.bsize * fsStats.bavail,
      diskTotalBytes: fsStats.bsize * fsStats.blocks,
      ...(this.o.scrubber ? { scrub: this.o.scrubber.progress() } : {}),
    };
  }
}
