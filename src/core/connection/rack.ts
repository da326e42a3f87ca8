/**
 * RACK's state (RFC 8985 §6.2): the send time and RTT of the most recently
 * sent segment delivered (RACK.xmit_ts, RACK.rtt), whether reordering was
 * seen, and the adaptive reordering window. Spurious fast retransmissions,
 * recognised by an acknowledgement sooner than minRtt after the resend, stand
 * in for the DSACKs that rudp's ACKs do not carry.
 */

import type { Instant } from "../time.js";
import { LossCause, type SentSegment } from "./sent-segments.js";

/** The reordering window grows to at most this many quarters of minRtt (and never beyond SRTT). */
const MAX_REO_WND_MULT = 8;
/** Recoveries without a spurious retransmission before the window shrinks back (RFC 8985 RACK.reo_wnd_persist). */
const REO_WND_PERSIST = 16;

/** What a delivered segment told RACK. */
export enum Delivery {
  /** Its transmission counts toward RACK.xmit_ts. */
  Sample = 0,
  /** A resend acknowledged too fast to be the copy that was delivered: the original arrived (spurious). */
  Spurious = 1,
}

/** RACK's view of deliveries: what time threshold marks a segment lost. */
export class Rack {
  /** Send time of the most recently sent segment delivered, or -1 before any. */
  xmitTime: Instant = -1;
  /** Its round-trip time. */
  rtt = 0;
  /** Set for good once a never-resent segment is delivered below one delivered earlier. */
  reorderingSeen = false;
  #mult = 1;
  #persist = 0;
  #spuriousRound = -1;

  /**
   * A segment was delivered at `ackTime`; `fackBefore` is the highest sequence
   * number delivered before this ACK, `una`/`nxt` the sender's edges.
   */
  onDelivered(
    seg: SentSegment,
    ackTime: Instant,
    minRtt: number,
    fackBefore: number,
    una: number,
    nxt: number,
  ): Delivery {
    if (seg.retransmits === 0 && seg.seq < fackBefore) this.reorderingSeen = true;
    if (seg.retransmits > 0 && ackTime - seg.sentAt < minRtt) {
      // Only a needless fast retransmission means the window is too tight; probes and timeouts are
      // expected to be needless at times (a lost ACK), as TCP ignores DSACKs for TLPs.
      if (seg.lossCause === LossCause.Fast && una >= this.#spuriousRound) {
        this.#spuriousRound = nxt; // widen at most once per round trip
        this.#mult = Math.min(this.#mult + 1, MAX_REO_WND_MULT);
        this.#persist = REO_WND_PERSIST;
      }
      return Delivery.Spurious;
    }
    if (seg.sentAt >= this.xmitTime) {
      this.xmitTime = seg.sentAt;
      this.rtt = ackTime - seg.sentAt;
    }
    return Delivery.Sample;
  }

  /** A recovery episode ended: after enough of them without a spurious retransmission, the window narrows again. */
  onRecoveryEnd(): void {
    if (this.#persist > 0 && --this.#persist === 0) this.#mult = 1;
  }

  /** The reordering window: minRtt/4 × the multiplier, at most SRTT. */
  reorderingWindow(minRtt: number, srtt: number): number {
    return Math.min((minRtt / 4) * this.#mult, srtt);
  }
}
