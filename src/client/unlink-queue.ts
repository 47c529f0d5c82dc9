// Unlinks answered before the metadata server has them. A mount's `rm -rf` otherwise waits a full
// round trip per file, and that trip (HTTP, a transaction, the change feed) costs several times
// what the unlink itself does. The queue sends them in batches (unlinkMany, one transaction), one
// batch on the wire and the next one filling meanwhile, as a group commit does.
//
// Only a client holding the server's unlink delegation answers unlinks early (src/meta/change-feed.ts):
// it has one only while no other client holds a lease, and any other client's request first recalls
// it and waits for the queue to be delivered. Its owner holds every call of its own until idle()
// (CachingMeta does). So nobody, here or elsewhere, sees the namespace without an unlink that was
// answered. A batch whose answer is lost is sent again while the delegation holds; each entry names
// the inode it removes when that is known, so a repeat finds ENOENT rather than a file that took the
// name since. An unlink that cannot be delivered (the server gone, the delegation lapsed) is not made
// at all: the file stays, the mount logs it, and the next sync() (fsync of a directory) fails with
// EIO, as a failed write-back is reported by the next fsync.
import type { Logger } from '../common/log.js';
import { FsError } from '../common/errors.js';
import { MAX_UNLINK_BATCH, type UnlinkEntry, type UnlinkManyResult } from '../meta/api.js';

export interface UnlinkQueueOptions {
  send(entries: UnlinkEntry[]): Promise<UnlinkManyResult>;
  /** Whether the unlink delegation still holds: a batch is only sent (and sent again) while it does. */
  mayDeliver(): boolean;
  /** After each batch: answered by the server (delivered), or given up without an answer. */
  settled?(entries: UnlinkEntry[], delivered: boolean): void;
  /** How long a batch is sent again while the server cannot be reached (EIO), before it is given up. */
  giveUpMs: number;
  retryMs: number;
  logger?: Logger;
}

export class UnlinkQueue {
  private queue: UnlinkEntry[] = [];
  private running: Promise<void> | null = null;
  private failure: FsError | null = null;

  constructor(private readonly opts: UnlinkQueueOptions) {}

  /** True while an unlink is queued or on the wire. */
  get busy(): boolean {
    return this.running !== null;
  }

  add(entry: UnlinkEntry): void {
    this.queue.push(entry);
    this.running ??= this.drain();
  }

  /** Resolves once every unlink added so far has been answered or given up on; never rejects. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** The first unlink given up on since the last call, then forgotten (reported once, as fsync does). */
  takeFailure(): FsError | null {
    const f = this.failure;
    this.failure = null;
    return f;
  }

  private async drain(): Promise<void> {
    try {
      // One turn of the event loop first, so unlinks answered meanwhile share the first batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, MAX_UNLINK_BATCH);
        this.opts.settled?.(batch, await this.deliver(batch));
      }
    } finally {
      this.running = null;
    }
  }

  /** True when the server answered the batch (each entry made, or refused on its own). */
  private async deliver(batch: UnlinkEntry[]): Promise<boolean> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      if (!this.opts.mayDeliver()) {
        for (const entry of batch) this.fail(entry, 'ESTALE', 'the unlink delegation lapsed before it could be delivered (metadata server unreachable or restarted)');
        return false;
      }
      let result: UnlinkManyResult;
      try {
        result = await this.opts.send(batch);
      } catch (err) {
        const e = err instanceof FsError ? err : new FsError('EIO', String(err));
        if (e.code === 'EIO' && Date.now() - started < this.opts.giveUpMs) {
          if (attempt === 1) this.opts.logger?.warn({ files: batch.length, err: e.message }, 'unlinks not delivered yet; sending again');
          await new Promise((resolve) => setTimeout(resolve, this.opts.retryMs));
          continue;
        }
        for (const entry of batch) this.fail(entry, e.code, e.message);
        return false;
      }
      // ENOENT: gone already, by another client or by this batch's earlier try whose answer was lost.
      for (const f of result.failed) if (f.code !== 'ENOENT') this.fail(batch[f.index]!, f.code, f.message);
      return true;
    }
  }

  private fail(entry: UnlinkEntry, code: FsError['code'], message: string): void {
    this.opts.logger?.error({ path: entry.path, code, err: message }, 'an unlink already answered could not be made; the file is still there');
    this.failure ??= new FsError('EIO', `unlink of ${entry.path} was answered but could not be made (${code}: ${message})`);
  }
}
