/** The anti-replay window: edge cases, and a fast-check property against a Set-based model. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from "../../src/core/crypto/replay-window.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0x7e91) | 0;

/** The specification: accept n iff unseen and (nothing seen yet or n > highest - size). */
class ModelWindow {
  readonly #seen = new Set<number>();
  #top = -1;
  constructor(readonly size: number) {}
  check(pn: number): boolean {
    if (!Number.isSafeInteger(pn) || pn < 0) return false;
    return !this.#seen.has(pn) && (this.#top < 0 || pn > this.#top - this.size);
  }
  accept(pn: number): boolean {
    if (!this.check(pn)) return false;
    this.#seen.add(pn);
    this.#top = Math.max(this.#top, pn);
    return true;
  }
}

test("fresh numbers are accepted once; duplicates are not", () => {
  const w = new ReplayWindow();
  assert.equal(w.size, DEFAULT_REPLAY_WINDOW);
  assert.equal(w.highest, -1);
  assert.ok(w.check(0));
  assert.ok(w.accept(0));
  assert.ok(!w.check(0));
  assert.ok(!w.accept(0));
  assert.ok(w.accept(5));
  assert.ok(w.accept(3));
  assert.ok(!w.accept(3));
  assert.ok(w.accept(4));
  assert.equal(w.highest, 5);
});

test("exactly `size` numbers below the highest are tracked; older ones are refused", () => {
  for (const size of [32, 64, 128, 1024]) {
    const w = new ReplayWindow(size);
    const top = 10_000;
    assert.ok(w.accept(top));
    assert.ok(!w.check(top - size), `size ${size}: highest - size is outside`);
    assert.ok(w.check(top - size + 1), `size ${size}: highest - size + 1 is inside`);
    assert.ok(w.accept(top - size + 1));
    assert.ok(!w.accept(top - size + 1));
    // Moving the top by one pushes the oldest slot out.
    assert.ok(w.accept(top + 1));
    assert.ok(!w.check(top - size + 1));
    assert.ok(w.check(top - size + 2));
  }
});

test("a jump further than the window forgets everything before it", () => {
  const w = new ReplayWindow(64);
  for (let pn = 0; pn < 64; pn++) assert.ok(w.accept(pn));
  assert.ok(w.accept(1000));
  for (let pn = 1000 - 63; pn < 1000; pn++) assert.ok(w.check(pn), `pn ${pn}`);
  assert.ok(!w.check(936));
  assert.ok(!w.check(63));
});

test("bits from a previous lap of the ring never leak into new blocks", () => {
  const w = new ReplayWindow(32);
  // Fill every slot of the two-block ring, then advance block by block.
  for (let pn = 0; pn < 64; pn++) w.accept(pn);
  for (let base = 64; base < 64 * 10; base += 32) {
    assert.ok(w.accept(base + 31));
    for (let pn = base; pn < base + 31; pn++) assert.ok(w.check(pn), `pn ${pn} wrongly marked as seen`);
  }
});

test("invalid numbers are refused, large ones up to 2^53 - 1 work", () => {
  const w = new ReplayWindow();
  for (const pn of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) assert.ok(!w.check(pn), String(pn));
  assert.ok(!w.accept(-1));
  const big = Number.MAX_SAFE_INTEGER;
  assert.ok(w.accept(big - 40));
  assert.ok(w.accept(big));
  assert.ok(!w.accept(big));
  assert.ok(w.accept(big - 1));
  assert.ok(!w.accept(big - 40));
  assert.ok(w.accept(big - 39));
  assert.equal(w.highest, big);
});

test("window sizes must be multiples of 32", () => {
  for (const size of [0, 16, 33, 100, 1.5 * 32, 2 ** 21]) assert.throws(() => new ReplayWindow(size), RangeError);
});

test("property: the window agrees with a Set model on every check and accept", () => {
  const op = fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 0, max: 24 }).map((d) => ({ kind: "ahead" as const, d })) },
    { weight: 5, arbitrary: fc.integer({ min: 0, max: 300 }).map((d) => ({ kind: "behind" as const, d })) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 5000 }).map((d) => ({ kind: "jump" as const, d })) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 40 }).map((d) => ({ kind: "abs" as const, d })) },
  );
  fc.assert(
    fc.property(fc.constantFrom(32, 64, 96, 256), fc.array(op, { minLength: 50, maxLength: 400 }), (size, ops) => {
      const w = new ReplayWindow(size);
      const m = new ModelWindow(size);
      let top = 0;
      for (const o of ops) {
        const pn =
          o.kind === "ahead" ? top + o.d : o.kind === "behind" ? top - o.d : o.kind === "jump" ? top + o.d : o.d;
        assert.equal(w.check(pn), m.check(pn), `check(${pn})`);
        assert.equal(w.accept(pn), m.accept(pn), `accept(${pn})`);
        top = Math.max(top, w.highest);
      }
    }),
    { seed: FC_SEED, numRuns: 300 },
  );
});
