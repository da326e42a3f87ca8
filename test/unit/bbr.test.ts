/** BBR's reactions to timeouts and to losses during Startup, driven directly with ACK samples. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Bbr } from "../../src/core/congestion/bbr.js";
import type { AckSample } from "../../src/core/congestion/controller.js";
import { MS } from "../../src/core/time.js";

const PACKET = 1200;
const RTT = 50 * MS;

interface Clock {
  now: number;
  delivered: number;
  /** Bytes declared lost so far (AckSample.lost). */
  lost?: number;
}

/**
 * Drives `bbr` with one ACK per packet at `rate` bytes/s for `rounds` round trips of `rtt`, while
 * `lossShare` of the bytes sent are declared lost; returns the clock and the delivered and lost counts.
 */
function feed(bbr: Bbr, start: Clock, rounds: number, rate: number, rtt = RTT, lossShare = 0): Clock {
  let { now, delivered } = start;
  let lost = start.lost ?? 0;
  const perRound = Math.max(4, Math.round((rate * rtt) / 1e6 / PACKET));
  for (let r = 0; r < rounds; r++) {
    const roundStart = delivered;
    for (let i = 0; i < perRound; i++) {
      now += rtt / perRound;
      const prior = roundStart + i * PACKET - perRound * PACKET; // sent one round trip ago
      delivered += PACKET;
      lost += (PACKET * lossShare) / (1 - lossShare);
      bbr.onAck(
        now,
        sample({ delivered, priorDelivered: Math.max(0, prior), deliveryRate: rate, latestRtt: rtt, lost }),
      );
    }
  }
  return { now, delivered, lost };
}

function sample(s: Partial<AckSample>): AckSample {
  return {
    ackedBytes: PACKET,
    bytesInFlight: 0,
    latestRtt: RTT,
    srtt: RTT,
    minRtt: RTT,
    inRecovery: false,
    appLimited: false,
    delivered: 0,
    priorDelivered: 0,
    lost: 0,
    deliveryRate: 0,
    rateAppLimited: false,
    ...s,
  };
}

test("after a timeout BBR restores its window once a packet sent after the timeout is acknowledged", () => {
  const bbr = new Bbr(PACKET, 10);
  const rate = 12_500_000; // 100 Mbit/s
  let clock = feed(bbr, { now: 0, delivered: 0 }, 30, rate);
  assert.equal(bbr.mode, "probe-bw");
  const before = bbr.window;
  assert.ok(before > 500_000, `window ${before}`);
  bbr.onRetransmissionTimeout(clock.now, true);
  assert.equal(bbr.window, 4 * PACKET, "a timeout collapses the window");
  // ACKs of packets sent before the timeout do not end it.
  clock = { now: clock.now + MS, delivered: clock.delivered + PACKET };
  bbr.onAck(clock.now, sample({ delivered: clock.delivered, priorDelivered: clock.delivered - 100 * PACKET }));
  assert.ok(bbr.window < before / 2, `window ${bbr.window} before any post-timeout packet was acknowledged`);
  // The first ACK of a packet sent after it (its prior-delivered count is at least the count at the timeout).
  clock = { now: clock.now + RTT, delivered: clock.delivered + PACKET };
  bbr.onAck(clock.now, sample({ delivered: clock.delivered, priorDelivered: clock.delivered - PACKET }));
  assert.ok(bbr.window >= before, `window ${bbr.window}, was ${before}`);
});

test("a loss in Startup while the RTT has risen (the bottleneck queue overflowing) ends Startup", () => {
  const bbr = new Bbr(PACKET, 10);
  let clock = { now: 0, delivered: 0 };
  for (const rate of [1_000_000, 2_000_000, 4_000_000]) clock = feed(bbr, clock, 1, rate);
  clock = feed(bbr, clock, 1, 8_000_000, 70 * MS);
  assert.equal(bbr.mode, "startup", "a rising RTT alone does not end Startup");
  bbr.onCongestionEvent(clock.now, 0);
  bbr.onAck(clock.now + MS, sample({ delivered: clock.delivered + 10 * PACKET, latestRtt: 70 * MS }));
  assert.equal(bbr.mode, "drain");
});

test("random loss with a flat RTT does not end Startup", () => {
  const bbr = new Bbr(PACKET, 10);
  let clock = { now: 0, delivered: 0 };
  let rate = 1_000_000;
  for (let r = 0; r < 6; r++) {
    clock = feed(bbr, clock, 1, rate);
    bbr.onCongestionEvent(clock.now, 0);
    rate *= 2;
  }
  assert.equal(bbr.mode, "startup");
});

