/** Seed parsing, description, derivation, and the test helper that reports seeds. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { deriveSeed, describeSeed, normalizeSeed, resolveSeed } from "../../src/sim/seed.js";
import { reportSeedOnFailure, withSeed } from "../helpers/seed.js";

test("resolveSeed parses decimal, negative and hex values and falls back when unset", () => {
  assert.equal(resolveSeed(undefined, 7), 7);
  assert.equal(resolveSeed("", 7), 7);
  assert.equal(resolveSeed("  ", 7), 7);
  assert.equal(resolveSeed("123", 7), 123);
  assert.equal(resolveSeed(" 0x10 ", 7), 16);
  assert.equal(resolveSeed("-1", 7), 0xffffffff);
  assert.equal(resolveSeed("4294967296", 7), 0);
  assert.throws(() => resolveSeed("abc", 7), RangeError);
  assert.throws(() => resolveSeed("1.5", 7), RangeError);
  assert.throws(() => resolveSeed("99999999999999999999", 7), RangeError);
});

test("describeSeed names the replay variable", () => {
  assert.equal(describeSeed(42), "seed=42 (replay with RUDP_SEED=42)");
  assert.equal(normalizeSeed(-2), 0xfffffffe);
});

test("deriveSeed is a pure function of seed and label", () => {
  assert.equal(deriveSeed(1, "x"), deriveSeed(1, "x"));
  const all = new Set([
    deriveSeed(1, "x"),
    deriveSeed(2, "x"),
    deriveSeed(1, "y"),
    deriveSeed(1, "link a > b"),
    deriveSeed(1, "link b > a"),
  ]);
  assert.equal(all.size, 5);
});

test("reportSeedOnFailure prefixes sync and async failures with the seed", async () => {
  assert.equal(
    reportSeedOnFailure(9, () => 3),
    3,
  );
  assert.throws(
    () =>
      reportSeedOnFailure(9, () => {
        throw new Error("boom");
      }),
    { message: "[seed=9] replay with RUDP_SEED=9: boom" },
  );
  await assert.rejects(
    reportSeedOnFailure(9, async () => {
      throw new Error("later");
    }),
    { message: "[seed=9] replay with RUDP_SEED=9: later" },
  );
  assert.throws(
    () =>
      reportSeedOnFailure(9, () => {
        assert.equal(1, 2);
      }),
    (err: Error) =>
      err.message.startsWith("[seed=9] replay with RUDP_SEED=9: ") && (err.stack ?? "").includes("[seed=9]"),
  );
});

test("withSeed uses RUDP_SEED when set", () => {
  const saved = process.env.RUDP_SEED;
  try {
    process.env.RUDP_SEED = "77";
    assert.equal(withSeed(1, (seed) => seed)(), 77);
    delete process.env.RUDP_SEED;
    assert.equal(withSeed(1, (seed) => seed)(), 1);
  } finally {
    if (saved === undefined) delete process.env.RUDP_SEED;
    else process.env.RUDP_SEED = saved;
  }
});
