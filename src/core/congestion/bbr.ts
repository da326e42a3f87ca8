/**
 * BBR congestion control, version 1 as described in draft-cardwell-iccrg-bbr-
 * congestion-control-00: a model of the path (bottleneck bandwidth as a
 * windowed max of delivery-rate samples, propagation delay as a windowed min
 * of RTT samples) sets the pacing rate and the window, instead of reacting to
 * each loss. Random loss therefore does not collapse throughput as it does for
 * loss-based controllers. Simplified: no long-term (policer) model.
 *
 * One change from v1, as BBRv3: Startup's cwnd gain is 2 (its pacing gain
 * stays 2.89), so the doubling round no longer overflows a 1-BDP queue.
 */

import type { Instant } from "../time.js";
import type { AckSample, CongestionController } from "./controller.js";
import { RoundMax } from "./round-max.js";

const STARTUP_GAIN = 2.885; // 2/ln(2)
const STARTUP_CWND_GAIN = 2; // BBRv3
const PROBE_BW_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
const BW_WINDOW_ROUNDS = 10;
const MIN_RTT_WINDOW = 10_000_000; // µs
const PROBE_RTT_DURATION = 200_000; // µs
const MAX_EXTRA_ACKED_SECONDS = 0.1;
/**
 * ProbeRTT holds half a BDP in flight (BBRv2/v3), not 4 packets (v1): enough to drain the queue
 * and measure RTprop, while keeping half the rate and enough packets in flight for RACK to see
 * losses (with 4, a loss at 10% random loss went unrepaired until the RTO).
 */
const PROBE_RTT_CWND_GAIN = 0.5;
const MIN_PIPE_PACKETS = 4;
/** A loss in Startup with the RTT this far above its minimum means the bottleneck queue overflowed. */
const STARTUP_QUEUE_RTT_FACTOR = 1.25;
/** A round whose RTT samples stay below this multiple of RTprop built no queue: its losses were random. */
const RANDOM_LOSS_RTT_FACTOR = 1.25;
/** The random-loss estimate is a moving average over rounds with this weight for the newest one. */
const RANDOM_LOSS_GAIN = 1 / 8;
/** Pacing makes up for at most this much random loss (a factor of 1 / (1 − 0.2) = 1.25). */
const MAX_RANDOM_LOSS = 0.2;

type Mode = "startup" | "drain" | "probe-bw" | "probe-rtt";

/** BBR v1: model-based congestion control with pacing. */
export class Bbr implements CongestionController {
  readonly name = "bbr";
  readonly #packetSize: number;
  #mode: Mode = "startup";
  #window: number;
  readonly #bwFilter = new RoundMax(BW_WINDOW_ROUNDS);
  #btlBw = 0;
  #minRtt = Number.POSITIVE_INFINITY;
  #minRttStamp: Instant = 0;
  #round = 0;
  #nextRoundDelivered = 0;
  #fullBw = 0;
  #fullBwCount = 0;
  #filledPipe = false;
  #pacingGain = STARTUP_GAIN;
  #cwndGain = STARTUP_CWND_GAIN;
  #cycleIndex = 0;
  #cycleStamp: Instant = 0;
  #probeRttDoneAt: Instant = 0;
  #priorWindow = 0;
  /** Bytes delivered when the last ACK arrived, and at the retransmission timeout whose window is to be restored (−1: none). */
  #lastDelivered = 0;
  #latestRtt = 0;
  /** ACK aggregation: the current burst's start and bytes, and the max excess of recent rounds. */
  #aggregationStart: Instant = 0;
  #aggregationDelivered = 0;
  readonly #extraAckedFilter = new RoundMax(BW_WINDOW_ROUNDS);
  #extraAcked = 0;
  /** A congestion event happened during the current ProbeBW phase. */
  #lossInPhase = false;
  /** Random loss: `lost` and `delivered` when the round began, its largest RTT sample, and the estimate. */
  #roundLost = 0;
  #roundDelivered = 0;
  #roundMaxRtt = 0;
  #randomLoss = 0;
  #restoreAfterDelivered = -1;

  constructor(packetSize: number, initialWindowPackets: number) {
    this.#packetSize = packetSize;
    this.#window = Math.max(MIN_PIPE_PACKETS, initialWindowPackets) * packetSize;
  }

