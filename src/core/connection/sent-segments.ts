/**
 * The sender's record of segments sent and not yet cumulatively acknowledged,
 * indexed by sequence number. Each segment is in flight, selectively acked,
 * or declared lost (waiting in the retransmission queue). Invariant:
 * `bytesInFlight` is the payload-plus-overhead of segments in flight only.
 */

import type { Instant } from "../time.js";
import { Flag } from "../wire/packet.js";

/** Why a segment was declared lost. */
export enum LossCause {
  None = 0,
  /** Duplicate ACKs, SACK count or RACK time threshold. */
  Fast = 1,
  /** The retransmission timer. */
  Timeout = 2,
  /** Re-sent as a tail-loss probe (not declared lost). */
  Probe = 3,
}

const EMPTY = new Uint8Array(0);

/** One data segment the sender is responsible for until it is acknowledged. */
export class SentSegment {
  /** Unwrapped sequence number. */
  readonly seq: number;
  readonly flags: number;
  /** The payload, in one piece or two (a segment cut across two writes is not copied together). */
  readonly payload: Uint8Array;
  readonly payloadTail: Uint8Array;
  /** Payload bytes in both pieces. */
  readonly payloadLength: number;
  /** Bytes charged to the congestion window for it. */
  readonly size: number;
  /** Time of the latest transmission. */
  sentAt: Instant;
  /** How many times it was sent again. */
  retransmits = 0;
  /** True while in flight (neither acked nor lost). */
  inFlight = true;
  /** True once selectively acknowledged. */
  sacked = false;
  /** True while declared lost and waiting to be resent. */
  lost = false;
  /** Why it was last declared lost. */
  lossCause = LossCause.None;
  /** Delivery-rate state when it was (last) sent (draft-cheng-iccrg-delivery-rate-estimation §3.2). */
  delivered = 0;
  deliveredTime: Instant = 0;
  firstSentTime: Instant = 0;
  appLimited = false;

  constructor(
    seq: number,
    flags: number,
    payload: Uint8Array,
    size: number,
    sentAt: Instant,
    payloadTail: Uint8Array = EMPTY,
  ) {
    this.seq = seq;
    this.flags = flags;
    this.payload = payload;
    this.payloadTail = payloadTail;
    this.payloadLength = payload.length + payloadTail.length;
    this.size = size;
    this.sentAt = sentAt;
  }

  /** True for the FIN segment. */
  get isFin(): boolean {
    return (this.flags & Flag.FIN) !== 0;
  }
}

/** Outstanding segments from `una` (oldest unacknowledged) to `nxt` (next new). */
export class SentSegments {
  #ring: (SentSegment | undefined)[] = [];
  #head = 0;
  /** Oldest unacknowledged sequence number. */
  una: number;
  /** Next sequence number to assign. */
  nxt: number;
  /** Bytes of segments in flight. */
  bytesInFlight = 0;
  /** Payload bytes of every outstanding segment (flow-control accounting). */
  outstandingBytes = 0;
  /** Payload bytes of outstanding segments already selectively acknowledged. */
  sackedBytes = 0;
  /** Highest sequence number selectively or cumulatively acknowledged, or una − 1. */
  highestAcked: number;

  constructor(isn: number) {
    this.una = isn;
    this.nxt = isn;
    this.highestAcked = isn - 1;
  }

  /** Number of outstanding segments. */
  get count(): number {
    return this.nxt - this.una;
  }

  /** The outstanding segment with sequence number `seq`, if any. */
  get(seq: number): SentSegment | undefined {
    if (seq < this.una || seq >= this.nxt) return undefined;
    return this.#ring[this.#head + (seq - this.una)];
  }

  /** Records a newly sent segment (sequence number `nxt`). */
  push(seg: SentSegment): void {
    this.#ring.push(seg);
    this.nxt++;
    this.bytesInFlight += seg.size;
    this.outstandingBytes += seg.payloadLength;
  }

  /** Removes every segment below `cumAck`, calling `onAcked` for each one that was not already sacked. */
  ackBelow(cumAck: number, onAcked: (seg: SentSegment) => void): void {
    while (this.una < cumAck) {
      const seg = this.#ring[this.#head];
      this.#ring[this.#head] = undefined;
      this.#head++;
      this.una++;
      if (!seg) continue;
      this.outstandingBytes -= seg.payloadLength;
      if (seg.sacked) this.sackedBytes -= seg.payloadLength;
      if (seg.inFlight) this.bytesInFlight -= seg.size;
      seg.inFlight = false;
      seg.lost = false;
      if (!seg.sacked) onAcked(seg);
    }
    if (this.highestAcked < cumAck - 1) this.highestAcked = cumAck - 1;
    if (this.#head >= 4096 && this.#head * 2 >= this.#ring.length) {
      this.#ring.splice(0, this.#head);
      this.#head = 0;
    }
    if (this.#head === this.#ring.length) {
      this.#ring.length = 0;
      this.#head = 0;
    }
  }

  /** Marks [start, end) selectively acknowledged, calling `onAcked` for each newly acked one. */
  sack(start: number, end: number, onAcked: (seg: SentSegment) => void): void {
    const from = Math.max(start, this.una);
    const to = Math.min(end, this.nxt);
    for (let s = from; s < to; s++) {
      const seg = this.#ring[this.#head + (s - this.una)];
      if (!seg || seg.sacked) continue;
      seg.sacked = true;
      this.sackedBytes += seg.payloadLength;
      if (seg.inFlight) this.bytesInFlight -= seg.size;
      seg.inFlight = false;
      seg.lost = false;
      onAcked(seg);
    }
    if (to - 1 > this.highestAcked && to > from) this.highestAcked = to - 1;
  }

  /** Takes a segment out of flight because it was declared lost. */
  markLost(seg: SentSegment): void {
    if (seg.inFlight) this.bytesInFlight -= seg.size;
    seg.inFlight = false;
    seg.lost = true;
  }

  /** Puts a segment back in flight after it was resent at `now`. */
  markResent(seg: SentSegment, now: Instant): void {
    if (!seg.inFlight) this.bytesInFlight += seg.size;
    seg.inFlight = true;
    seg.lost = false;
    seg.sentAt = now;
    seg.retransmits++;
  }

  /** Calls `fn` for each outstanding segment in [from, to) in sequence order. */
  forEachIn(from: number, to: number, fn: (seg: SentSegment) => void): void {
    const a = Math.max(from, this.una);
    const b = Math.min(to, this.nxt);
    for (let s = a; s < b; s++) {
      const seg = this.#ring[this.#head + (s - this.una)];
      if (seg) fn(seg);
    }
  }

  /** The highest outstanding segment that is not acknowledged, if any. */
  lastUnacked(): SentSegment | undefined {
    for (let s = this.nxt - 1; s >= this.una; s--) {
      const seg = this.#ring[this.#head + (s - this.una)];
      if (seg && !seg.sacked) return seg;
    }
    return undefined;
  }
}
