// A directory's cached names for the metadata cache: the set, the server's order for readdir, and
// "the names after this one" for the read-ahead across a directory's files.

/**
 * A directory's names, in the server's order (by name, bytewise in UTF-8) when read; names this
 * client added since are sorted in when the listing is next read.
 */
export class Listing {
  private names: Set<string>;
  private sorted = true;
  /**
   * after()'s view of the order: `base`, sorted as of its last build (names removed since are
   * skipped), and `added`, the names added since, kept sorted. Changes go into these rather than
   * dropping them, and base is rebuilt only once the changes amount to an eighth of it, so read
   * opens between creates in a directory of 100,000 names cost O(log n), amortized, not a sort.
   */
  private base: string[] | null = null;
  private added: string[] = [];
  private changes = 0;

  constructor(names: string[]) {
    this.names = new Set(names);
  }

  get size(): number {
    return this.names.size;
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  with(name: string): Listing {
    if (this.names.has(name)) return this;
    this.names.add(name);
    this.sorted = false;
    if (this.base) {
      this.changes++;
      // A name removed and added again may still be in either list; it must not appear twice.
      if (!sortedHas(this.base, name) && !sortedHas(this.added, name)) this.added.splice(upperBound(this.added, name), 0, name);
    }
    return this;
  }

  without(name: string): Listing {
    if (this.names.delete(name) && this.base) this.changes++;
    return this;
  }

  ordered(): Iterable<string> {
    if (!this.sorted) {
      this.names = new Set([...this.names].sort(compareUtf8));
      this.sorted = true;
    }
    return this.names;
  }

  /** Up to `count` names after `name` in order (none if it is not listed). */
  after(name: string, count: number): string[] {
    if (!this.names.has(name)) return [];
    if (!this.base || this.changes > Math.max(64, this.base.length / 8)) {
      this.base = [...this.ordered()];
      this.added = [];
      this.changes = 0;
    }
    const { base, added } = this;
    const out: string[] = [];
    let i = upperBound(base, name);
    let j = upperBound(added, name);
    // Removed names are skipped: at most `changes` of them, since base was sorted.
    while (out.length < count) {
      const a = base[i];
      const b = added[j];
      if (a === undefined && b === undefined) break;
      const next = b === undefined || (a !== undefined && compareUtf8(a, b) < 0) ? base[i++]! : added[j++]!;
      if (this.names.has(next)) out.push(next);
    }
    return out;
  }
}

/** The index of the first name in `sorted` that comes after `name`. */
function upperBound(sorted: string[], name: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareUtf8(sorted[mid]!, name) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function sortedHas(sorted: string[], name: string): boolean {
  const at = upperBound(sorted, name) - 1;
  return at >= 0 && sorted[at] === name;
}

const SURROGATE_RE = /[\uD800-\uDFFF]/;

/** SQLite's BINARY order of TEXT: UTF-8 bytes, i.e. code points (UTF-16 units differ above U+FFFF). */
function compareUtf8(a: string, b: string): number {
  if (SURROGATE_RE.test(a) || SURROGATE_RE.test(b)) return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return a < b ? -1 : a > b ? 1 : 0;
}
