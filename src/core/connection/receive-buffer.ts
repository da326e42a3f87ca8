/**
 * The receiving half of a connection: puts segments back in order, discards
 * duplicates, reassembles messages, and holds delivered data until the
 * application reads it. Invariants: every sequence number below `next` was
 * delivered exactly once; out-of-order segments are kept only inside the
 * advertised window; `unreadBytes + outOfOrderBytes <= capacity`, except
 * that the next in-order segment only needs `unreadBytes + its size <= capacity`.
 */

import { Flag } from "../wire/packet.js";
import { RangeSet } from "./range-set.js";

/** How many sequence numbers past `next` a segment may lie and still be buffered. */
export const MAX_SEGMENTS_AHEAD = 16384;

interface Held {
  flags: number;
  payload: Uint8Array;
}

/** What happened to one arriving segment. */
export enum Arrival {
  /** Delivered or buffered for later. */
  Accepted = 0,
  /** Already received before. */
  Duplicate = 1,
  /** Outside the receive window (too far ahead or no room). */
  OutOfWindow = 2,
  /** A message larger than the configured maximum. */
  MessageTooLarge = 3,
}

/** Reorder buffer plus the queues the application reads from. */
export class ReceiveBuffer {
  readonly capacity: number;
  readonly #maxMessageSize: number;
  /** Next in-order sequence number expected (unwrapped). */
  next: number;
  /** Sequence numbers received above `next`. */
  readonly received = new RangeSet();
  #held = new Map<number, Held>();
  #outOfOrderBytes = 0;
  #stream: Uint8Array[] = [];
  #streamHead = 0;
  #messages: Uint8Array[] = [];
  #messagesHead = 0;
  #partial: Uint8Array[] = [];
  #partialBytes = 0;
  #unread = 0;
  /** Sequence number of the peer's FIN once it was delivered in order, else -1. */
  finSeq = -1;
  /** The most recently arrived out-of-order sequence number (its range goes first in SACK). */
  latestOutOfOrder = -1;
  /** Set when delivery made stream data / messages / end-of-stream newly available. */
  streamArrived = false;
  messageArrived = false;

  constructor(initialSeq: number, capacity: number, maxMessageSize: number) {
    this.next = initialSeq;
    this.capacity = capacity;
    this.#maxMessageSize = maxMessageSize;
  }

  /** Bytes delivered in order and not yet read. */
  get unreadBytes(): number {
    return this.#unread;
  }
  /** True when stream bytes wait to be read (messages aside). */
  get hasStreamData(): boolean {
    return this.#streamHead < this.#stream.length;
  }
  /** Bytes held out of order. */
  get outOfOrderBytes(): number {
    return this.#outOfOrderBytes;
  }
  /** Segments held out of order. */
  get outOfOrderCount(): number {
    return this.#held.size;
  }
  /** Free window to advertise, counted from `next`. */
  get window(): number {
    return Math.max(0, this.capacity - this.#unread);
  }
  /** True once the peer's FIN was delivered. */
  get finished(): boolean {
    return this.finSeq >= 0;
  }

  /** True when segment `seq` is not yet received and lies within reach of `next` (its size aside). */
  expects(seq: number): boolean {
    return !this.#isDuplicate(seq) && seq - this.next < MAX_SEGMENTS_AHEAD;
  }

  /** True when a segment `seq` of `bytes` would find room (the rule `receive` applies). */
  hasRoom(seq: number, bytes: number): boolean {
    const held = seq === this.next ? this.#unread : this.#unread + this.#outOfOrderBytes;
    return held + bytes <= this.capacity;
  }

  /** Handles one segment with unwrapped sequence number `seq`. */
  receive(seq: number, flags: number, payload: Uint8Array): Arrival {
    if (this.#isDuplicate(seq)) return Arrival.Duplicate;
    if (seq - this.next >= MAX_SEGMENTS_AHEAD) return Arrival.OutOfWindow;
    // The next in-order segment is never refused for room taken by out-of-order ones (it may be the
    // only way to drain them): it needs room among unread bytes only, so the total stays below 2 × capacity.
    if (!this.hasRoom(seq, payload.length)) return Arrival.OutOfWindow;
    if (seq !== this.next) {
      this.#held.set(seq, { flags, payload });
      this.#outOfOrderBytes += payload.length;
      this.received.add(seq, seq + 1);
      this.latestOutOfOrder = seq;
      return Arrival.Accepted;
    }
    if (!this.#deliver(flags, payload)) return Arrival.MessageTooLarge;
    this.next++;
    while (this.#held.size > 0) {
      const h = this.#held.get(this.next);
      if (!h) break;
      this.#held.delete(this.next);
      this.#outOfOrderBytes -= h.payload.length;
      if (!this.#deliver(h.flags, h.payload)) return Arrival.MessageTooLarge;
      this.next++;
    }
    this.received.removeBelow(this.next);
    return Arrival.Accepted;
  }

  /** Segment `seq` was delivered or is held already, or lies at or past the FIN. */
  #isDuplicate(seq: number): boolean {
    return seq < this.next || this.#held.has(seq) || (this.finSeq >= 0 && seq >= this.finSeq);
  }

  /** Next chunk of the byte stream, or undefined when none is unread. */
  readStream(): Uint8Array | undefined {
    if (this.#streamHead === this.#stream.length) return undefined;
    const chunk = this.#stream[this.#streamHead++];
    if (this.#streamHead === this.#stream.length) {
      this.#stream.length = 0;
      this.#streamHead = 0;
    }
    this.#unread -= chunk.length;
    return chunk;
  }

  /** Next whole message, or undefined when none is unread. */
  readMessage(): Uint8Array | undefined {
    if (this.#messagesHead === this.#messages.length) return undefined;
    const msg = this.#messages[this.#messagesHead++];
    if (this.#messagesHead === this.#messages.length) {
      this.#messages.length = 0;
      this.#messagesHead = 0;
    }
    this.#unread -= msg.length;
    return msg;
  }

  #deliver(flags: number, payload: Uint8Array): boolean {
    if (flags & Flag.FIN) {
      this.finSeq = this.next;
      this.streamArrived = true;
      return true;
    }
    if (flags & Flag.MSG) {
      if (this.#partialBytes + payload.length > this.#maxMessageSize) return false;
      if (payload.length > 0) this.#partial.push(payload);
      this.#partialBytes += payload.length;
      if (flags & Flag.MSG_END) {
        const msg = this.#partial.length === 1 ? this.#partial[0] : concat(this.#partial, this.#partialBytes);
        this.#partial = [];
        this.#partialBytes = 0;
        this.#messages.push(msg);
        this.#unread += msg.length;
        this.messageArrived = true;
      }
      return true;
    }
    if (payload.length > 0) {
      this.#stream.push(payload);
      this.#unread += payload.length;
      this.streamArrived = true;
    }
    return true;
  }
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
