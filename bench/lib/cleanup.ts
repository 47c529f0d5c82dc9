// Every resource the benchmark creates (cluster, mount, peer, scratch dir) registers how to undo
// itself here. Workloads undo their own in finally blocks; whatever is still registered when the
// run ends (a workload stuck past its grace time, Ctrl-C) is undone by runAll(), newest first.

export interface Cleanup {
  readonly name: string;
  /** Runs the undo once; later calls wait for the first. Never throws (failures are logged). */
  run(): Promise<void>;
}

type Logger = (msg: string) => void;

export class Cleanups {
  private readonly items = new Map<number, { name: string; run: () => Promise<void> }>();
  private next = 1;

  constructor(private readonly log: Logger) {}

  add(name: string, fn: () => Promise<void>): Cleanup {
    const id = this.next++;
    let running: Promise<void> | null = null;
    const log = this.log;
    const run = (): Promise<void> => {
      if (!running) {
        running = (async () => {
          try {
            await fn();
          } catch (err) {
            log(`cleanup "${name}" failed: ${err instanceof Error ? err.message : String(err)}`);
          } finally {
            this.items.delete(id);
          }
        })();
      }
      return running;
    };
    this.items.set(id, { name, run });
    return { name, run };
  }

  pending(): string[] {
    return [...this.items.values()].map((i) => i.name);
  }

  async runAll(): Promise<void> {
    const ids = [...this.items.keys()].sort((a, b) => b - a);
    for (const id of ids) {
      const it = this.items.get(id);
      if (!it) continue;
      this.log(`cleaning up: ${it.name}`);
      await it.run();
    }
  }
}
