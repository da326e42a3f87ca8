/** RangeSet: merging, membership, removal, and a model test against Set<number>. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { RangeSet } from "../../src/core/connection/range-set.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0x4a5) | 0;

function ranges(s: RangeSet): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < s.count; i++) out.push([s.start(i), s.end(i)]);
  return out;
}

/** Sorted, disjoint, non-adjacent, non-empty. */
function assertCanonical(s: RangeSet): void {
  const r = ranges(s);
  for (let i = 0; i < r.length; i++) {
    assert.ok(r[i][0] < r[i][1], `range ${i} non-empty`);
    if (i > 0) assert.ok(r[i - 1][1] < r[i][0], `ranges ${i - 1} and ${i} separated by a gap`);
  }
}

test("empty set", () => {
  const s = new RangeSet();
  assert.equal(s.count, 0);
  assert.equal(s.has(0), false);
  s.removeBelow(10);
  assert.equal(s.count, 0);
});

test("add keeps ranges sorted and disjoint", () => {
  const s = new RangeSet();
  assert.equal(s.add(20, 25), true);
  assert.equal(s.add(5, 8), true);
  assert.equal(s.add(40, 41), true);
  assert.deepEqual(ranges(s), [
    [5, 8],
    [20, 25],
    [40, 41],
  ]);
});

test("adjacent ranges merge on either side", () => {
  const s = new RangeSet();
  s.add(10, 20);
  s.add(20, 30); // touches the end
  assert.deepEqual(ranges(s), [[10, 30]]);
  s.add(5, 10); // touches the start
  assert.deepEqual(ranges(s), [[5, 30]]);
  s.add(40, 50);
  s.add(30, 40); // fills the gap exactly
  assert.deepEqual(ranges(s), [[5, 50]]);
});

test("overlapping ranges merge, including ones spanning several", () => {
  const s = new RangeSet();
  s.add(10, 20);
  s.add(30, 40);
  s.add(50, 60);
  s.add(15, 35);
  assert.deepEqual(ranges(s), [
    [10, 40],
    [50, 60],
  ]);
  s.add(0, 100);
  assert.deepEqual(ranges(s), [[0, 100]]);
});

test("duplicates and sub-ranges return false and change nothing", () => {
  const s = new RangeSet();
  s.add(10, 20);
  assert.equal(s.add(10, 20), false);
  assert.equal(s.add(12, 15), false);
  assert.equal(s.add(19, 20), false);
  assert.equal(s.add(10, 11), false);
  assert.deepEqual(ranges(s), [[10, 20]]);
  assert.equal(s.add(19, 21), true, "partly new");
  assert.deepEqual(ranges(s), [[10, 21]]);
});

test("empty and reversed ranges are ignored", () => {
  const s = new RangeSet();
  assert.equal(s.add(5, 5), false);
  assert.equal(s.add(9, 3), false);
  assert.equal(s.count, 0);
});

test("has() is half-open", () => {
  const s = new RangeSet();
  s.add(10, 20);
  s.add(30, 31);
  assert.equal(s.has(9), false);
  assert.equal(s.has(10), true);
  assert.equal(s.has(19), true);
  assert.equal(s.has(20), false);
  assert.equal(s.has(25), false);
  assert.equal(s.has(30), true);
  assert.equal(s.has(31), false);
});

test("removeBelow drops whole ranges and trims the straddling one", () => {
  const s = new RangeSet();
  s.add(10, 20);
  s.add(30, 40);
  s.add(50, 60);
  s.removeBelow(20);
  assert.deepEqual(ranges(s), [
    [30, 40],
    [50, 60],
  ]);
  s.removeBelow(35);
  assert.deepEqual(ranges(s), [
    [35, 40],
    [50, 60],
  ]);
  s.removeBelow(0);
  assert.equal(s.count, 2);
  s.removeBelow(1000);
  assert.equal(s.count, 0);
});

test("clear", () => {
  const s = new RangeSet();
  s.add(1, 2);
  s.add(5, 9);
  s.clear();
  assert.equal(s.count, 0);
  assert.equal(s.has(1), false);
});

test("large unwrapped values beyond 2^32", () => {
  const s = new RangeSet();
  const b = 2 ** 40;
  s.add(b + 1, b + 3);
  s.add(b + 3, b + 4);
  assert.deepEqual(ranges(s), [[b + 1, b + 4]]);
  assert.equal(s.has(b), false);
  assert.equal(s.has(b + 3), true);
});

type Op = { kind: "add"; start: number; len: number } | { kind: "removeBelow"; v: number } | { kind: "has"; v: number };

test("model: behaves like a Set<number>", () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        kind: fc.constant("add" as const),
        start: fc.integer({ min: 0, max: 200 }),
        len: fc.integer({ min: -2, max: 12 }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant("removeBelow" as const), v: fc.integer({ min: 0, max: 210 }) }),
    },
    { weight: 3, arbitrary: fc.record({ kind: fc.constant("has" as const), v: fc.integer({ min: -1, max: 215 }) }) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
      const s = new RangeSet();
      const model = new Set<number>();
      for (const o of ops) {
        if (o.kind === "add") {
          const end = o.start + o.len;
          let fresh = false;
          for (let v = o.start; v < end; v++) {
            if (!model.has(v)) fresh = true;
            model.add(v);
          }
          assert.equal(s.add(o.start, end), fresh, `add(${o.start}, ${end})`);
        } else if (o.kind === "removeBelow") {
          for (const v of [...model]) if (v < o.v) model.delete(v);
          s.removeBelow(o.v);
        } else {
          assert.equal(s.has(o.v), model.has(o.v), `has(${o.v})`);
        }
        assertCanonical(s);
      }
      // Full comparison at the end.
      const members: number[] = [];
      for (const [a, b] of ranges(s)) for (let v = a; v < b; v++) members.push(v);
      assert.deepEqual(
        members,
        [...model].sort((a, b) => a - b),
      );
      for (let v = -1; v <= 215; v++) assert.equal(s.has(v), model.has(v));
    }),
    { seed: FC_SEED, numRuns: 500 },
  );
});
