/** 32-bit wire sequence numbers: wrapping, unwrapping near an expected value, serial comparison. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { seqCompare, unwrapSeq, wrapSeq } from "../../src/core/wire/seq.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0x5e9) | 0;
const SPAN = 2 ** 32;
const HALF = 2 ** 31;

test("wrapSeq keeps the low 32 bits", () => {
  assert.equal(wrapSeq(0), 0);
  assert.equal(wrapSeq(SPAN - 1), 0xffffffff);
  assert.equal(wrapSeq(SPAN), 0);
  assert.equal(wrapSeq(SPAN + 7), 7);
  assert.equal(wrapSeq(2 ** 33 + 3), 3);
  assert.equal(wrapSeq(2 ** 50 + 0x80000000), 0x80000000);
  assert.equal(wrapSeq(2 ** 53 - 1), 0xffffffff);
});

test("unwrapSeq crosses the 2^32 boundary forwards", () => {
  const expected = SPAN - 5;
  for (let w = 0; w <= 10; w++) assert.equal(unwrapSeq(w, expected), SPAN + w, `wire ${w}`);
  for (let w = SPAN - 10; w < SPAN; w++) assert.equal(unwrapSeq(w, expected), w, `wire ${w}`);
});

test("unwrapSeq crosses the boundary backwards", () => {
  assert.equal(unwrapSeq(0xfffffffe, 2 ** 33 + 3), 2 ** 33 - 2);
  assert.equal(unwrapSeq(0xffffffff, SPAN), SPAN - 1);
  assert.equal(unwrapSeq(0, SPAN + 2), SPAN);
});

test("unwrapSeq never goes negative near zero", () => {
  assert.equal(unwrapSeq(0xffffffff, 0), 0xffffffff);
  assert.equal(unwrapSeq(0xfffffff0, 5), 0xfffffff0);
  assert.equal(unwrapSeq(3, 5), 3);
  assert.equal(unwrapSeq(HALF + 10, 5), HALF + 10);
});

test("unwrapSeq picks the value within half the span of expected", () => {
  const e = 10 * SPAN + 1000;
  assert.equal(unwrapSeq(wrapSeq(e + HALF - 1), e), e + HALF - 1);
  assert.equal(unwrapSeq(wrapSeq(e - HALF + 1), e), e - HALF + 1);
  assert.equal(unwrapSeq(wrapSeq(e), e), e);
});

test("exactly half a span away is resolved forwards (RFC 9000 §A.3 tie rule)", () => {
  for (const e of [HALF, SPAN, 5 * SPAN + 17, 2 ** 45 + HALF]) {
    assert.equal(unwrapSeq(wrapSeq(e + HALF), e), e + HALF);
    assert.equal(unwrapSeq(wrapSeq(e - HALF), e), e + HALF, "e − 2^31 and e + 2^31 share a wire value");
  }
});

test("property: unwrapSeq(wrapSeq(expected + delta), expected) === expected + delta", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.integer({ min: 0, max: 2 ** 50 - 1 }),
        fc.integer({ min: 0, max: 64 }).map((k) => k * SPAN),
        fc.integer({ min: 1, max: 64 }).map((k) => k * SPAN - 1),
        fc.integer({ min: 0, max: 64 }).map((k) => k * SPAN + HALF),
      ),
      fc.oneof(fc.integer({ min: -(HALF - 1), max: HALF - 1 }), fc.constantFrom(-(HALF - 1), HALF - 1, -1, 0, 1)),
      (expected, delta) => {
        const actual = expected + delta;
        fc.pre(actual >= 0);
        assert.equal(unwrapSeq(wrapSeq(actual), expected), actual);
      },
    ),
    { seed: FC_SEED, numRuns: 5000 },
  );
});

test("property: unwrapSeq's result has the wire's low bits and lies within half a span", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 2 ** 50 }), (wire, expected) => {
      const u = unwrapSeq(wire, expected);
      assert.ok(Number.isSafeInteger(u) && u >= 0);
      assert.equal(wrapSeq(u), wire);
      assert.ok(Math.abs(u - expected) <= HALF || u < SPAN, `${u} too far from ${expected}`);
    }),
    { seed: FC_SEED, numRuns: 3000 },
  );
});

test("seqCompare is serial-number order (RFC 1982)", () => {
  assert.equal(seqCompare(5, 5), 0);
  assert.ok(seqCompare(4, 5) < 0);
  assert.ok(seqCompare(5, 4) > 0);
  assert.ok(seqCompare(0, 0xffffffff) > 0, "0 follows 2^32-1");
  assert.ok(seqCompare(0xffffffff, 0) < 0);
  assert.ok(seqCompare(3, 0xfffffff0) > 0);
  assert.ok(seqCompare(0x7fffffff, 0) > 0);
  assert.ok(seqCompare(0x80000001, 0) < 0, "more than half a span ahead is behind");
});

test("property: seqCompare agrees with the sign of the unwrapped difference", () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: -(HALF - 1), max: HALF - 1 }), (a, delta) => {
      const b = a + delta;
      fc.pre(b >= 0);
      const c = seqCompare(wrapSeq(b), wrapSeq(a));
      assert.equal(Math.sign(c), Math.sign(delta));
      assert.equal(c, delta);
    }),
    { seed: FC_SEED, numRuns: 3000 },
  );
});
