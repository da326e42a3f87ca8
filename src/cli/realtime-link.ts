/** Drives the simulator's `Link` impairment model in real time: one heap and one timer deliver every datagram. */

import type { Address } from "../core/address.js";
import type { Instant } from "../core/time.js";
import { EventHeap } from "../sim/heap.js";
import type { DatagramFate, Link, LinkSink } from "../sim/link.js";

interface Scheduled {
  link: Link;
  from: Address;
  to: Address;
  data: Uint8Array;
}

/** Called with each datagram whose delivery time came. */
export type Deliver = (link: Link, from: Address, to: Address, data: Uint8Array) => void;
/** Called for each datagram fate other than delivery (loss, corruption, duplication, queue drop…). */
export type FateListener = (time: Instant, from: Address, to: Address, size: number, fate: DatagramFate) => void;

/** Datagrams due within this many µs of now go out together rather than waiting for another timer. */
const SLACK_US = 500;

/** A real-time `LinkSink`: one heap, one timer; `now()` is the clock to pass to `Link.send`. */
export class RealtimeLinkSink implements LinkSink {
  readonly #heap = new EventHeap<Scheduled>();
  readonly #deliver: Deliver;
  readonly #onFate: FateListener | undefined;
  readonly #origin = performance.now();
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #armedAt = Number.POSITIVE_INFINITY;
  #closed = false;

  constructor(deliver: Deliver, onFate?: FateListener) {
    this.#deliver = deliver;
    this.#onFate = onFate;
  }

  /** Microseconds since this sink was created (the links' clock). */
  now(): Instant {
    return Math.round((performance.now() - this.#origin) * 1000);
  }

  /** Datagrams waiting for their delivery time. */
  get pending(): number {
    return this.#heap.size;
  }

  schedule(at: Instant, link: Link, from: Address, to: Address, data: Uint8Array): void {
    if (this.#closed) return;
    this.#heap.push(at, { link, from, to, data });
    if (at < this.#armedAt) this.#arm();
  }

  trace(time: Instant, from: Address, to: Address, size: number, fate: DatagramFate): void {
    this.#onFate?.(time, from, to, size, fate);
  }

  /** Drops everything pending and stops the timer. */
  close(): void {
    this.#closed = true;
    this.#cancel();
    while (this.#heap.size > 0) this.#heap.pop();
  }

  #cancel(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
  }

  #arm(): void {
    this.#cancel();
    const at = this.#heap.peekTime();
    if (at === Number.POSITIVE_INFINITY) return;
    this.#armedAt = at;
    const waitUs = at - this.now();
    if (waitUs <= SLACK_US) this.#immediate = setImmediate(() => this.#run());
    else this.#timer = setTimeout(() => this.#run(), Math.max(1, Math.floor(waitUs / 1000)));
  }

  #run(): void {
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#armedAt = Number.POSITIVE_INFINITY;
    const horizon = this.now() + SLACK_US;
    while (this.#heap.size > 0 && this.#heap.peekTime() <= horizon) {
      const e = this.#heap.pop() as Scheduled;
      this.#deliver(e.link, e.from, e.to, e.data);
    }
    if (!this.#closed) this.#arm();
  }
}
