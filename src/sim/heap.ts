/**
 * Binary min-heap of timed events. Events pop in (time, insertion order)
 * order, so equal times are resolved deterministically first-in first-out.
 * Keys live in parallel arrays: pushing and popping allocate nothing once the
 * arrays have grown to the peak size.
 */

/** Priority queue of values keyed by time; ties pop in insertion order. */
export class EventHeap<T> {
  #times: number[] = [];
  #seqs: number[] = [];
  #values: (T | undefined)[] = [];
  #size = 0;
  #nextSeq = 0;

  /** Number of queued events. */
  get size(): number {
    return this.#size;
  }

  /** Time of the earliest event, or `Infinity` when empty. */
  peekTime(): number {
    return this.#size > 0 ? this.#times[0] : Number.POSITIVE_INFINITY;
  }

  /** The earliest event's value without removing it. */
  peek(): T | undefined {
    return this.#size > 0 ? this.#values[0] : undefined;
  }

  /** Queues `value` at `time`. */
  push(time: number, value: T): void {
    const times = this.#times;
    const seqs = this.#seqs;
    const values = this.#values;
    const seq = this.#nextSeq++;
    let i = this.#size++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = times[parent];
      if (pt < time || (pt === time && seqs[parent] < seq)) break;
      times[i] = pt;
      seqs[i] = seqs[parent];
      values[i] = values[parent];
      i = parent;
    }
    times[i] = time;
    seqs[i] = seq;
    values[i] = value;
  }

  /** Removes and returns the earliest event's value, or undefined when empty. */
  pop(): T | undefined {
    if (this.#size === 0) return undefined;
    const times = this.#times;
    const seqs = this.#seqs;
    const values = this.#values;
    const top = values[0];
    const n = --this.#size;
    if (n > 0) {
      const time = times[n];
      const seq = seqs[n];
      const value = values[n];
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= n) break;
        const right = child + 1;
        if (
          right < n &&
          (times[right] < times[child] || (times[right] === times[child] && seqs[right] < seqs[child]))
        ) {
          child = right;
        }
        const ct = times[child];
        if (time < ct || (time === ct && seq < seqs[child])) break;
        times[i] = ct;
        seqs[i] = seqs[child];
        values[i] = values[child];
        i = child;
      }
      times[i] = time;
      seqs[i] = seq;
      values[i] = value;
    }
    values[n] = undefined;
    return top;
  }

  /** Drops every queued event. */
  clear(): void {
    this.#values.fill(undefined, 0, this.#size);
    this.#size = 0;
  }
}
