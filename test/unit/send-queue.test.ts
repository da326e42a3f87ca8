/** SendQueue: stream coalescing, message fragmentation, FIN, byte accounting. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type SegmentDraft, SendQueue } from "../../src/core/connection/send-queue.js";
import { Flag } from "../../src/core/wire/packet.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0x5e0d) | 0;

/** A draft's whole payload (its one or two pieces), copied out of the reused draft. */
function joined(s: SegmentDraft | undefined): SegmentDraft | undefined {
  if (!s) return undefined;
  const payload = new Uint8Array(s.payload.length + s.tail.length);
  payload.set(s.payload);
  payload.set(s.tail, s.payload.length);
  return { flags: s.flags, payload, tail: new Uint8Array(0) };
}

const bytes = (n: number, fill = 0) => Uint8Array.from({ length: n }, (_, i) => (fill + i) & 0xff);

function drain(q: SendQueue, max: number): SegmentDraft[] {
  const out: SegmentDraft[] = [];
  for (;;) {
    const peek = q.peekSize(max);
    const s = joined(q.cut(max));
    if (!s) {
      assert.equal(peek, -1);
      return out;
    }
    assert.equal(peek, s.payload.length, "peekSize predicts the cut");
    out.push(s);
  }
}

test("empty queue", () => {
  const q = new SendQueue();
  assert.equal(q.isEmpty, true);
  assert.equal(q.bytes, 0);
  assert.equal(q.finQueued, false);
  assert.equal(q.peekSize(100), -1);
  assert.equal(q.cut(100), undefined);
});

test("empty stream writes are ignored", () => {
  const q = new SendQueue();
  q.pushStream(new Uint8Array(0));
  assert.equal(q.isEmpty, true);
  assert.equal(q.cut(100), undefined);
});

