/** RTT estimator and RTO, RFC 6298 (with RFC 9002's ACK-delay adjustment). */

import assert from "node:assert/strict";
import { test } from "node:test";
import { RttEstimator } from "../../src/core/connection/rtt.js";
import { MS, SECOND } from "../../src/core/time.js";

const est = (initial = 1 * SECOND, min = 200 * MS, max = 60 * SECOND) => new RttEstimator(initial, min, max);

test("before any sample: initial RTO (clamped), zero srtt/minRtt", () => {
  const r = est();
  assert.equal(r.hasSample, false);
  assert.equal(r.rto, 1 * SECOND);
  assert.equal(r.srtt, 0);
  assert.equal(r.minRtt, 0);
  assert.equal(est(10 * MS).rto, 200 * MS, "initial RTO clamped up to minRto");
  assert.equal(est(100 * SECOND).rto, 60 * SECOND, "initial RTO clamped down to maxRto");
});

test("first sample: srtt = R, rttvar = R/2, rto = srtt + 4·rttvar", () => {
  const r = est(1 * SECOND, 1 * MS);
  r.update(100 * MS, 0);
  assert.equal(r.hasSample, true);
  assert.equal(r.srtt, 100_000);
  assert.equal(r.rttvar, 50_000);
  assert.equal(r.rto, 300_000);
  assert.equal(r.minRtt, 100_000);
  assert.equal(r.latest, 100_000);
});

test("first sample ignores the ACK delay", () => {
  const r = est(1 * SECOND, 1 * MS);
  r.update(100 * MS, 30 * MS);
  assert.equal(r.srtt, 100_000);
  assert.equal(r.rttvar, 50_000);
});

test("subsequent samples: rttvar with beta = 1/4 (from the old srtt), srtt with alpha = 1/8", () => {
  const r = est(1 * SECOND, 1 * MS);
  r.update(100_000, 0);
  r.update(120_000, 0);
  // rttvar = 3/4·50000 + 1/4·|100000 − 120000| = 42500; srtt = 7/8·100000 + 1/8·120000 = 102500
  assert.equal(r.rttvar, 42_500);
  assert.equal(r.srtt, 102_500);
  assert.equal(r.rto, 102_500 + 4 * 42_500);
  r.update(62_500, 0);
  // rttvar = 3/4·42500 + 1/4·|102500 − 62500| = 31875 + 10000 = 41875; srtt = 89687.5 + 7812.5 = 97500
  assert.equal(r.rttvar, 41_875);
  assert.equal(r.srtt, 97_500);
  assert.equal(r.rto, 97_500 + 4 * 41_875);
  assert.equal(r.minRtt, 62_500);
  assert.equal(r.latest, 62_500);
});

test("minimum RTO clamp", () => {
  const r = est(1 * SECOND, 200 * MS);
  r.update(1 * MS, 0);
  assert.equal(r.srtt, 1000);
  assert.equal(r.rto, 200 * MS);
});

test("maximum RTO clamp", () => {
  const r = est(1 * SECOND, 200 * MS, 60 * SECOND);
  r.update(50 * SECOND, 0); // 50 s + 4 × 25 s = 150 s
  assert.equal(r.rto, 60 * SECOND);
});

test("variance term is at least the clock granularity G = 1 µs", () => {
  const r = est(1 * SECOND, 1, 60 * SECOND);
  for (let i = 0; i < 200; i++) r.update(1000, 0);
  assert.equal(r.srtt, 1000);
  assert.ok(r.rttvar * 4 < 1);
  assert.equal(r.rto, 1001);
});

test("non-positive samples count as 1 µs", () => {
  const r = est(1 * SECOND, 1, 60 * SECOND);
  r.update(0, 0);
  assert.equal(r.srtt, 1);
  assert.equal(r.minRtt, 1);
  r.update(-50, 0);
  assert.equal(r.latest, 1);
  r.update(Number.NaN, 0);
  assert.equal(r.latest, 1);
  assert.equal(r.srtt, 1);
});

test("backoff doubles the RTO and is capped at maxRto", () => {
  const r = est(1 * SECOND, 200 * MS, 60 * SECOND);
  assert.equal(r.backedOff(0), 1 * SECOND);
  assert.equal(r.backedOff(1), 2 * SECOND);
  assert.equal(r.backedOff(5), 32 * SECOND);
  assert.equal(r.backedOff(6), 60 * SECOND);
  assert.equal(r.backedOff(100), 60 * SECOND);
  r.update(100 * MS, 0); // rto = 300 ms
  assert.equal(r.backedOff(0), 300 * MS);
  assert.equal(r.backedOff(3), 2400 * MS);
  assert.equal(r.backedOff(8), 60 * SECOND); // 76.8 s capped
});

test("ACK delay is subtracted when the result stays at or above minRtt", () => {
  const r = est(1 * SECOND, 1 * MS);
  r.update(100_000, 0);
  r.update(150_000, 30_000); // adjusted 120000 ≥ minRtt 100000
  assert.equal(r.rttvar, 0.75 * 50_000 + 0.25 * 20_000);
  assert.equal(r.srtt, 0.875 * 100_000 + 0.125 * 120_000);
  assert.equal(r.latest, 150_000, "latest is the raw sample");
});

test("ACK delay is subtracted when the result equals minRtt exactly", () => {
  const r = est(1 * SECOND, 1 * MS);
  r.update(100_000, 0);
  r.update(150_000, 50_000); // adjusted 100000 == minRtt
  assert.equal(r.srtt, 100_000);
  assert.equal(r.rttvar, 37_500);
});

test("ACK delay is ignored when subtracting it would go below minRtt", () => {
  const r = est(1 * SECOND, 1 * MS);
  r.update(100_000, 0);
  r.update(150_000, 60_000); // 90000 < minRtt: use 150000
  assert.equal(r.rttvar, 0.75 * 50_000 + 0.25 * 50_000);
  assert.equal(r.srtt, 0.875 * 100_000 + 0.125 * 150_000);
  assert.equal(r.minRtt, 100_000, "minRtt tracks raw samples");
});

test("a new minimum sample ignores its own ACK delay", () => {
  const r = est(1 * SECOND, 1 * MS);
  r.update(100_000, 0);
  r.update(80_000, 10_000); // minRtt becomes 80000; 70000 < 80000
  assert.equal(r.minRtt, 80_000);
  assert.equal(r.srtt, 0.875 * 100_000 + 0.125 * 80_000);
});
