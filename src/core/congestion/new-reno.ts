/**
 * NewReno congestion control (RFC 5681, RFC 6582) in the byte-counting form of
 * RFC 9002 §7: slow start below ssthresh, additive increase of one MSS per
 * window above it, halving once per recovery episode, collapse to one packet
 * after a retransmission timeout.
 */

import type { Instant } from "../time.js";
import type { AckSample, CongestionController } from "./controller.js";

/** NewReno: the default and reference controller. */
export class NewReno implements CongestionController {
  readonly name = "newreno";
  #window: number;
  #ssthresh = Number.POSITIVE_INFINITY;
  #bytesAckedInAvoidance = 0;
  readonly #packetSize: number;

  constructor(packetSize: number, initialWindowPackets: number) {
    this.#packetSize = packetSize;
    this.#window = Math.max(1, initialWindowPackets) * packetSize;
  }

  get window(): number {
    return this.#window;
  }
  get ssthresh(): number {
    return this.#ssthresh;
  }
  get pacingRate(): number | undefined {
    return undefined;
  }

  onPacketSent(_now: Instant, _bytes: number): void {}

  onAck(_now: Instant, s: AckSample): void {
    if (s.inRecovery || s.appLimited) return;
    if (this.#window < this.#ssthresh) {
      this.#window += s.ackedBytes; // RFC 5681 §3.1 slow start, byte counting (RFC 3465)
      return;
    }
    this.#bytesAckedInAvoidance += s.ackedBytes;
    if (this.#bytesAckedInAvoidance >= this.#window) {
      this.#bytesAckedInAvoidance -= this.#window;
      this.#window += this.#packetSize; // congestion avoidance: +1 MSS per window acknowledged
    }
  }

  onCongestionEvent(_now: Instant, _bytesInFlight: number): void {
    this.#ssthresh = Math.max(this.#window / 2, 2 * this.#packetSize); // RFC 5681 eq. (4), on the window as in RFC 9002
    this.#window = this.#ssthresh;
    this.#bytesAckedInAvoidance = 0;
  }

  onRetransmissionTimeout(_now: Instant, first: boolean): void {
    if (first) this.#ssthresh = Math.max(this.#window / 2, 2 * this.#packetSize);
    this.#window = this.#packetSize; // loss window, RFC 5681 §3.1
    this.#bytesAckedInAvoidance = 0;
  }
}
