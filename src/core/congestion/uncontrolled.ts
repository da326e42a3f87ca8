/**
 * No congestion control: the window is limited only by the receiver's. Only
 * reachable by the explicitly unsafe name "unsafe-uncontrolled", for
 * controlled testbeds and experiments; on a shared network it harms others.
 */

import type { Instant } from "../time.js";
import type { AckSample, CongestionController } from "./controller.js";

/** A controller that never limits sending. */
export class Uncontrolled implements CongestionController {
  readonly name = "unsafe-uncontrolled";
  readonly window = Number.MAX_SAFE_INTEGER;
  readonly ssthresh = Number.POSITIVE_INFINITY;
  readonly pacingRate = undefined;

  onPacketSent(_now: Instant, _bytes: number): void {}
  onAck(_now: Instant, _s: AckSample): void {}
  onCongestionEvent(_now: Instant, _bytesInFlight: number): void {}
  onRetransmissionTimeout(_now: Instant, _first: boolean): void {}
}
