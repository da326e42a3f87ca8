/** Reassembly of fragmented segments: any order, overlaps, repeats, and its bounds. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Fragment, MAX_PARTIAL_SEGMENTS, Reassembly } from "../../src/core/connection/reassembly.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0x4eab) | 0;

function pattern(n: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);
}

test("fragments in any order, overlapping and repeated, give back the segment once every byte arrived", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 5000 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 1500 })), { minLength: 0, maxLength: 20 }),
      fc.integer({ min: 1, max: 1500 }),
      fc.nat(),
      (length, extra, cut, seed) => {
        const whole = pattern(length);
        // A full covering cut in pieces of `cut` bytes, plus random overlapping pieces, shuffled.
        const pieces: [number, number][] = [];
        for (let o = 0; o < length; o += cut) pieces.push([o, Math.min(cut, length - o)]);
        for (const [at, n] of extra) {
          const o = at % length;
          pieces.push([o, Math.min(n, length - o)]);
        }
        let s = seed;
        for (let i = pieces.length - 1; i > 0; i--) {
          s = (s * 1103515245 + 12345) >>> 0;
          const j = s % (i + 1);
          [pieces[i], pieces[j]] = [pieces[j], pieces[i]];
        }
        const r = new Reassembly();
        const covered = new Uint8Array(length);
        let completed = 0;
        for (const [o, n] of pieces) {
          if (completed) break;
          const result = r.add(42, o, length, whole.subarray(o, o + n));
          covered.fill(1, o, o + n);
          if (result === Fragment.Complete) completed++;
          else assert.equal(result, Fragment.Pending);
          assert.equal(
            result === Fragment.Complete,
            covered.every((b) => b === 1),
          );
        }
        assert.equal(completed, 1);
        assert.deepEqual(r.payload, whole);
        assert.equal(r.size, 0);
      },
    ),
    { seed: FC_SEED, numRuns: 200 },
  );
});

test("a fragment whose segment length disagrees with earlier ones is refused", () => {
  const r = new Reassembly();
  assert.equal(r.add(1, 0, 100, pattern(50)), Fragment.Pending);
  assert.equal(r.add(1, 50, 120, pattern(50)), Fragment.Inconsistent);
  assert.equal(r.add(1, 50, 100, pattern(100).subarray(50)), Fragment.Complete);
});

test("at most MAX_PARTIAL_SEGMENTS segments are collected at once; discarding makes room", () => {
  const r = new Reassembly();
  for (let seq = 0; seq < MAX_PARTIAL_SEGMENTS; seq++)
    assert.equal(r.add(seq, 0, 2000, pattern(1000)), Fragment.Pending);
  assert.equal(r.add(999, 0, 2000, pattern(1000)), Fragment.Full);
  // Fragments of segments already in progress still count.
  assert.equal(r.add(3, 1000, 2000, pattern(1000)), Fragment.Complete);
  assert.equal(r.add(999, 0, 2000, pattern(1000)), Fragment.Pending);
  r.discardBelow(10); // 0–9 but 3, which is done
  assert.equal(r.size, MAX_PARTIAL_SEGMENTS - 9);
  r.discard(999);
  assert.equal(r.size, MAX_PARTIAL_SEGMENTS - 10);
});
