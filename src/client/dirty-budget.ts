/**
 * Memory for dirty blocks (written, not yet uploaded), shared by every open file of one client.
 * A file over the budget uploads its own oldest dirty block before its write returns. Shared rather
 * than per file so that a random writer can keep its whole working set (fio's 128 MiB file) dirty
 * instead of re-uploading a full block for every 4 KiB write, while many writers stay bounded.
 */
export class DirtyBudget {
  private used = 0;

  constructor(readonly limitBytes: number) {}

  take(bytes: number): void {
    this.used += bytes;
  }

  give(bytes: number): void {
    this.used -= bytes;
  }

  get over(): boolean {
    return this.used > this.limitBytes;
  }
}
