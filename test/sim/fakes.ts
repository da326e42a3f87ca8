/** Tiny DatagramNodes for simulator tests: a paced numbered sender and a recorder. */

import type { Address } from "../../src/core/address.js";
import type { Duration, Instant } from "../../src/core/time.js";
import type { DatagramNode, Transmit } from "../../src/sim/node.js";

/** Options for `Pinger`. */
export interface PingerOptions {
  to: Address;
  count: number;
  /** Gap between datagrams; 0 sends them all at `start`. */
  interval: Duration;
  /** Datagram size in bytes (at least 4). */
  size: number;
  start?: Instant;
  /** Byte pattern filling the datagram after the sequence number (default: zeros). */
  fill?: (seq: number, i: number) => number;
}

/**
 * Sends `count` datagrams carrying a big-endian u32 sequence number, one every
 * `interval` from `start`. Reuses one buffer, so the sim must copy.
 */
export class Pinger implements DatagramNode {
  readonly sendTimes: Instant[] = [];
  sent = 0;
  received = 0;
  readonly #opts: PingerOptions;
  readonly #buf: Uint8Array;
  readonly #tx: { to: Address; data: Uint8Array };
  #next: Instant;
  #due = 0;

  constructor(opts: PingerOptions) {
    this.#opts = opts;
    this.#buf = new Uint8Array(opts.size);
    this.#tx = { to: opts.to, data: this.#buf };
    this.#next = opts.start ?? 0;
  }

  handleDatagram(): void {
    this.received++;
  }

  handleTimeout(now: Instant): void {
    while (this.#next <= now && this.sent + this.#due < this.#opts.count) {
      this.#due++;
      if (this.#opts.interval === 0) continue;
      this.#next += this.#opts.interval;
    }
  }

  pollTransmit(now: Instant): Transmit | undefined {
    if (this.#due === 0) return undefined;
    this.#due--;
    const seq = this.sent++;
    const buf = this.#buf;
    buf[0] = seq >>> 24;
    buf[1] = (seq >>> 16) & 0xff;
    buf[2] = (seq >>> 8) & 0xff;
    buf[3] = seq & 0xff;
    const fill = this.#opts.fill;
    if (fill) for (let i = 4; i < buf.length; i++) buf[i] = fill(seq, i);
    this.sendTimes.push(now);
    return this.#tx;
  }

  pollTimeout(): Instant | undefined {
    return this.sent + this.#due < this.#opts.count ? this.#next : undefined;
  }
}

/** Records every arrival: time, sender, sequence number and (optionally) a copy-free reference to the bytes. */
export class Recorder implements DatagramNode {
  readonly times: Instant[] = [];
  readonly seqs: number[] = [];
  readonly froms: Address[] = [];
  readonly datas: Uint8Array[] = [];
  bytes = 0;
  readonly #keepData: boolean;

  constructor(keepData = false) {
    this.#keepData = keepData;
  }

  get count(): number {
    return this.times.length;
  }

  handleDatagram(now: Instant, from: Address, data: Uint8Array): void {
    this.times.push(now);
    this.froms.push(from);
    this.seqs.push(data.length >= 4 ? ((data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]) >>> 0 : -1);
    this.bytes += data.length;
    if (this.#keepData) this.datas.push(data);
  }

  handleTimeout(): void {}

  pollTransmit(): Transmit | undefined {
    return undefined;
  }

  pollTimeout(): Instant | undefined {
    return undefined;
  }
}

/** A node that only sends what tests push into `outbox`. */
export class Scripted implements DatagramNode {
  readonly outbox: Transmit[] = [];
  readonly inbox: { now: Instant; from: Address; data: Uint8Array }[] = [];
  readonly timeouts: Instant[] = [];
  deadline: Instant | undefined;
  /** Called from handleTimeout; may change `deadline`. */
  onTimeout: ((now: Instant) => void) | undefined;

  handleDatagram(now: Instant, from: Address, data: Uint8Array): void {
    this.inbox.push({ now, from, data });
  }

  handleTimeout(now: Instant): void {
    this.timeouts.push(now);
    if (this.onTimeout) this.onTimeout(now);
    else this.deadline = undefined;
  }

  pollTransmit(): Transmit | undefined {
    return this.outbox.shift();
  }

  pollTimeout(): Instant | undefined {
    return this.deadline;
  }
}
