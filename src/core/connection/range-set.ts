/**
 * A set of integers kept as sorted, disjoint, non-adjacent half-open ranges.
 * The receiver uses it for segments received above the cumulative ACK (the
 * SACK blocks it reports); operations are O(ranges).
 */

/** Sorted disjoint [start, end) ranges of unwrapped sequence numbers. */
export class RangeSet {
  /** Flat [start0, end0, start1, end1, …], ascending. */
  readonly #r: number[] = [];

  /** Number of ranges. */
  get count(): number {
    return this.#r.length / 2;
  }
  /** Start of range i. */
  start(i: number): number {
    return this.#r[2 * i];
  }
  /** End (exclusive) of range i. */
  end(i: number): number {
    return this.#r[2 * i + 1];
  }

  /** True when `v` is in the set. */
  has(v: number): boolean {
    const r = this.#r;
    for (let i = 0; i < r.length; i += 2) {
      if (v < r[i]) return false;
      if (v < r[i + 1]) return true;
    }
    return false;
  }

  /** Adds [start, end); returns false if it was entirely present already. */
  add(start: number, end: number): boolean {
    if (end <= start) return false;
    const r = this.#r;
    let i = 0;
    while (i < r.length && r[i + 1] < start) i += 2;
    if (i < r.length && r[i] <= start && r[i + 1] >= end) return false;
    let j = i;
    let newStart = start;
    let newEnd = end;
    while (j < r.length && r[j] <= end) {
      if (r[j] < newStart) newStart = r[j];
      if (r[j + 1] > newEnd) newEnd = r[j + 1];
      j += 2;
    }
    r.splice(i, j - i, newStart, newEnd);
    return true;
  }

  /** Removes everything below `v`. */
  removeBelow(v: number): void {
    const r = this.#r;
    let i = 0;
    while (i < r.length && r[i + 1] <= v) i += 2;
    if (i > 0) r.splice(0, i);
    if (r.length > 0 && r[0] < v) r[0] = v;
  }

  /** Removes every range. */
  clear(): void {
    this.#r.length = 0;
  }
}