  get window(): number {
    return this.#window;
  }
  get ssthresh(): number {
    return Number.POSITIVE_INFINITY;
  }
  /**
   * Bytes per second: gain × bottleneck bandwidth, in ProbeBW raised by the random loss the path
   * shows (see #updateRandomLoss); no pacing before the first bandwidth sample.
   */
  get pacingRate(): number | undefined {
    if (this.#btlBw === 0) return undefined;
    const rate = this.#pacingGain * this.#btlBw;
    return this.#mode === "probe-bw" ? rate / (1 - this.#randomLoss) : rate;
  }
  /** The share of sent bytes the path loses without a queue building (0–0.2), as pacing makes up for it. */
  get randomLoss(): number {
    return this.#randomLoss;
  }
  /** The current estimate of the bottleneck bandwidth (bytes/s) and mode, for stats. */
  get bandwidth(): number {
    return this.#btlBw;
  }
  get mode(): string {
    return this.#mode;
  }

  onPacketSent(_now: Instant, _bytes: number): void {}

  onAck(now: Instant, s: AckSample): void {
    // Round trips are counted in delivered data (§4.1.1.3).
    const roundStart = s.priorDelivered >= this.#nextRoundDelivered;
    if (roundStart) {
      this.#nextRoundDelivered = s.delivered;
      this.#round++;
      this.#updateRandomLoss(s);
    }
    if (s.latestRtt > this.#roundMaxRtt) this.#roundMaxRtt = s.latestRtt;
    if (s.deliveryRate > 0 && (!s.rateAppLimited || s.deliveryRate >= this.#btlBw)) this.#updateBw(s.deliveryRate);
    this.#updateAckAggregation(now, s.ackedBytes);
    if (s.latestRtt > 0) this.#latestRtt = s.latestRtt;
    if (s.latestRtt > 0 && (s.latestRtt <= this.#minRtt || now - this.#minRttStamp > MIN_RTT_WINDOW)) {
      if (
        now - this.#minRttStamp > MIN_RTT_WINDOW &&
        this.#mode !== "probe-rtt" &&
        this.#filledPipe &&
        s.latestRtt > this.#minRtt
      )
        this.#enterProbeRtt(now);
      this.#minRtt = s.latestRtt;
      this.#minRttStamp = now;
    }
    if (roundStart && !this.#filledPipe) this.#checkFullPipe();
    this.#lastDelivered = s.delivered;
    // The first ACK of a packet sent after a timeout ends it: back to the window from before (§4.2.3.5).
    if (this.#restoreAfterDelivered >= 0 && s.priorDelivered >= this.#restoreAfterDelivered) {
      this.#restoreAfterDelivered = -1;
      this.#window = Math.max(this.#window, this.#priorWindow);
    }

    switch (this.#mode) {
      case "startup":
        if (this.#filledPipe) {
          this.#mode = "drain";
          this.#pacingGain = 1 / STARTUP_GAIN;
          this.#cwndGain = STARTUP_GAIN;
        }
        break;
      case "drain":
        if (s.bytesInFlight <= this.#bdp(1)) this.#enterProbeBw(now);
        break;
      case "probe-bw":
        if (this.#isNextCyclePhase(now, s.bytesInFlight)) {
          this.#cycleIndex = (this.#cycleIndex + 1) % PROBE_BW_GAINS.length;
          this.#cycleStamp = now;
          this.#pacingGain = PROBE_BW_GAINS[this.#cycleIndex];
          this.#lossInPhase = false;
        }
        break;
      case "probe-rtt":
        if (now >= this.#probeRttDoneAt) {
          this.#minRttStamp = now;
          this.#window = Math.max(this.#window, this.#priorWindow);
          if (this.#filledPipe) this.#enterProbeBw(now);
          else {
            this.#mode = "startup";
            this.#pacingGain = STARTUP_GAIN;
            this.#cwndGain = STARTUP_CWND_GAIN;
          }
        }
        break;
    }
    this.#setWindow(s);
  }

  onCongestionEvent(_now: Instant, _bytesInFlight: number): void {
    this.#lossInPhase = true;
    // The model is not reduced on loss, but Startup ends on a loss while its own queue is building:
    // the pipe is full and the bottleneck's buffer is overflowing (random loss leaves the RTT flat).
    if (this.#mode === "startup" && this.#latestRtt > STARTUP_QUEUE_RTT_FACTOR * this.#minRtt) this.#filledPipe = true;
  }

  onRetransmissionTimeout(_now: Instant, _first: boolean): void {
    // BBRSaveCwnd: keep the larger of the two while ProbeRTT or an earlier timeout holds the window down.
    const held = this.#mode === "probe-rtt" || this.#restoreAfterDelivered >= 0;
    this.#priorWindow = held ? Math.max(this.#priorWindow, this.#window) : this.#window;
    this.#restoreAfterDelivered = this.#lastDelivered;
    this.#window = MIN_PIPE_PACKETS * this.#packetSize;
  }

  #updateBw(rate: number): void {
    this.#btlBw = this.#bwFilter.update(this.#round, rate);
  }

  /**
   * BBRUpdateACKAggregation (draft §4.6.4.4, Linux's extra_acked): how much more data ACKs
   * delivered in a burst than BtlBw accounts for since the burst began, as a max over 10 rounds.
   * Hosts that batch (an event loop, Wi-Fi, delayed ACKs) acknowledge in bursts; without this
   * allowance a window of 2·BDP (BDP from the unloaded RTT) runs dry between bursts.
   */
  #updateAckAggregation(now: Instant, ackedBytes: number): void {
    if (this.#btlBw === 0) return;
    let expected = (this.#btlBw * (now - this.#aggregationStart)) / 1e6;
    if (this.#aggregationDelivered <= expected) {
      this.#aggregationDelivered = 0;
      this.#aggregationStart = now;
      expected = 0;
    }
    this.#aggregationDelivered += ackedBytes;
    const extra = Math.min(this.#aggregationDelivered - expected, this.#window);
    this.#extraAcked = this.#extraAckedFilter.update(this.#round, extra);
  }

  /**
   * Random-loss compensation (rudp's own, not in the BBR drafts). BtlBw is what arrives; when the
   * path drops packets at random, pacing at BtlBw sends what arrives, and if the drops happen before
   * the bottleneck (a lossy access link, or netem's model) that leaves the bottleneck idle a
   * loss-rate share of the time. Pacing at BtlBw / (1 − loss) fills it; when the drops happen after
   * the bottleneck, BtlBw already counts them, so the bottleneck sees exactly its rate and no queue.
   * Only rounds whose RTT samples stayed within 1.25·RTprop feed the estimate with their loss rate:
   * a round that built a queue feeds it 0, so losses from a full queue (congestion, or competing
   * flows) make the compensation decay instead of pushing harder. Capped at 20 % loss.
   */
  #updateRandomLoss(s: AckSample): void {
    const lost = s.lost - this.#roundLost;
    const delivered = s.delivered - this.#roundDelivered;
    this.#roundLost = s.lost;
    this.#roundDelivered = s.delivered;
    const queued = this.#roundMaxRtt > RANDOM_LOSS_RTT_FACTOR * this.#minRtt;
    this.#roundMaxRtt = 0;
    if (!this.#filledPipe || lost + delivered <= 0) return;
    const sample = queued ? 0 : lost / (lost + delivered);
    this.#randomLoss = Math.min(MAX_RANDOM_LOSS, this.#randomLoss + (sample - this.#randomLoss) * RANDOM_LOSS_GAIN);
  }

  #checkFullPipe(): void {
    if (this.#btlBw >= this.#fullBw * 1.25) {
      this.#fullBw = this.#btlBw;
      this.#fullBwCount = 0;
      return;
    }
    if (++this.#fullBwCount >= 3) this.#filledPipe = true;
  }

  /**
   * BBRIsNextCyclePhase (draft §4.3.4.4): a phase lasts one RTprop, except that probing (gain > 1)
   * goes on until loss or 1.25·BDP in flight, and draining (gain < 1) stops once in flight is down
   * to one BDP: draining a fixed RTprop after a probe that queued less than 0.25·BDP idled the link.
   */
  #isNextCyclePhase(now: Instant, bytesInFlight: number): boolean {
    if (this.#minRtt === Number.POSITIVE_INFINITY) return false;
    const fullLength = now - this.#cycleStamp > this.#minRtt;
    if (this.#pacingGain > 1) return fullLength && (this.#lossInPhase || bytesInFlight >= this.#bdp(this.#pacingGain));
    if (this.#pacingGain < 1) return fullLength || bytesInFlight <= this.#bdp(1);
    return fullLength;
  }

  #enterProbeBw(now: Instant): void {
    this.#mode = "probe-bw";
    this.#cwndGain = 2;
    this.#cycleIndex = 1 + (this.#round % (PROBE_BW_GAINS.length - 1)); // any phase but the probing one
    this.#pacingGain = PROBE_BW_GAINS[this.#cycleIndex];
    this.#cycleStamp = now;
  }

  #enterProbeRtt(now: Instant): void {
    this.#mode = "probe-rtt";
    this.#pacingGain = 1;
    this.#priorWindow = this.#window;
    this.#probeRttDoneAt = now + PROBE_RTT_DURATION;
  }

  /** gain × bandwidth-delay product, in bytes. */
  #bdp(gain: number): number {
    if (this.#btlBw === 0 || this.#minRtt === Number.POSITIVE_INFINITY) return this.#window;
    return (gain * this.#btlBw * this.#minRtt) / 1e6;
  }

  #setWindow(s: AckSample): void {
    const floor = MIN_PIPE_PACKETS * this.#packetSize;
    if (this.#mode === "probe-rtt") {
      this.#window = Math.max(floor, this.#bdp(PROBE_RTT_CWND_GAIN));
      return;
    }
    // As Linux: the aggregation allowance once the pipe is full, at most 100 ms at BtlBw.
    const aggregation = this.#filledPipe ? Math.min(this.#extraAcked, this.#btlBw * MAX_EXTRA_ACKED_SECONDS) : 0;
    const target = this.#bdp(this.#cwndGain) + 3 * this.#packetSize + aggregation;
    if (this.#filledPipe) this.#window = Math.min(this.#window + s.ackedBytes, target);
    else if (this.#window < target || this.#btlBw === 0) this.#window += s.ackedBytes;
    this.#window = Math.max(this.#window, floor);
  }
}
