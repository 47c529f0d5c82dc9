// A Map whose deletions leave the key in place, holding nothing, until the holes are swept.
//
// Why: V8's Map keeps a deleted entry in its key's hash chain until the whole table is rebuilt, and
// it rebuilds the table only once it is full. A cache that drops a busy key and sets it again after
// every change (a directory's attributes, after each create or unlink in it) lengthens that key's
// chain by one every time: in a cache of 100,000 entries each lookup of the directory walked tens
// of thousands of dead entries. Here such a key is overwritten where it is, and the holes of keys
// that do not come back are swept once they outnumber the live entries (amortized O(1) a delete).

/** Holes are never swept below this many: a small map's sweeps would cost more than its holes. */
const MIN_SWEEP = 1024;

export class HoleyMap<K, V> {
  private readonly map = new Map<K, V | undefined>();
  private live = 0;
  private holes = 0;

  /** Live entries (holes not counted). */
  get size(): number {
    return this.live;
  }

  /** Keys deleted and not yet swept or set again (tests read it). */
  get holeCount(): number {
    return this.holes;
  }

  get(key: K): V | undefined {
    return this.map.get(key);
  }

  has(key: K): boolean {
    return this.map.get(key) !== undefined;
  }

  set(key: K, value: V): this {
    if (this.map.get(key) === undefined) {
      if (this.map.has(key)) this.holes--;
      this.live++;
    }
    this.map.set(key, value);
    return this;
  }

  delete(key: K): boolean {
    if (this.map.get(key) === undefined) return false;
    this.map.set(key, undefined);
    this.live--;
    this.holes++;
    if (this.holes > Math.max(MIN_SWEEP, this.live)) this.sweep();
    return true;
  }

  clear(): void {
    this.map.clear();
    this.live = 0;
    this.holes = 0;
  }

  private sweep(): void {
    for (const [key, value] of this.map) if (value === undefined) this.map.delete(key);
    this.holes = 0;
  }
}
