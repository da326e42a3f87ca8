/** BBR's reactions to timeouts and to losses during Startup, driven directly with ACK samples. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Bbr } from "../../src/core/congestion/bbr.js";
import type { AckSample } from "../../src/core/congestion/controller.js";
import { MS } from "../../src/core/time.js";

const PACKET = 1200;
const RTT = 50 * MS;

/** Drives `bbr` with one ACK per packet at `rate` bytes/s for `rounds` round trips of `rtt`; returns the clock and delivered count. */
function feed(bbr: Bbr, start: { now: number; delivered: number }, rounds: number, rate: number, rtt = RTT) {
  let { now, delivered } = start;
  const perRound = Math.max(4, Math.round((rate * rtt) / 1e6 / PACKET));
  for (let r = 0; r < rounds; r++) {
    const roundStart = delivered;
    for (let i = 0; i < perRound; i++) {
      now += rtt / perRound;
      const prior = roundStart + i * PACKET - perRound * PACKET; // sent one round trip ago
      delivered += PACKET;
      bbr.onAck(now, sample({ delivered, priorDelivered: Math.max(0, prior), deliveryRate: rate, latestRtt: rtt }));
    }
  }
  return { now, delivered };
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