test("small stream writes are coalesced into one segment", () => {
  const q = new SendQueue();
  q.pushStream(Uint8Array.of(1, 2, 3));
  q.pushStream(Uint8Array.of(4, 5, 6, 7));
  q.pushStream(Uint8Array.of(8, 9, 10, 11, 12));
  assert.equal(q.bytes, 12);
  const segs = drain(q, 100);
  assert.equal(segs.length, 1);
  assert.equal(segs[0].flags, Flag.DATA);
  assert.deepEqual([...segs[0].payload], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assert.equal(q.bytes, 0);
  assert.equal(q.isEmpty, true);
});

test("stream is cut at maxBytes across write boundaries", () => {
  const q = new SendQueue();
  q.pushStream(bytes(10, 0));
  q.pushStream(bytes(10, 10));
  q.pushStream(bytes(7, 20));
  const segs = drain(q, 8);
  assert.deepEqual(
    segs.map((s) => s.payload.length),
    [8, 8, 8, 3],
  );
  assert.deepEqual(
    segs.flatMap((s) => [...s.payload]),
    [...bytes(27, 0)],
  );
  for (const s of segs) assert.equal(s.flags, Flag.DATA);
});

test("bytes decreases by each cut", () => {
  const q = new SendQueue();
  q.pushStream(bytes(25));
  q.pushMessage(bytes(9));
  assert.equal(q.bytes, 34);
  q.cut(10);
  assert.equal(q.bytes, 24);
  q.cut(10);
  q.cut(10);
  assert.equal(q.bytes, 9);
  q.cut(4);
  assert.equal(q.bytes, 5);
  q.cut(10);
  assert.equal(q.bytes, 0);
  assert.equal(q.isEmpty, true);
});

test("a message is fragmented with MSG on every fragment and MSG_END on the last", () => {
  const q = new SendQueue();
  q.pushMessage(bytes(25, 100));
  const segs = drain(q, 10);
  assert.deepEqual(
    segs.map((s) => [s.flags, s.payload.length]),
    [
      [Flag.DATA | Flag.MSG, 10],
      [Flag.DATA | Flag.MSG, 10],
      [Flag.DATA | Flag.MSG | Flag.MSG_END, 5],
    ],
  );
  assert.deepEqual(
    segs.flatMap((s) => [...s.payload]),
    [...bytes(25, 100)],
  );
});

test("a message that fits exactly is a single MSG|MSG_END segment", () => {
  const q = new SendQueue();
  q.pushMessage(bytes(10));
  const segs = drain(q, 10);
  assert.equal(segs.length, 1);
  assert.equal(segs[0].flags, Flag.DATA | Flag.MSG | Flag.MSG_END);
});

test("an empty message is one empty MSG|MSG_END segment", () => {
  const q = new SendQueue();
  q.pushMessage(new Uint8Array(0));
  assert.equal(q.isEmpty, false);
  assert.equal(q.peekSize(100), 0);
  const segs = drain(q, 100);
  assert.equal(segs.length, 1);
  assert.equal(segs[0].flags, Flag.DATA | Flag.MSG | Flag.MSG_END);
  assert.equal(segs[0].payload.length, 0);
  assert.equal(q.isEmpty, true);
});

test("messages and stream data are never mixed in one segment", () => {
  const q = new SendQueue();
  q.pushStream(bytes(3, 0));
  q.pushMessage(bytes(4, 50));
  q.pushMessage(bytes(2, 60));
  q.pushStream(bytes(3, 3));
  q.pushStream(bytes(3, 6));
  const segs = drain(q, 100);
  assert.deepEqual(
    segs.map((s) => [s.flags, [...s.payload]]),
    [
      [Flag.DATA, [0, 1, 2]],
      [Flag.DATA | Flag.MSG | Flag.MSG_END, [50, 51, 52, 53]],
      [Flag.DATA | Flag.MSG | Flag.MSG_END, [60, 61]],
      [Flag.DATA, [3, 4, 5, 6, 7, 8]],
    ],
  );
});

test("FIN comes last, as an empty DATA|FIN segment", () => {
  const q = new SendQueue();
  q.pushStream(bytes(5));
  q.pushMessage(bytes(3));
  q.pushFin();
  assert.equal(q.finQueued, true);
  const segs = drain(q, 4);
  assert.deepEqual(
    segs.map((s) => s.flags),
    [Flag.DATA, Flag.DATA, Flag.DATA | Flag.MSG | Flag.MSG_END, Flag.DATA | Flag.FIN],
  );
  assert.equal(segs[3].payload.length, 0);
  assert.equal(q.isEmpty, true);
  assert.equal(q.finQueued, true, "finQueued stays set");
});

test("FIN alone", () => {
  const q = new SendQueue();
  q.pushFin();
  assert.equal(q.isEmpty, false);
  assert.equal(q.peekSize(100), 0);
  assert.deepEqual(q.cut(100), { flags: Flag.DATA | Flag.FIN, payload: new Uint8Array(0), tail: new Uint8Array(0) });
  assert.equal(q.isEmpty, true);
});

test("a partially cut stream write continues where it stopped, then coalesces", () => {
  const q = new SendQueue();
  q.pushStream(bytes(10, 0));
  assert.deepEqual([...(q.cut(4)?.payload ?? [])], [0, 1, 2, 3]);
  q.pushStream(bytes(5, 10));
  const s = joined(q.cut(100));
  assert.deepEqual([...(s?.payload ?? [])], [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
});

test("a segment across exactly two writes is two views of them, not a copy; across more, one coalesced copy", () => {
  const q = new SendQueue();
  const a = bytes(10, 0);
  const b = bytes(10, 10);
  q.pushStream(a);
  q.pushStream(b);
  const s = q.cut(15);
  assert.ok(s);
  assert.equal(s.payload.buffer, a.buffer, "the first piece is a view of the first write");
  assert.equal(s.tail.buffer, b.buffer, "the second piece is a view of the second write");
  assert.deepEqual([...s.payload, ...s.tail], [...bytes(15, 0)]);
  assert.deepEqual([...(joined(q.cut(15))?.payload ?? [])], [...bytes(5, 15)]);
  for (let i = 0; i < 4; i++) q.pushStream(bytes(3, 3 * i));
  const c = q.cut(100);
  assert.ok(c);
  assert.equal(c.tail.length, 0);
  assert.deepEqual([...c.payload], [...bytes(12, 0)]);
});

test("many items (exercises internal compaction) keep FIFO order", () => {
  const q = new SendQueue();
  const expected: number[] = [];
  const got: number[] = [];
  for (let i = 0; i < 3000; i++) {
    q.pushMessage(Uint8Array.of(i & 0xff, i >> 8));
    expected.push(i & 0xff, i >> 8);
    if (i % 2 === 0) for (const b of joined(q.cut(2))?.payload ?? []) got.push(b);
  }
  for (const s of drain(q, 2)) got.push(...s.payload);
  assert.deepEqual(got, expected);
});

type Write = { kind: "stream" | "message"; data: Uint8Array };

test("property: segments carry exactly the writes, in order, within maxBytes", () => {
  const write: fc.Arbitrary<Write> = fc.record({
    kind: fc.constantFrom("stream" as const, "message" as const),
    data: fc.uint8Array({ maxLength: 60 }),
  });
  fc.assert(
    fc.property(
      fc.array(write, { maxLength: 30 }),
      fc.integer({ min: 1, max: 40 }),
      fc.boolean(),
      (writes, max, fin) => {
        const q = new SendQueue();
        for (const w of writes) w.kind === "stream" ? q.pushStream(w.data) : q.pushMessage(w.data);
        if (fin) q.pushFin();
        const total = writes.reduce((n, w) => n + w.data.length, 0);
        assert.equal(q.bytes, total);
        const segs = drain(q, max);
        // Reassemble and compare.
        const stream: number[] = [];
        const messages: number[][] = [];
        let partial: number[] | undefined;
        for (const [i, s] of segs.entries()) {
          assert.ok(s.payload.length <= max);
          assert.ok(s.flags & Flag.DATA);
          if (s.flags & Flag.FIN) {
            assert.equal(i, segs.length - 1, "FIN is last");
            assert.equal(s.payload.length, 0);
          } else if (s.flags & Flag.MSG) {
            partial ??= [];
            partial.push(...s.payload);
            if (s.flags & Flag.MSG_END) {
              messages.push(partial);
              partial = undefined;
            }
          } else {
            assert.equal(partial, undefined, "stream segment inside a message");
            assert.ok(s.payload.length > 0, "no empty stream segments");
            stream.push(...s.payload);
          }
        }
        assert.equal(partial, undefined);
        assert.equal(segs.length > 0 && (segs[segs.length - 1].flags & Flag.FIN) !== 0, fin);
        assert.deepEqual(
          stream,
          writes.filter((w) => w.kind === "stream").flatMap((w) => [...w.data]),
        );
        assert.deepEqual(
          messages,
          writes.filter((w) => w.kind === "message").map((w) => [...w.data]),
        );
        // Coalescing: a stream segment shorter than max is followed by a non-stream segment or nothing.
        for (let i = 0; i < segs.length - 1; i++) {
          if (segs[i].flags === Flag.DATA && segs[i].payload.length < max)
            assert.notEqual(segs[i + 1].flags, Flag.DATA);
        }
        assert.equal(q.bytes, 0);
        assert.equal(q.isEmpty, true);
      },
    ),
    { seed: FC_SEED, numRuns: 500 },
  );
});
