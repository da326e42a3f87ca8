/**
 * CUBIC congestion control (RFC 9438) with HyStart++ slow start (RFC 9406).
 * The window grows as a cubic function of the time since the last congestion
 * event, centred on the window where that event happened (W_max), and never
 * slower than Reno would (the Reno-friendly region, §4.3). HyStart++ leaves
 * slow start when the RTT starts rising, before the bottleneck queue overflows.
 * Windows are in bytes; the cubic formulas work in packets of `packetSize`.
 */

import type { Instant } from "../time.js";
import type { AckSample, CongestionController } from "./controller.js";

const C = 0.4; // RFC 9438 §5
const BETA = 0.7;
const ALPHA = (3 * (1 - BETA)) / (1 + BETA); // Reno-friendly additive increase, §4.3
// HyStart++ constants (RFC 9406 §4.3).
const MIN_RTT_THRESH = 4_000;
const MAX_RTT_THRESH = 16_000;
const N_RTT_SAMPLE = 8;
const CSS_GROWTH_DIVISOR = 4;
const CSS_ROUNDS = 5;

/** CUBIC with HyStart++. */
export class Cubic implements CongestionController {
  readonly name = "cubic";
  readonly #mss: number;
  #window: number;
  #ssthresh = Number.POSITIVE_INFINITY;
  #wMax = 0; // packets
  #k = 0; // seconds
  #epochStart: Instant = -1;
  #wEst = 0; // packets
  // HyStart++ state.
  #nextRoundDelivered = 0;
  #lastRoundMinRtt = Number.POSITIVE_INFINITY;
  #currentRoundMinRtt = Number.POSITIVE_INFINITY;
  #rttSamples = 0;
  #cssBaselineMinRtt = Number.POSITIVE_INFINITY;
  #cssRounds = -1; // -1: not in conservative slow start

  constructor(packetSize: number, initialWindowPackets: number) {
    this.#mss = packetSize;
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

  onAck(now: Instant, s: AckSample): void {
    const roundStart = s.priorDelivered >= this.#nextRoundDelivered;
    if (roundStart) {
      this.#nextRoundDelivered = s.delivered;
      this.#lastRoundMinRtt = this.#currentRoundMinRtt;
      this.#currentRoundMinRtt = Number.POSITIVE_INFINITY;
      this.#rttSamples = 0;
      if (this.#cssRounds >= 0 && ++this.#cssRounds >= CSS_ROUNDS) {
        this.#ssthresh = this.#window; // RFC 9406 §4.2: CSS lasted long enough, enter avoidance
        this.#cssRounds = -1;
      }
    }
    if (s.latestRtt > 0) {
      this.#currentRoundMinRtt = Math.min(this.#currentRoundMinRtt, s.latestRtt);
      this.#rttSamples++;
    }
    if (s.inRecovery || s.appLimited) return;
    if (this.#window < this.#ssthresh) {
      this.#slowStart(s);
      return;
    }
    this.#congestionAvoidance(now, s);
  }

  #slowStart(s: AckSample): void {
    if (this.#cssRounds < 0) {
      this.#window += s.ackedBytes;
      if (
        this.#rttSamples >= N_RTT_SAMPLE &&
        this.#lastRoundMinRtt !== Number.POSITIVE_INFINITY &&
        this.#currentRoundMinRtt !== Number.POSITIVE_INFINITY
      ) {
        const thresh = Math.min(MAX_RTT_THRESH, Math.max(MIN_RTT_THRESH, this.#lastRoundMinRtt / 8));
        if (this.#currentRoundMinRtt >= this.#lastRoundMinRtt + thresh) {
          this.#cssBaselineMinRtt = this.#currentRoundMinRtt; // the RTT rose: conservative slow start
          this.#cssRounds = 0;
        }
      }
      return;
    }
    this.#window += s.ackedBytes / CSS_GROWTH_DIVISOR;
    if (this.#currentRoundMinRtt < this.#cssBaselineMinRtt) this.#cssRounds = -1; // a false alarm: back to slow start
  }

  #congestionAvoidance(now: Instant, s: AckSample): void {
    const mss = this.#mss;
    const cwnd = this.#window / mss;
    if (this.#epochStart < 0) {
      this.#epochStart = now;
      if (this.#wMax < cwnd) {
        this.#wMax = cwnd;
        this.#k = 0;
      } else {
        this.#k = Math.cbrt((this.#wMax - cwnd) / C);
      }
      this.#wEst = cwnd;
    }
    const rtt = (s.srtt > 0 ? s.srtt : s.latestRtt) / 1e6;
    const t = (now - this.#epochStart) / 1e6;
    const target = Math.min(Math.max(this.#wCubic(t + rtt), cwnd), 1.5 * cwnd); // §4.2
    this.#wEst += (ALPHA * (s.ackedBytes / mss)) / cwnd; // §4.3
    let next: number;
    if (this.#wCubic(t) < this.#wEst) next = this.#wEst;
    else next = cwnd + ((target - cwnd) / cwnd) * (s.ackedBytes / mss);
    this.#window = Math.max(next, cwnd) * mss;
  }

  #wCubic(t: number): number {
    return C * (t - this.#k) ** 3 + this.#wMax;
  }

  onCongestionEvent(_now: Instant, _bytesInFlight: number): void {
    const cwnd = this.#window / this.#mss;
    // Fast convergence (§4.7): release bandwidth sooner when W_max keeps falling.
    this.#wMax = cwnd < this.#wMax ? (cwnd * (1 + BETA)) / 2 : cwnd;
    this.#window = Math.max(2 * this.#mss, this.#window * BETA);
    this.#ssthresh = this.#window;
    this.#k = Math.cbrt((this.#wMax * (1 - BETA)) / C);
    this.#epochStart = -1;
    this.#cssRounds = -1;
  }

  onRetransmissionTimeout(_now: Instant, first: boolean): void {
    if (first) {
      this.#wMax = this.#window / this.#mss;
      this.#ssthresh = Math.max(2 * this.#mss, this.#window * BETA);
    }
    this.#window = this.#mss;
    this.#epochStart = -1;
    this.#cssRounds = -1;
  }
}
