/**
 * Application data waiting to be put into segments: stream bytes, whole
 * messages and the FIN, in the order the application gave them. Segments are
 * cut when the connection is ready to send, so small writes issued in one turn
 * share packets. A message is never mixed with other data in one segment.
 */

import { Flag } from "../wire/packet.js";

const KIND_STREAM = 0;
const KIND_MESSAGE = 1;
const KIND_FIN = 2;

interface Item {
  kind: number;
  data: Uint8Array;
  offset: number;
}

/** A segment cut from the queue: header flags and payload (one object, reused by every `cut`). */
export interface SegmentDraft {
  flags: number;
  payload: Uint8Array;
  /** The rest of the payload when it spans two writes (sent after `payload`, never copied together); else empty. */
  tail: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/** FIFO of unsent application data. */
export class SendQueue {
  #items: Item[] = [];
  #head = 0;
  #bytes = 0;
  #finQueued = false;
  readonly #draft: SegmentDraft = { flags: 0, payload: EMPTY, tail: EMPTY };

  /** Bytes queued and not yet cut into segments. */
  get bytes(): number {
    return this.#bytes;
  }
  /** True when nothing (not even a FIN) waits. */
  get isEmpty(): boolean {
    return this.#head === this.#items.length;
  }
  /** True once a FIN was queued. */
  get finQueued(): boolean {
    return this.#finQueued;
  }

  /** Queues stream bytes (kept by reference: the caller must not modify them). */
  pushStream(data: Uint8Array): void {
    if (data.length === 0) return;
    this.#items.push({ kind: KIND_STREAM, data, offset: 0 });
    this.#bytes += data.length;
  }

  /** Queues one message (possibly empty). */
  pushMessage(data: Uint8Array): void {
    this.#items.push({ kind: KIND_MESSAGE, data, offset: 0 });
    this.#bytes += data.length;
  }

  /** Queues the FIN; nothing may follow it. */
  pushFin(): void {
    this.#items.push({ kind: KIND_FIN, data: EMPTY, offset: 0 });
    this.#finQueued = true;
  }

  /** Size of the next segment `cut(maxBytes)` would return, without cutting it; -1 when empty. */
  peekSize(maxBytes: number): number {
    if (this.isEmpty) return -1;
    const item = this.#items[this.#head];
    if (item.kind === KIND_FIN) return 0;
    if (item.kind === KIND_MESSAGE) return Math.min(maxBytes, item.data.length - item.offset);
    return this.#bytesOfLeadingStream(maxBytes);
  }

  /** Cuts the next segment of at most `maxBytes` payload bytes; the draft is valid until the next cut. */
  cut(maxBytes: number): SegmentDraft | undefined {
    if (this.isEmpty) return undefined;
    const item = this.#items[this.#head];
    const draft = this.#draft;
    draft.tail = EMPTY;
    if (item.kind === KIND_FIN) {
      this.#advance();
      draft.flags = Flag.DATA | Flag.FIN;
      draft.payload = EMPTY;
      return draft;
    }
    if (item.kind === KIND_MESSAGE) {
      const n = Math.min(maxBytes, item.data.length - item.offset);
      const payload = item.data.subarray(item.offset, item.offset + n);
      item.offset += n;
      this.#bytes -= n;
      let flags = Flag.DATA | Flag.MSG;
      if (item.offset === item.data.length) {
        flags |= Flag.MSG_END;
        this.#advance();
      }
      draft.flags = flags;
      draft.payload = payload;
      return draft;
    }
    draft.flags = Flag.DATA;
    this.#cutStream(maxBytes, draft);
    return draft;
  }

  #cutStream(maxBytes: number, draft: SegmentDraft): void {
    const first = this.#items[this.#head];
    const avail = first.data.length - first.offset;
    if (avail >= maxBytes || !this.#nextIsStream(this.#head + 1)) {
      const n = Math.min(avail, maxBytes);
      draft.payload = first.data.subarray(first.offset, first.offset + n);
      first.offset += n;
      this.#bytes -= n;
      if (first.offset === first.data.length) this.#advance();
      return;
    }
    const second = this.#items[this.#head + 1];
    const secondAvail = second.data.length - second.offset;
    if (avail + secondAvail >= maxBytes || !this.#nextIsStream(this.#head + 2)) {
      // Two writes fill the segment: two views, copied once (into the datagram), not coalesced first.
      draft.payload = first.data.subarray(first.offset);
      this.#bytes -= avail;
      this.#advance();
      const n = Math.min(maxBytes - avail, secondAvail);
      draft.tail = second.data.subarray(second.offset, second.offset + n);
      second.offset += n;
      this.#bytes -= n;
      if (second.offset === second.data.length) this.#advance();
      return;
    }
    // Coalesce several small writes into one segment (one copy).
    const total = this.#bytesOfLeadingStream(maxBytes);
    const out = new Uint8Array(total);
    let filled = 0;
    while (filled < total) {
      const item = this.#items[this.#head];
      const n = Math.min(total - filled, item.data.length - item.offset);
      out.set(item.data.subarray(item.offset, item.offset + n), filled);
      item.offset += n;
      filled += n;
      if (item.offset === item.data.length) this.#advance();
    }
    this.#bytes -= total;
    draft.payload = out;
  }

  /** Stream bytes at the head of the queue, counted up to `cap`. */
  #bytesOfLeadingStream(cap: number): number {
    let n = 0;
    for (let i = this.#head; n < cap && i < this.#items.length && this.#items[i].kind === KIND_STREAM; i++)
      n += this.#items[i].data.length - this.#items[i].offset;
    return Math.min(n, cap);
  }

  #nextIsStream(i: number): boolean {
    return i < this.#items.length && this.#items[i].kind === KIND_STREAM;
  }

  #advance(): void {
    this.#head++;
    if (this.#head === this.#items.length) {
      this.#items.length = 0;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
  }
}
