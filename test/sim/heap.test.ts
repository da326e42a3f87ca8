/** EventHeap: ordering by time, FIFO among equal times, against a sorted reference. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { SeededRng } from "../../src/core/rng.js";
import { EventHeap } from "../../src/sim/heap.js";
import { withSeed } from "../helpers/seed.js";

test("empty heap", () => {
  const h = new EventHeap<number>();
  assert.equal(h.size, 0);
  assert.equal(h.peekTime(), Number.POSITIVE_INFINITY);
  assert.equal(h.peek(), undefined);
  assert.equal(h.pop(), undefined);
});

test("equal times pop in insertion order", () => {
  const h = new EventHeap<string>();
  for (const [t, v] of [
    [5, "a"],
    [1, "b"],
    [5, "c"],
    [1, "d"],
    [3, "e"],
    [5, "f"],
  ] as const) {
    h.push(t, v);
  }
  const out: string[] = [];
  while (h.size > 0) out.push(h.pop() as string);
  assert.deepEqual(out, ["b", "d", "e", "a", "c", "f"]);
});

test(
  "interleaved pushes and pops match a stable sort",
  withSeed(200, (seed) => {
    const rng = new SeededRng(seed);
    const h = new EventHeap<number>();
    let pending: { time: number; id: number }[] = [];
    let id = 0;
    for (let round = 0; round < 20_000; round++) {
      if (rng.nextFloat() < 0.55) {
        const time = rng.nextInt(50);
        h.push(time, id);
        pending.push({ time, id: id++ });
      } else if (pending.length > 0) {
        let best = 0;
        for (let i = 1; i < pending.length; i++) if (pending[i].time < pending[best].time) best = i;
        assert.equal(h.peekTime(), pending[best].time);
        assert.equal(h.pop(), pending[best].id);
        pending = pending.filter((_, i) => i !== best);
      }
      assert.equal(h.size, pending.length);
    }
    h.clear();
    assert.equal(h.size, 0);
    assert.equal(h.pop(), undefined);
  }),
);