test("ProbeBW's draining phase ends as soon as in flight is down to one BDP, not after a fixed RTprop", () => {
  const bbr = new Bbr(PACKET, 10);
  const rate = 12_500_000;
  let clock = feed(bbr, { now: 0, delivered: 0 }, 30, rate);
  assert.equal(bbr.mode, "probe-bw");
  const bdp = (rate * RTT) / 1e6;
  // Walk the cycle one RTprop at a time (in flight kept above a BDP) until the 0.75 phase.
  for (let i = 0; i < 8 && Math.abs((bbr.pacingRate ?? 0) - 0.75 * rate) > 1; i++) {
    clock = { now: clock.now + RTT + 1, delivered: clock.delivered + PACKET };
    bbr.onAck(
      clock.now,
      sample({
        delivered: clock.delivered,
        priorDelivered: clock.delivered - 2 * PACKET,
        bytesInFlight: 2 * bdp,
        deliveryRate: rate,
      }),
    );
  }
  assert.ok(Math.abs((bbr.pacingRate ?? 0) - 0.75 * rate) <= 1, "reached the 0.75 phase");
  // A millisecond later in flight has fallen to one BDP: the phase ends at once.
  clock = { now: clock.now + MS, delivered: clock.delivered + PACKET };
  bbr.onAck(
    clock.now,
    sample({
      delivered: clock.delivered,
      priorDelivered: clock.delivered - 2 * PACKET,
      bytesInFlight: bdp,
      deliveryRate: rate,
    }),
  );
  assert.ok(Math.abs((bbr.pacingRate ?? 0) - rate) <= 1, `pacing ${bbr.pacingRate}, link ${rate}`);
});

test("ProbeRTT keeps half a BDP in flight (BBRv2), not 4 packets", () => {
  const bbr = new Bbr(PACKET, 10);
  const rate = 12_500_000;
  const clock = feed(bbr, { now: 0, delivered: 0 }, 30, rate);
  assert.equal(bbr.mode, "probe-bw");
  // 10 s later, an RTT sample above RTprop: the RTprop estimate has expired.
  const now = clock.now + 10_100 * MS;
  const delivered = clock.delivered + PACKET;
  bbr.onAck(
    now,
    sample({ delivered, priorDelivered: delivered - PACKET, latestRtt: RTT + 10 * MS, deliveryRate: rate }),
  );
  assert.equal(bbr.mode, "probe-rtt");
  const bdp = (rate * RTT) / 1e6;
  assert.ok(bbr.window >= 0.5 * bdp && bbr.window < bdp, `window ${bbr.window}, BDP ${bdp}`);
});

test("ACKs that arrive in bursts raise the window by the excess they deliver (ACK aggregation), after the pipe is full", () => {
  const bbr = new Bbr(PACKET, 10);
  const rate = 12_500_000;
  let clock = feed(bbr, { now: 0, delivered: 0 }, 30, rate);
  const bdp = (rate * RTT) / 1e6;
  const smooth = bbr.window;
  assert.ok(smooth < 2 * bdp + 10 * PACKET, `smooth ACKs: window ${smooth}, 2·BDP ${2 * bdp}`);
  // An event loop that sleeps 20 ms, then acknowledges 20 ms of data in one go, ten ACKs at the same instant.
  for (let burst = 0; burst < 20; burst++) {
    clock = { now: clock.now + 20 * MS, delivered: clock.delivered };
    const each = (rate * 0.02) / 10;
    for (let i = 0; i < 10; i++) {
      clock.delivered += each;
      bbr.onAck(
        clock.now,
        sample({
          ackedBytes: each,
          delivered: clock.delivered,
          priorDelivered: clock.delivered - bdp,
          deliveryRate: rate,
          bytesInFlight: bdp,
        }),
      );
    }
  }
  assert.ok(bbr.window > smooth + 100_000, `bursty ACKs: window ${bbr.window}, was ${smooth}`);
});

test("in ProbeBW, random loss with a flat RTT raises pacing to BtlBw / (1 − loss), up to 20% loss", () => {
  const bbr = new Bbr(PACKET, 10);
  const rate = 12_500_000;
  let clock = feed(bbr, { now: 0, delivered: 0 }, 20, rate);
  assert.equal(bbr.mode, "probe-bw");
  assert.equal(bbr.randomLoss, 0);
  clock = feed(bbr, clock, 60, rate, RTT, 0.1);
  assert.ok(Math.abs(bbr.randomLoss - 0.1) < 0.005, `estimate ${bbr.randomLoss}`);
  // Whatever the phase's gain, pacing is gain × BtlBw / (1 − 0.1).
  const gain = ((bbr.pacingRate ?? 0) / rate) * (1 - bbr.randomLoss);
  assert.ok(
    [0.75, 1, 1.25].some((g) => Math.abs(gain - g) < 0.001),
    `pacing ${((bbr.pacingRate ?? 0) / rate).toFixed(3)} × BtlBw`,
  );
  assert.ok((bbr.pacingRate ?? 0) > 1.1 * 0.75 * rate);
  feed(bbr, clock, 60, rate, RTT, 0.5);
  assert.ok(bbr.randomLoss <= 0.2, `estimate ${bbr.randomLoss} beyond the cap`);
});

test("losses in rounds that built a queue (RTT above 1.25·RTprop) wind the compensation down", () => {
  const bbr = new Bbr(PACKET, 10);
  const rate = 12_500_000;
  let clock = feed(bbr, { now: 0, delivered: 0 }, 20, rate);
  clock = feed(bbr, clock, 60, rate, RTT, 0.1);
  assert.ok(bbr.randomLoss > 0.09);
  // The same loss with a standing queue: congestion, not random loss.
  feed(bbr, clock, 40, rate, 1.5 * RTT, 0.1);
  assert.ok(bbr.randomLoss < 0.01, `estimate ${bbr.randomLoss}`);
});
