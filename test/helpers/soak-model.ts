// The soak test's model of what the file system must contain: the last acknowledged contents of
// every path, the changes in progress (the fault injector waits for writes that began while a
// server was away), and per-path locks so that a read never overlaps a change of the same path.

/** mulberry32: small, fast and the same everywhere, so a seed replays the same operations. */
export function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
    u32: () => Math.floor(next() * 4294967296) >>> 0,
    bytes: (n: number) => {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = (next() * 256) | 0;
      return b;
    },
  };
}

export type Prng = ReturnType<typeof prng>;

/** len bytes determined by seed; fast enough for megabytes (one xorshift word per 4 bytes). */
export function content(seed: number, len: number): Buffer {
  const words = new Uint32Array(Math.ceil(len / 4));
  let x = (seed >>> 0) || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x >>> 0;
  }
  return Buffer.from(words.buffer, 0, len);
}

/** null: the path does not exist. */
export type Contents = Buffer | null;

/** Earlier contents kept per path, to tell a stale read from garbage in a failure message. */
const KEEP_VERSIONS = 4;

export class Model {
  private readonly versions = new Map<string, Contents[]>();
  private readonly locks = new Map<string, Promise<void>>();
  private readonly inFlight = new Map<number, number>();
  private nextOp = 0;

  /** The last acknowledged contents (null: absent or never written). */
  current(path: string): Contents {
    const vs = this.versions.get(path);
    return vs ? vs[vs.length - 1]! : null;
  }

  /** Paths that exist now. */
  existing(): string[] {
    return [...this.versions.keys()].filter((p) => this.current(p) !== null).sort();
  }

  /**
   * Runs a change of `changes`' paths under their locks, and records the new contents once it
   * succeeded (an acknowledged change). A failed change leaves the model as it was; the caller fails.
   */
  async change(changes: Array<[string, Contents]>, act: () => Promise<unknown>): Promise<void> {
    await this.locked(changes.map(([p]) => p), async () => {
      const op = this.nextOp++;
      this.inFlight.set(op, Date.now());
      try {
        await act();
      } finally {
        this.inFlight.delete(op);
      }
      for (const [path, data] of changes) {
        const vs = this.versions.get(path) ?? [];
        vs.push(data);
        if (vs.length > KEEP_VERSIONS) vs.shift();
        this.versions.set(path, vs);
      }
    });
  }

  /** Runs a read of path while no change of it runs; `check` sees the contents it must match. */
  read<T>(path: string, act: (expected: Contents) => Promise<T>): Promise<T> {
    return this.locked([path], () => act(this.current(path)));
  }

  /** Start time of the oldest change still running, or null. */
  oldestInFlightMs(): number | null {
    let oldest: number | null = null;
    for (const t of this.inFlight.values()) oldest = oldest === null ? t : Math.min(oldest, t);
    return oldest;
  }

  /** How bytes that differ from the expected contents relate to the path's recent versions. */
  explain(path: string, got: Buffer): string {
    const vs = this.versions.get(path) ?? [];
    return vs.map((v, i) => {
      const age = vs.length - 1 - i;
      const name = age === 0 ? 'current' : `${age} back`;
      if (v === null) return `${name}: absent`;
      const n = Math.min(v.length, got.length);
      let same = 0;
      while (same < n && v[same] === got[same]) same++;
      const pieces: string[] = [];
      for (let off = 0; off < got.length; off += 65536) {
        const a = got.subarray(off, off + 65536);
        pieces.push(v.length > off && v.subarray(off, off + a.length).equals(a) ? '=' : 'x');
      }
      return `${name}: ${v.length} bytes, same first ${same} bytes, 64 KiB pieces ${pieces.join('') || '-'}`;
    }).join('; ');
  }

  /** Holds the locks of all paths (taken in sorted order, so two holders cannot deadlock). */
  private async locked<T>(paths: string[], fn: () => Promise<T>): Promise<T> {
    const sorted = [...new Set(paths)].sort();
    const step = async (i: number): Promise<T> => {
      if (i === sorted.length) return fn();
      const key = sorted[i]!;
      const prev = this.locks.get(key) ?? Promise.resolve();
      let release!: () => void;
      const mine = new Promise<void>((r) => { release = r; });
      const tail = prev.then(() => mine);
      this.locks.set(key, tail);
      await prev;
      try {
        return await step(i + 1);
      } finally {
        release();
        if (this.locks.get(key) === tail) this.locks.delete(key);
      }
    };
    return step(0);
  }
}
