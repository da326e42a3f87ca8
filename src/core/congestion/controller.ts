/**
 * The pluggable congestion controller interface. The connection reports what
 * happens to its packets; the controller answers with a window in bytes (and
 * optionally a pacing rate). Controllers are pure and see time only as `now`.
 */

import type { Duration, Instant } from "../time.js";

/** What a controller learns about a round of acknowledgements. */
export interface AckSample {
  /** Bytes newly acknowledged (cumulatively or selectively). */
  ackedBytes: number;
  /** Bytes still in flight after this ACK. */
  bytesInFlight: number;
  /** Latest RTT sample, smoothed RTT and minimum RTT (µs; 0 when unknown). */
  latestRtt: Duration;
  srtt: Duration;
  minRtt: Duration;
  /** True while the connection is in loss recovery (ACKs of pre-recovery data do not grow the window). */
  inRecovery: boolean;
  /** True when the sender had less data than the window allowed (application-limited). */
  appLimited: boolean;
  /** Bytes delivered so far on the connection, and when the acknowledged packet was sent. */
  delivered: number;
  priorDelivered: number;
  /**
   * Bytes declared lost so far by fast recovery (duplicate ACKs, SACK count, RACK), counted as
   * `delivered` is; segments a retransmission timeout presumes lost are not counted.
   */
  lost: number;
  /** Delivery rate (bytes/s) measured over the newest acknowledged packet's flight; 0 when no valid sample. */
  deliveryRate: number;
  /** True when that rate was measured while the sender was application-limited (a lower bound). */
  rateAppLimited: boolean;
}

/** A congestion control algorithm for one connection. */
export interface CongestionController {
  /** Name as registered (e.g. "newreno"). */
  readonly name: string;
  /** Congestion window in bytes. */
  readonly window: number;
  /** Slow-start threshold in bytes (Infinity while in initial slow start). */
  readonly ssthresh: number;
  /** Bytes per second to pace at, or undefined for no pacing. */
  readonly pacingRate: number | undefined;
  /** A packet of `bytes` was sent at `now`. */
  onPacketSent(now: Instant, bytes: number): void;
  /** Acknowledgements arrived. */
  onAck(now: Instant, sample: AckSample): void;
  /** Loss was detected; called once per recovery episode (RFC 9002 §7.3.2). */
  onCongestionEvent(now: Instant, bytesInFlight: number): void;
  /**
   * The retransmission timer fired (RFC 5681 §3.1: collapse to the loss window).
   * `first` is false for further timeouts of the same data, which must not lower ssthresh again.
   */
  onRetransmissionTimeout(now: Instant, first: boolean): void;
  /** A detected congestion event proved spurious (its packets were delivered). */
  onSpuriousCongestionEvent?(now: Instant): void;
}

/** Builds a controller whose windows count datagrams of `packetSize` bytes, starting at `initialWindowPackets`. */
export type ControllerFactory = (packetSize: number, initialWindowPackets: number) => CongestionController;
