/**
 * The sender's loss recovery and delivery-rate estimation. It keeps the
 * scoreboard of segments sent, learns from ACKs what was delivered, declares
 * segments lost by duplicate ACKs / SACK count (RFC 6675), RACK time threshold
 * (RFC 8985), a tail-loss probe and the RTO (RFC 6298), queues them for
 * retransmission, and reports to the congestion controller what it saw: sends,
 * acknowledgements with a delivery-rate sample
 * (draft-cheng-iccrg-delivery-rate-estimation), congestion events, timeouts.
 * The connection decides what to send and when; this decides what was lost.
 */

import type { TransportConfig } from "../config.js";
import type { CongestionController } from "../congestion/controller.js";
import { type Duration, type Instant, MS, NEVER } from "../time.js";
import { Flag, type PacketRepr } from "../wire/packet.js";
import { unwrapSeq, wrapSeq } from "../wire/seq.js";
import { Delivery, Rack } from "./rack.js";
import type { RttEstimator } from "./rtt.js";
import { LossCause, type SentSegment, SentSegments } from "./sent-segments.js";
import type { Counters } from "./stats.js";

const MIN_PTO = 10 * MS;

/** Loss detection, retransmission timers and delivery-rate estimation for one connection's sender. */
export class LossRecovery {
  /** The scoreboard: segments sent and not yet cumulatively acknowledged. */
  readonly sent: SentSegments;
  /** The congestion controller this drives (the connection reads its window and pacing rate). */
  cc: CongestionController;
  readonly #config: TransportConfig;
  readonly #rtt: RttEstimator;
  readonly #counters: Counters;
  #lostQueue: SentSegment[] = [];
  #lostHead = 0;
  /** Resends to send once more (`tailResendCopies`), after every waiting first resend. */
  #copies: SentSegment[] = [];
  #copiesHead = 0;

  // Timers.
  #rtoDeadline: Instant = NEVER;
  #rtoBackoff = 0;
  #consecutiveRtos = 0;
  /** Timeouts in a row after silence (no ACK delivered anything for an RTO): a black hole's signature. */
  #silentRtos = 0;
  /** The head is to be resent at once, window or not (set by a retransmission timeout). */
  #resendNow = false;
  #tlpDeadline: Instant = NEVER;
  #tlpPending = false;
  #tlpOutstanding = false;
  #rackDeadline: Instant = NEVER;
  /** Once it has seen reordering, the DupThresh rules stop and losses are declared by time alone. */
  readonly #rack = new Rack();
  /** Highest sequence number acknowledged before the ACK being processed (RACK.fack). */
  #fackBefore = -1;
  #recoveryStart: Instant = -1;
  /** When an ACK last delivered new data (cumulatively or selectively). */
  #progressAt: Instant = Number.NEGATIVE_INFINITY;
  #inRecovery = false;
  #dupAcks = 0;
  readonly #onSegmentAcked = (seg: SentSegment): void => this.#segmentAcked(seg);
  #ackTime: Instant = 0;
  #newlyAckedBytes = 0;

  // Delivery-rate estimation (draft-cheng-iccrg-delivery-rate-estimation).
  #delivered = 0;
  /** Bytes declared lost by fast recovery (AckSample.lost). */
  #lost = 0;
  #deliveredTime: Instant = 0;
  #firstSentTime: Instant = 0;
  #appLimitedUntil = 0;
  #rateSample: SentSegment | undefined;

  /**
   * A sender whose first segment is numbered `isn`; `rtt` and `counters` are
   * the connection's own, which this updates.
   */
  constructor(isn: number, config: TransportConfig, rtt: RttEstimator, counters: Counters, cc: CongestionController) {
    this.sent = new SentSegments(isn);
    this.#config = config;
    this.#rtt = rtt;
    this.#counters = counters;
    this.cc = cc;
  }

