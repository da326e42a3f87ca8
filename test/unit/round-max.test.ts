import assert from "node:assert/strict";
import { test } from "node:test";
import { RoundMax } from "../../src/core/congestion/round-max.js";

test("the maximum covers the last N rounds; samples of one round merge; older rounds drop out", () => {
  const f = new RoundMax(3);
  assert.equal(f.value, 0);
  assert.equal(f.update(1, 5), 5);
  assert.equal(f.update(1, 9), 9);
  assert.equal(f.update(2, 4), 9);
  assert.equal(f.update(3, 2), 9);
  assert.equal(f.update(4, 3), 4, "round 1 left the 3-round window");
  assert.equal(f.update(6, 1), 3);
  assert.equal(f.update(10, 2), 2);
});
