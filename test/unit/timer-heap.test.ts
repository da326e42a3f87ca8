/** TimerHeap: unit cases and a model-based test against a naive Map. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { NEVER } from "../../src/core/time.js";
import { TimerHeap } from "../../src/core/timer-heap.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0x7e4) | 0;

test("empty heap", () => {
  const h = new TimerHeap<string>();
  assert.equal(h.size, 0);
  assert.equal(h.peekTime(), NEVER);
  assert.equal(h.popDue(Number.MAX_SAFE_INTEGER), undefined);
  h.remove("x");
  assert.equal(h.size, 0);
});

test("pops in deadline order, only when due", () => {
  const h = new TimerHeap<string>();
  h.schedule("c", 30);
  h.schedule("a", 10);
  h.schedule("b", 20);
  assert.equal(h.size, 3);
  assert.equal(h.peekTime(), 10);
  assert.equal(h.popDue(9), undefined);
  assert.equal(h.popDue(10), "a");
  assert.equal(h.popDue(10), undefined);
  assert.equal(h.popDue(100), "b");
  assert.equal(h.popDue(100), "c");
  assert.equal(h.size, 0);
  assert.equal(h.peekTime(), NEVER);
});

test("schedule moves an item; NEVER removes it", () => {
  const h = new TimerHeap<string>();
  h.schedule("a", 10);
  h.schedule("b", 20);
  h.schedule("a", 30);
  assert.equal(h.size, 2, "moving does not duplicate");
  assert.equal(h.peekTime(), 20);
  h.schedule("a", 5);
  assert.equal(h.peekTime(), 5);
  h.schedule("a", NEVER);
  assert.equal(h.size, 1);
  assert.equal(h.peekTime(), 20);
  h.schedule("zzz", NEVER);
  assert.equal(h.size, 1);
  h.remove("b");
  assert.equal(h.size, 0);
});

type Op =
  | { k: "schedule"; item: number; time: number }
  | { k: "never"; item: number }
  | { k: "remove"; item: number }
  | { k: "pop"; now: number };

test("model: matches a naive Map of deadlines", () => {
  const item = fc.integer({ min: 0, max: 15 });
  const time = fc.integer({ min: 0, max: 60 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ k: fc.constant("schedule" as const), item, time }) },
    { weight: 1, arbitrary: fc.record({ k: fc.constant("never" as const), item }) },
    { weight: 2, arbitrary: fc.record({ k: fc.constant("remove" as const), item }) },
    { weight: 3, arbitrary: fc.record({ k: fc.constant("pop" as const), now: time }) },
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const h = new TimerHeap<number>();
      const model = new Map<number, number>();
      const minTime = () => (model.size === 0 ? NEVER : Math.min(...model.values()));
      for (const o of ops) {
        switch (o.k) {
          case "schedule":
            h.schedule(o.item, o.time);
            model.set(o.item, o.time);
            break;
          case "never":
            h.schedule(o.item, NEVER);
            model.delete(o.item);
            break;
          case "remove":
            h.remove(o.item);
            model.delete(o.item);
            break;
          case "pop": {
            const min = minTime();
            const got = h.popDue(o.now);
            if (min > o.now) {
              assert.equal(got, undefined, `nothing due at ${o.now}`);
            } else {
              assert.ok(got !== undefined, `something due at ${o.now}`);
              assert.equal(model.get(got), min, "popped an item with the earliest deadline");
              model.delete(got);
            }
            break;
          }
        }
        assert.equal(h.size, model.size);
        assert.equal(h.peekTime(), minTime());
      }
      // Draining returns every remaining item in non-decreasing deadline order.
      let last = -1;
      while (h.size > 0) {
        const t = h.peekTime();
        const got = h.popDue(t);
        assert.ok(got !== undefined);
        assert.equal(model.get(got), t);
        assert.ok(t >= last);
        last = t;
        model.delete(got);
      }
      assert.equal(model.size, 0);
    }),
    { seed: FC_SEED, numRuns: 500 },
  );
});

test("object items are tracked by identity", () => {
  const h = new TimerHeap<{ id: number }>();
  const a = { id: 1 };
  const b = { id: 1 };
  h.schedule(a, 5);
  h.schedule(b, 3);
  assert.equal(h.size, 2);
  h.remove(a);
  assert.equal(h.popDue(10), b);
  assert.equal(h.size, 0);
});
