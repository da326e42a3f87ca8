/**
 * RTT estimation and the retransmission timeout, RFC 6298. Samples come from
 * echoed timestamps, which identify the exact transmission acknowledged, so
 * retransmitted segments give valid samples (RFC 7323 §4, the reason Karn's
 * rule is not needed). The peer's ACK delay is subtracted as in RFC 9002 §5.3.
 */

import type { Duration } from "../time.js";

/** Smoothed RTT, variance, minimum and the RTO derived from them. */
export class RttEstimator {
  #srtt = 0;
  #rttvar = 0;
  #minRtt = Number.POSITIVE_INFINITY;
  #latest = 0;
  #hasSample = false;
  readonly #initialRto: Duration;
  readonly #minRto: Duration;
  readonly #maxRto: Duration;

  constructor(initialRto: Duration, minRto: Duration, maxRto: Duration) {
    this.#initialRto = initialRto;
    this.#minRto = minRto;
    this.#maxRto = maxRto;
  }

  /** Feeds one RTT measurement and the delay the peer reports it held the ACK. */
  update(sample: Duration, ackDelay: Duration): void {
    if (!(sample > 0)) sample = 1;
    this.#latest = sample;
    if (sample < this.#minRtt) this.#minRtt = sample;
    // Subtract the peer's ACK delay only when that does not go below the minimum RTT.
    const adjusted = sample - ackDelay >= this.#minRtt ? sample - ackDelay : sample;
    if (!this.#hasSample) {
      this.#srtt = adjusted; // RFC 6298 §2.2
      this.#rttvar = adjusted / 2;
      this.#hasSample = true;
    } else {
      this.#rttvar = 0.75 * this.#rttvar + 0.25 * Math.abs(this.#srtt - adjusted); // §2.3, beta = 1/4
      this.#srtt = 0.875 * this.#srtt + 0.125 * adjusted; // alpha = 1/8
    }
  }

  /** True once a sample was taken. */
  get hasSample(): boolean {
    return this.#hasSample;
  }
  /** Smoothed RTT (µs); 0 before the first sample. */
  get srtt(): Duration {
    return this.#srtt;
  }
  /** RTT variance (µs). */
  get rttvar(): Duration {
    return this.#rttvar;
  }
  /** Smallest RTT seen (µs); 0 before the first sample. */
  get minRtt(): Duration {
    return this.#hasSample ? this.#minRtt : 0;
  }
  /** Most recent sample (µs). */
  get latest(): Duration {
    return this.#latest;
  }

  /** Base RTO (before backoff), clamped to [minRto, maxRto]. RFC 6298 §2.3, G = 1 µs. */
  get rto(): Duration {
    const raw = this.#hasSample ? this.#srtt + Math.max(1, 4 * this.#rttvar) : this.#initialRto;
    return Math.min(this.#maxRto, Math.max(this.#minRto, raw));
  }

  /** RTO after `backoff` doublings (RFC 6298 §5.5), capped at maxRto. */
  backedOff(backoff: number): Duration {
    return Math.min(this.#maxRto, this.rto * 2 ** backoff);
  }
}
