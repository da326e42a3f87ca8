/**
 * The receiver's acknowledgement duties: which timestamp to echo, when an ACK
 * is owed (at once, or after the delayed-ACK timer), and the SACK ranges to
 * report. ACKs are immediate on reordering, holes, duplicates and FINs, and
 * otherwise sent every `ackEveryPackets` packets or after `maxAckDelay`
 * (RFC 5681 §4.2, RFC 9000 §13.2).
 */

import { type Duration, type Instant, NEVER } from "../time.js";
import type { AckRepr } from "../wire/packet.js";
import { wrapSeq } from "../wire/seq.js";
import type { ReceiveBuffer } from "./receive-buffer.js";

/** Tracks what this side owes the peer in acknowledgements. */
export class AckState {
  /** The peer's tsval to echo, and when that packet arrived. */
  tsRecent = 0;
  tsRecentAt: Instant = 0;
  /** True when an ACK should go out at the next opportunity. */
  ackNow = false;
  /** When a delayed ACK falls due. */
  deadline: Instant = NEVER;
  /** Window carried by the last ACK sent. */
  lastAdvertisedWindow = 0;
  #elicited = 0;
  #hasTs = false;
  readonly #every: number;
  readonly #maxDelay: Duration;
  readonly #repr: AckRepr = { cumAck: 0, window: 0, ackDelay: 0, ranges: [] };

  constructor(ackEveryPackets: number, maxAckDelay: Duration) {
    this.#every = ackEveryPackets;
    this.#maxDelay = maxAckDelay;
  }

  /**
   * Records the timestamp of a packet that just arrived. A late, reordered
   * packet (older tsval) does not replace a newer one (RFC 7323 §4.3), so the
   * echo and the reported ACK delay always describe the newest packet.
   */
  onPacket(now: Instant, tsval: number): void {
    if (this.#hasTs && ((tsval - this.tsRecent) | 0) < 0) return;
    this.#hasTs = true;
    this.tsRecent = tsval;
    this.tsRecentAt = now;
  }

  /** An ack-eliciting packet arrived in order with nothing unusual: ACK every Nth or after the delay. */
  onInOrder(now: Instant): void {
    if (++this.#elicited >= this.#every || this.#maxDelay === 0) this.ackNow = true;
    else if (this.deadline === NEVER) this.deadline = now + this.#maxDelay;
  }

  /** The delayed-ACK timer fired. */
  onTimeout(now: Instant): void {
    if (now >= this.deadline) {
      this.deadline = NEVER;
      this.ackNow = true;
    }
  }

  /** True when an ACK is owed now. */
  get due(): boolean {
    return this.ackNow;
  }

  /** True when some ACK is owed, now or later. */
  get pending(): boolean {
    return this.ackNow || this.deadline !== NEVER;
  }

  /**
   * Builds the ACK section for a packet going out at `now`, with at most
   * `maxRanges` SACK ranges, and clears what it satisfies. The returned object is reused.
   */
  build(now: Instant, recv: ReceiveBuffer, maxRanges: number, window: number = recv.window): AckRepr {
    const a = this.#repr;
    a.cumAck = wrapSeq(recv.next);
    a.window = Math.min(window, 0xffffffff);
    a.ackDelay = Math.max(0, Math.round(now - this.tsRecentAt));
    a.ranges.length = 0;
    const set = recv.received;
    const n = set.count;
    if (n > 0 && maxRanges > 0) {
      // RFC 2018 §4: the first block holds the most recently received segment; then the highest blocks.
      let first = -1;
      for (let i = 0; i < n; i++)
        if (set.start(i) <= recv.latestOutOfOrder && recv.latestOutOfOrder < set.end(i)) first = i;
      if (first >= 0) a.ranges.push(wrapSeq(set.start(first)), wrapSeq(set.end(first)));
      for (let i = n - 1; i >= 0 && a.ranges.length < 2 * maxRanges; i--) {
        if (i === first) continue;
        a.ranges.push(wrapSeq(set.start(i)), wrapSeq(set.end(i)));
      }
    }
    this.ackNow = false;
    this.deadline = NEVER;
    this.#elicited = 0;
    this.lastAdvertisedWindow = window;
    return a;
  }
}
