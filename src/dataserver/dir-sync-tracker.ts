import { fsyncPath } from './fs-util.js';

interface DirState {
  /** Bumped after every completed change of the directory's entries (rename in, mkdir below). */
  changed: number;
  /** The `changed` value that the last completed fsync is known to cover. */
  synced: number;
}

/**
 * Knows which directories have entries that may not be durable yet, so a sync fsyncs a fan-out
 * directory only when something was renamed or created in it since its last fsync. Directories never
 * seen by this process count as dirty once: a previous process may have crashed before syncing them.
 * A change must be marked after it completes; marking it before it starts as well is harmless (one
 * extra fsync at most) and closes the gap until the marking code runs.
 */
export class DirSyncTracker {
  private readonly dirs = new Map<string, DirState>();

  markChanged(dir: string): void {
    this.state(dir).changed++;
  }

  needsSync(dir: string): boolean {
    const s = this.dirs.get(dir);
    return s === undefined || s.synced !== s.changed;
  }

  async sync(dir: string): Promise<void> {
    const s = this.state(dir);
    // Captured before the fsync starts: every change counted so far completed before it, so it is covered.
    const covered = s.changed;
    await fsyncPath(dir);
    s.synced = Math.max(s.synced, covered);
  }

  private state(dir: string): DirState {
    let s = this.dirs.get(dir);
    if (!s) {
      s = { changed: 0, synced: -1 };
      this.dirs.set(dir, s);
    }
    return s;
  }
}
