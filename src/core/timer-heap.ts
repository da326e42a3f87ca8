/**
 * An indexed binary min-heap of deadlines, one per item: the endpoint keeps
 * each connection's next deadline here so the driver needs a single timer.
 * schedule/remove/popDue are O(log n); peekTime is O(1).
 */

import { type Instant, NEVER } from "./time.js";

/** Items keyed by their next deadline. */
export class TimerHeap<T> {
  readonly #items: T[] = [];
  readonly #times: Instant[] = [];
  readonly #pos = new Map<T, number>();

  /** Number of scheduled items. */
  get size(): number {
    return this.#items.length;
  }

  /** Sets (or moves) `item`'s deadline; NEVER removes it. */
  schedule(item: T, time: Instant): void {
    if (time === NEVER) {
      this.remove(item);
      return;
    }
    const i = this.#pos.get(item);
    if (i === undefined) {
      this.#items.push(item);
      this.#times.push(time);
      this.#pos.set(item, this.#items.length - 1);
      this.#up(this.#items.length - 1);
    } else if (this.#times[i] !== time) {
      const old = this.#times[i];
      this.#times[i] = time;
      if (time < old) this.#up(i);
      else this.#down(i);
    }
  }

  /** Removes `item` if scheduled. */
  remove(item: T): void {
    const i = this.#pos.get(item);
    if (i === undefined) return;
    this.#pos.delete(item);
    const last = this.#items.length - 1;
    const lastItem = this.#items.pop() as T;
    const lastTime = this.#times.pop() as Instant;
    if (i === last) return;
    this.#items[i] = lastItem;
    this.#times[i] = lastTime;
    this.#pos.set(lastItem, i);
    this.#up(i);
    this.#down(i);
  }

  /** The earliest deadline, or NEVER. */
  peekTime(): Instant {
    return this.#items.length > 0 ? this.#times[0] : NEVER;
  }

  /** Removes and returns an item whose deadline is at or before `now`, if any. */
  popDue(now: Instant): T | undefined {
    if (this.#items.length === 0 || this.#times[0] > now) return undefined;
    const item = this.#items[0];
    this.remove(item);
    return item;
  }

  #up(i: number): void {
    const times = this.#times;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (times[parent] <= times[i]) break;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#items.length;
    const times = this.#times;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && times[l] < times[m]) m = l;
      if (r < n && times[r] < times[m]) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }

  #swap(a: number, b: number): void {
    const items = this.#items;
    const times = this.#times;
    const ia = items[a];
    const ib = items[b];
    items[a] = ib;
    items[b] = ia;
    const t = times[a];
    times[a] = times[b];
    times[b] = t;
    this.#pos.set(ib, a);
    this.#pos.set(ia, b);
  }
}