  /** The earliest loss timer (RTO, tail-loss probe, RACK), or NEVER. */
  get deadline(): Instant {
    return Math.min(this.#rtoDeadline, this.#tlpDeadline, this.#rackDeadline);
  }

  /** The retransmission timeout with its current backoff. */
  get rto(): Duration {
    return this.#rtt.backedOff(this.#rtoBackoff);
  }

  /** Retransmission timeouts in a row after silence, without an acknowledgement of new data (PROTOCOL §4.7). */
  get silentTimeouts(): number {
    return this.#silentRtos;
  }

  // ----- Sending -------------------------------------------------------------

  /**
   * The next segment declared lost that is still to be resent, counted as a
   * fast or timeout retransmission; undefined when none waits.
   */
  nextRetransmission(): SentSegment | undefined {
    while (this.#lostHead < this.#lostQueue.length) {
      const seg = this.#lostQueue[this.#lostHead++];
      if (this.#lostHead === this.#lostQueue.length) {
        this.#lostQueue.length = 0;
        this.#lostHead = 0;
      }
      if (!seg.lost) continue;
      this.#resendNow = false;
      if (seg.lossCause === LossCause.Timeout) this.#counters.timeoutRetransmits++;
      else this.#counters.fastRetransmits++;
      return seg;
    }
    return undefined;
  }

  /**
   * `seg` was just resent while no new data waited, or for the second time or more: queues
   * `tailResendCopies` more copies of it. In the tail of a transfer (or between an interactive
   * sender's messages) nothing sent after a resend lets RACK see it lost, so each lost resend
   * costs a probe timeout or another round trip: at 10 % random loss the last flight took five
   * round trips to fill its holes. A segment lost twice is the one whose hole outlasts the RTO.
   */
  queueCopies(seg: SentSegment): void {
    for (let i = 0; i < this.#config.tailResendCopies; i++) this.#copies.push(seg);
  }

  /** The next queued copy of a resend still unacknowledged and in flight, or undefined. */
  nextCopy(): SentSegment | undefined {
    const copies = this.#copies;
    while (this.#copiesHead < copies.length) {
      const seg = copies[this.#copiesHead++];
      if (this.#copiesHead === copies.length) {
        copies.length = 0;
        this.#copiesHead = 0;
      }
      if (seg.inFlight) return seg; // acknowledged or declared lost again: no copy
    }
    return undefined;
  }

  /**
   * A copy of a resend went out in a datagram of `bytes`. The segment keeps the send time of its
   * resend, so the copy changes neither RACK's timing nor the spurious-resend test, and the
   * bytes in flight count it once: the copy is redundancy, paced and counted as a retransmission.
   */
  onCopySent(now: Instant, bytes: number): void {
    this.#counters.retransmits++;
    this.#counters.resendCopies++;
    this.cc.onPacketSent(now, bytes);
  }

  /** True (once) when the tail-loss probe timer fired and a probe should go out. */
  takeProbe(): boolean {
    if (!this.#tlpPending) return false;
    this.#tlpPending = false;
    return true;
  }

  /** A tail-loss probe went out: no other is armed until `cumAck` advances. */
  onProbeSent(): void {
    this.#tlpOutstanding = true;
  }

  /**
   * True (once) after a retransmission timeout: the lost segment at the head goes out now even if
   * what is still in flight fills the window (a timeout while the path is alive leaves most of the
   * flight in flight).
   */
  takeResendNow(): boolean {
    if (!this.#resendNow) return false;
    this.#resendNow = false;
    return true;
  }

  /** Nothing more to send with room in the window: rate samples taken now are application-limited. */
  onAppLimited(): void {
    this.#appLimitedUntil = Math.max(1, this.#delivered + this.sent.bytesInFlight);
  }

  /**
   * `seg` went out at `now` in a datagram of `bytes` (`resend`: again): stamps
   * its delivery-rate state, puts a resent segment back in flight, arms the
   * RTO and tells the controller. A new segment is pushed on `sent` after this.
   */
  onSegmentSent(now: Instant, seg: SentSegment, bytes: number, resend: boolean): void {
    if (this.sent.bytesInFlight === 0) {
      this.#firstSentTime = now;
      this.#deliveredTime = now;
    }
    seg.delivered = this.#delivered;
    seg.deliveredTime = this.#deliveredTime;
    seg.firstSentTime = this.#firstSentTime;
    seg.appLimited = this.#appLimitedUntil > 0;
    if (resend) {
      this.sent.markResent(seg, now);
      this.#counters.retransmits++;
    }
    if (this.#rtoDeadline === NEVER) this.#rtoDeadline = now + this.#rtt.backedOff(this.#rtoBackoff);
    // A resend with nothing after it is probed too if it is lost (the ACK that declared its
    // original lost found nothing in flight, so it armed no probe).
    if (resend && this.#tlpDeadline === NEVER) this.armTlp(now);
    this.cc.onPacketSent(now, bytes);
  }

  /**
   * Arms the tail-loss probe timer (RFC 8985 §7.2) after new data was sent or acknowledged. Unlike
   * RFC 8985, also in recovery, as QUIC's probe timeout (RFC 9002 §6.2): a lost retransmission at
   * the tail, with nothing sent after it for RACK to see, is probed after 2·SRTT instead of waiting
   * for the RTO's 200 ms minimum, a window collapse and the resend of everything unacknowledged.
   */
  armTlp(now: Instant): void {
    this.#tlpDeadline = NEVER;
    if (this.#tlpOutstanding || !this.#rtt.hasSample || this.sent.bytesInFlight === 0) return;
    let pto = Math.max(this.#config.probeTimeoutFactor * this.#rtt.srtt, MIN_PTO); // RFC 8985 §7.2 (factor 2)
    if (this.sent.count === 1) pto += this.#config.maxAckDelay;
    const deadline = now + pto;
    if (deadline < this.#rtoDeadline) this.#tlpDeadline = deadline;
  }

  // ----- Acknowledgements ----------------------------------------------------

  /**
   * Processes the ACK section of `p`, whose cumulative ACK `cum` the caller
   * checked lies in [una, nxt]: updates the scoreboard and the RTT, resets the
   * backoff when new data is acknowledged, declares losses, and feeds the
   * controller a sample. `queueEmpty`: no application data waits to be sent.
   */
  onAck(now: Instant, p: PacketRepr, cum: number, queueEmpty: boolean): void {
    const ack = p.ack as NonNullable<PacketRepr["ack"]>;
    const sent = this.sent;
    this.#ackTime = now;
    this.#newlyAckedBytes = 0;
    this.#rateSample = undefined;
    const inFlightBefore = sent.bytesInFlight;
    const advanced = cum > sent.una;
    this.#fackBefore = sent.highestAcked;
    if (advanced) sent.ackBelow(cum, this.#onSegmentAcked);
    const r = ack.ranges;
    let phantom = false;
    for (let i = 0; i < r.length; i += 2) {
      const start = unwrapSeq(r[i], sent.una);
      const end = start + ((r[i + 1] - r[i]) >>> 0);
      if (end > sent.nxt) {
        // Selectively acknowledges data never sent (forged, or data injected at the receiver): the
        // range is ignored, and the ACK does not count as a duplicate either. The rest still counts,
        // or whoever can make a receiver report phantom ranges could stall the sender.
        this.#counters.invalidAcks++;
        phantom = true;
        continue;
      }
      sent.sack(start, end, this.#onSegmentAcked);
    }
    const newly = this.#newlyAckedBytes;
    if (newly > 0) {
      this.#progressAt = now;
      const sample = (wrapSeq(now) - p.tsecr) >>> 0;
      if (sample < 120_000_000) this.#rtt.update(sample, ack.ackDelay);
    }
    if (advanced) {
      this.#dupAcks = 0;
      this.#consecutiveRtos = 0;
      this.#silentRtos = 0;
      this.#rtoBackoff = 0;
      this.#tlpOutstanding = false;
      this.#rtoDeadline = sent.count > 0 ? now + this.#rtt.rto : NEVER;
    } else if (sent.count > 0 && !(p.flags & Flag.DATA) && r.length > 0 && !phantom) {
      // A duplicate ACK (RFC 5681 §2): the threshold-th one retransmits the first hole, unless it
      // was already retransmitted (its ACK is still on the way: RACK or the RTO decide about it).
      if (++this.#dupAcks === this.#config.fastRetransmitThreshold) {
        const first = sent.get(sent.una);
        if (first?.inFlight && first.retransmits === 0 && !this.#rack.reorderingSeen)
          this.#declareLost(now, first, LossCause.Fast);
      }
    }
    this.#detectLosses(now);
    if (newly > 0) {
      const { rate, prior, appLimited } = this.#takeRateSample(now);
      this.cc.onAck(now, {
        delivered: this.#delivered,
        priorDelivered: prior,
        lost: this.#lost,
        deliveryRate: rate,
        rateAppLimited: appLimited,
        ackedBytes: newly,
        bytesInFlight: sent.bytesInFlight,
        latestRtt: this.#rtt.latest,
        srtt: this.#rtt.srtt,
        minRtt: this.#rtt.minRtt,
        inRecovery: this.#inRecovery,
        appLimited: queueEmpty && inFlightBefore < this.cc.window / 2,
      });
      this.armTlp(now);
    }
  }

  #segmentAcked(seg: SentSegment): void {
    this.#newlyAckedBytes += seg.size;
    this.#delivered += seg.size;
    this.#deliveredTime = this.#ackTime;
    if (!this.#rateSample || seg.sentAt > this.#rateSample.sentAt) this.#rateSample = seg;
    if (seg.sentAt > this.#recoveryStart && this.#inRecovery) {
      this.#inRecovery = false;
      this.#rack.onRecoveryEnd();
    }
    const sent = this.sent;
    if (
      this.#rack.onDelivered(seg, this.#ackTime, this.#rtt.minRtt, this.#fackBefore, sent.una, sent.nxt) ===
      Delivery.Spurious
    )
      this.#counters.spuriousRetransmits++;
  }

  /** The delivery rate over the flight of the newest packet this ACK acknowledged. */
  #takeRateSample(now: Instant): { rate: number; prior: number; appLimited: boolean } {
    const p = this.#rateSample;
    if (!p) return { rate: 0, prior: this.#delivered, appLimited: true };
    if (this.#appLimitedUntil > 0 && this.#delivered > this.#appLimitedUntil) this.#appLimitedUntil = 0;
    const sendElapsed = p.sentAt - p.firstSentTime;
    const ackElapsed = now - p.deliveredTime;
    const interval = Math.max(sendElapsed, ackElapsed);
    this.#firstSentTime = p.sentAt;
    // Intervals shorter than the minimum RTT would overestimate the rate (§3.3).
    if (interval <= 0 || interval < this.#rtt.minRtt) return { rate: 0, prior: p.delivered, appLimited: p.appLimited };
    return { rate: ((this.#delivered - p.delivered) * 1e6) / interval, prior: p.delivered, appLimited: p.appLimited };
  }

  // ----- Loss detection ------------------------------------------------------

  /** RACK time threshold and SACK DupThresh (RFC 8985 §6.2, RFC 6675 IsLost) over the scoreboard. */
  #detectLosses(now: Instant): void {
    const sent = this.sent;
    this.#rackDeadline = NEVER;
    const rack = this.#rack;
    if (rack.xmitTime < 0) return;
    let sackedAbove = 0;
    sent.forEachIn(sent.una, sent.highestAcked + 1, (seg) => {
      if (seg.sacked) sackedAbove++;
    });
    const threshold = rack.reorderingSeen ? Number.POSITIVE_INFINITY : this.#config.fastRetransmitThreshold;
    const lossDelay = rack.rtt + rack.reorderingWindow(this.#rtt.minRtt, this.#rtt.srtt);
    let deadline = NEVER;
    const end = sent.highestAcked;
    for (let s = sent.una; s < end; s++) {
      const seg = sent.get(s);
      if (!seg) continue;
      if (seg.sacked) {
        sackedAbove--;
        continue;
      }
      if (!seg.inFlight) continue;
      if (seg.retransmits === 0 && sackedAbove >= threshold) {
        this.#declareLost(now, seg, LossCause.Fast);
      } else if (seg.sentAt <= rack.xmitTime) {
        if (now >= seg.sentAt + lossDelay) this.#declareLost(now, seg, LossCause.Fast);
        else if (seg.sentAt + lossDelay < deadline) deadline = seg.sentAt + lossDelay;
      }
    }
    // Above it only the time rule applies, but it does (RFC 8985 §6.2 looks at every segment sent
    // before RACK.xmit_ts): an acknowledged retransmission sent after a lost tail segment shows that
    // the tail was lost. A segment sent at RACK.xmit_ts itself counts as sent after it (RFC 8985's
    // tie-break by sequence number: it is above every acknowledged one). The first never-resent
    // segment sent at or after RACK.xmit_ts ends the scan, since every later segment was sent later
    // still; so in a bulk transfer without timeouts this looks at one segment.
    for (let s = end + 1; s < sent.nxt; s++) {
      const seg = sent.get(s);
      if (!seg) continue;
      if (seg.sentAt >= rack.xmitTime) {
        if (seg.retransmits === 0) break;
        continue;
      }
      if (!seg.inFlight) continue;
      if (now >= seg.sentAt + lossDelay) this.#declareLost(now, seg, LossCause.Fast);
      else if (seg.sentAt + lossDelay < deadline) deadline = seg.sentAt + lossDelay;
    }
    this.#rackDeadline = deadline;
  }

  #declareLost(now: Instant, seg: SentSegment, cause: LossCause): void {
    this.sent.markLost(seg);
    this.#lost += seg.size;
    seg.lossCause = cause;
    this.#lostQueue.push(seg);
    if (seg.sentAt > this.#recoveryStart) {
      // A new congestion event: once per round trip of losses (RFC 9002 §7.3.2).
      this.#recoveryStart = now;
      this.#inRecovery = true;
      this.#counters.congestionEvents++;
      this.cc.onCongestionEvent(now, this.sent.bytesInFlight);
    }
  }

  // ----- Timers --------------------------------------------------------------

  /** Runs the RACK and tail-loss-probe timers due at `now` (the RTO is `onRetransmissionTimeout`). */
  onTimeout(now: Instant): void {
    if (now >= this.#rackDeadline) {
      this.#rackDeadline = NEVER;
      this.#detectLosses(now);
    }
    if (now >= this.#tlpDeadline) {
      this.#tlpDeadline = NEVER;
      this.#tlpPending = true;
    }
  }

  /** True when the retransmission timer is due at `now`. */
  rtoDue(now: Instant): boolean {
    return now >= this.#rtoDeadline;
  }

  /**
   * The retransmission timer fired. When an ACK delivered new data within the
   * last RTO, the path is alive and the timer only caught a lost retransmission
   * that RACK could not see yet: the oldest segment and those overdue by RACK's
   * measure are declared lost (RFC 8985 §6.3), and the controller sees a
   * congestion event, not a timeout. Otherwise every unacknowledged segment is
   * declared lost and the controller collapses its window. Either way the timer
   * backs off. False, and nothing else changes, when this timeout exceeds
   * maxRetransmissions: the connection must give up.
   */
  onRetransmissionTimeout(now: Instant): boolean {
    this.#counters.rtoCount++;
    if (++this.#consecutiveRtos > this.#config.maxRetransmissions) return false;
    const sent = this.sent;
    const alive = now - this.#progressAt < this.#rtt.rto;
    const overdue = now - this.#rack.rtt - this.#rack.reorderingWindow(this.#rtt.minRtt, this.#rtt.srtt);
    this.#lostQueue = [];
    this.#lostHead = 0;
    sent.forEachIn(sent.una, sent.nxt, (seg) => {
      if (seg.sacked) return;
      if (alive && seg.inFlight && seg.seq !== sent.una && seg.sentAt > overdue) return;
      sent.markLost(seg);
      seg.lossCause = LossCause.Timeout;
      this.#lostQueue.push(seg);
    });
    if (alive) {
      // Timed out while SACKs kept arriving (a head lost three times in a row at 10 % loss, while
      // RACK repaired it): collapsing to the loss window and resending a whole flight that had
      // mostly arrived cost BBR two round trips of sending and a BDP of needless retransmissions.
      this.#counters.congestionEvents++;
      this.cc.onCongestionEvent(now, sent.bytesInFlight);
      this.#inRecovery = true;
    } else {
      // RFC 6298 §5.4–5.6: back off and resend; with SACK, everything unacknowledged is presumed lost.
      // `first`: the first collapse since cumAck advanced (timeouts while alive did not collapse).
      this.cc.onRetransmissionTimeout(now, ++this.#silentRtos === 1);
      this.#inRecovery = false; // slow start again from the loss window
    }
    this.#resendNow = true;
    this.#recoveryStart = now; // losses of earlier segments belong to this episode
    this.#rtoBackoff++;
    this.#rtoDeadline = sent.count > 0 ? now + this.#rtt.backedOff(this.#rtoBackoff) : NEVER;
    this.#tlpDeadline = NEVER;
    this.#tlpPending = false;
    this.#rackDeadline = NEVER;
    this.#dupAcks = 0;
    return true;
  }

  /** Stops the loss timers once nothing is outstanding (our FIN was acknowledged). */
  clearTimers(): void {
    if (this.sent.count > 0) return;
    this.#rtoDeadline = NEVER;
    this.#tlpDeadline = NEVER;
    this.#rackDeadline = NEVER;
  }

  /** The connection closed: nothing is resent and no loss timer runs any more. */
  stop(): void {
    this.#lostQueue = [];
    this.#lostHead = 0;
    this.#copies = [];
    this.#copiesHead = 0;
    this.#rtoDeadline = this.#tlpDeadline = this.#rackDeadline = NEVER;
  }
}
