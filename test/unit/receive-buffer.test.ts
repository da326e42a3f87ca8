/** ReceiveBuffer: reordering, duplicates, window checks, message reassembly, FIN; end to end with SendQueue. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { Arrival, MAX_SEGMENTS_AHEAD, ReceiveBuffer } from "../../src/core/connection/receive-buffer.js";
import { SendQueue } from "../../src/core/connection/send-queue.js";
import { Flag } from "../../src/core/wire/packet.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0x4ecb) | 0;

const D = Flag.DATA;
const MSG = Flag.DATA | Flag.MSG;
const MSG_END = Flag.DATA | Flag.MSG | Flag.MSG_END;
const FIN = Flag.DATA | Flag.FIN;

const bytes = (n: number, fill = 0) => Uint8Array.from({ length: n }, (_, i) => (fill + i) & 0xff);

function readAllStream(b: ReceiveBuffer): number[] {
  const out: number[] = [];
  for (let c = b.readStream(); c; c = b.readStream()) out.push(...c);
  return out;
}

function readAllMessages(b: ReceiveBuffer): number[][] {
  const out: number[][] = [];
  for (let m = b.readMessage(); m; m = b.readMessage()) out.push([...m]);
  return out;
}

function sackRanges(b: ReceiveBuffer): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < b.received.count; i++) out.push([b.received.start(i), b.received.end(i)]);
  return out;
}

test("in-order stream segments are delivered at once", () => {
  const b = new ReceiveBuffer(100, 10_000, 1000);
  assert.equal(b.receive(100, D, bytes(3, 0)), Arrival.Accepted);
  assert.equal(b.streamArrived, true);
  assert.equal(b.receive(101, D, bytes(2, 3)), Arrival.Accepted);
  assert.equal(b.next, 102);
  assert.equal(b.unreadBytes, 5);
  assert.equal(b.outOfOrderCount, 0);
  assert.deepEqual(readAllStream(b), [0, 1, 2, 3, 4]);
  assert.equal(b.unreadBytes, 0);
  assert.equal(b.readStream(), undefined);
});

test("out-of-order segments are held, SACKed and delivered when the hole fills", () => {
  const b = new ReceiveBuffer(0, 10_000, 1000);
  assert.equal(b.receive(2, D, bytes(2, 20)), Arrival.Accepted);
  assert.equal(b.receive(4, D, bytes(2, 40)), Arrival.Accepted);
  assert.equal(b.receive(3, D, bytes(2, 30)), Arrival.Accepted);
  assert.equal(b.latestOutOfOrder, 3);
  assert.equal(b.next, 0);
  assert.equal(b.outOfOrderCount, 3);
  assert.equal(b.outOfOrderBytes, 6);
  assert.equal(b.unreadBytes, 0);
  assert.equal(b.streamArrived, false, "nothing readable yet");
  assert.deepEqual(sackRanges(b), [[2, 5]]);
  assert.equal(b.receive(0, D, bytes(2, 0)), Arrival.Accepted);
  assert.equal(b.next, 1);
  assert.deepEqual(sackRanges(b), [[2, 5]]);
  assert.equal(b.receive(1, D, bytes(2, 10)), Arrival.Accepted);
  assert.equal(b.next, 5);
  assert.equal(b.outOfOrderCount, 0);
  assert.equal(b.outOfOrderBytes, 0);
  assert.deepEqual(sackRanges(b), []);
  assert.deepEqual(readAllStream(b), [0, 1, 10, 11, 20, 21, 30, 31, 40, 41]);
});

test("duplicates: below next, already held, and at or after a delivered FIN", () => {
  const b = new ReceiveBuffer(10, 10_000, 1000);
  b.receive(10, D, bytes(1));
  assert.equal(b.receive(10, D, bytes(1)), Arrival.Duplicate);
  assert.equal(b.receive(5, D, bytes(1)), Arrival.Duplicate);
  assert.equal(b.receive(13, D, bytes(4)), Arrival.Accepted);
  assert.equal(b.receive(13, D, bytes(4)), Arrival.Duplicate);
  assert.equal(b.outOfOrderBytes, 4, "a duplicate does not count twice");
  assert.equal(b.unreadBytes, 1);
  b.receive(11, D, bytes(1));
  b.receive(12, D, bytes(1));
  assert.equal(b.receive(14, FIN, new Uint8Array(0)), Arrival.Accepted);
  assert.equal(b.finished, true);
  assert.equal(b.finSeq, 14);
  assert.equal(b.next, 15);
  assert.equal(b.receive(14, FIN, new Uint8Array(0)), Arrival.Duplicate);
  assert.equal(b.receive(15, D, bytes(1)), Arrival.Duplicate, "nothing after the FIN");
  assert.equal(b.receive(100, D, bytes(1)), Arrival.Duplicate);
});

test("FIN: finished only once delivered in order; sets streamArrived", () => {
  const b = new ReceiveBuffer(0, 10_000, 1000);
  assert.equal(b.finished, false);
  assert.equal(b.finSeq, -1);
  assert.equal(b.receive(1, FIN, new Uint8Array(0)), Arrival.Accepted);
  assert.equal(b.finished, false, "held FIN is not delivered");
  assert.equal(b.receive(0, D, bytes(3)), Arrival.Accepted);
  assert.equal(b.finished, true);
  assert.equal(b.finSeq, 1);
  assert.equal(b.streamArrived, true);
  assert.deepEqual(readAllStream(b), [0, 1, 2]);
});

test("too far ahead: MAX_SEGMENTS_AHEAD is exclusive", () => {
  const b = new ReceiveBuffer(1000, 1 << 30, 1000);
  assert.equal(b.receive(1000 + MAX_SEGMENTS_AHEAD, D, bytes(1)), Arrival.OutOfWindow);
  assert.equal(b.receive(1000 + MAX_SEGMENTS_AHEAD + 12345, D, bytes(1)), Arrival.OutOfWindow);
  assert.equal(b.receive(1000 + MAX_SEGMENTS_AHEAD - 1, D, bytes(1)), Arrival.Accepted);
  assert.equal(b.outOfOrderCount, 1);
  // The limit moves with next.
  b.receive(1000, D, bytes(1));
  assert.equal(b.receive(1001 + MAX_SEGMENTS_AHEAD - 1, D, bytes(1)), Arrival.Accepted);
  assert.equal(b.receive(1001 + MAX_SEGMENTS_AHEAD, D, bytes(1)), Arrival.OutOfWindow);
});

test("no room: unread + out-of-order + payload may not exceed capacity (the next in-order segment needs only unread room)", () => {
  const b = new ReceiveBuffer(0, 100, 1000);
  assert.equal(b.receive(0, D, bytes(60)), Arrival.Accepted);
  assert.equal(b.receive(2, D, bytes(30)), Arrival.Accepted);
  // Out of order: 60 unread + 30 held + 11 > 100.
  assert.equal(b.receive(3, D, bytes(11)), Arrival.OutOfWindow);
  // In order: 60 unread + 41 > 100. (The held bytes do not count: refusing it for them could wedge the connection.)
  assert.equal(b.receive(1, D, bytes(41)), Arrival.OutOfWindow);
  assert.equal(b.next, 1);
  // Exactly filling the capacity is fine.
  assert.equal(b.receive(1, D, bytes(10)), Arrival.Accepted);
  assert.equal(b.unreadBytes, 100);
  assert.equal(b.window, 0);
  assert.equal(b.receive(3, D, bytes(1)), Arrival.OutOfWindow);
  // An empty segment still fits.
  assert.equal(b.receive(3, D, new Uint8Array(0)), Arrival.Accepted);
  assert.equal(b.next, 4);
  // Reading makes room again.
  assert.equal(b.readStream()?.length, 60);
  assert.equal(b.window, 60);
  assert.equal(b.receive(4, D, bytes(61)), Arrival.OutOfWindow);
  assert.equal(b.receive(4, D, bytes(60)), Arrival.Accepted);
  assert.equal(b.window, 0);
});

test("window = capacity − unread; out-of-order bytes do not shrink it; reading reopens it", () => {
  const b = new ReceiveBuffer(0, 1000, 1000);
  assert.equal(b.window, 1000);
  b.receive(0, D, bytes(300));
  assert.equal(b.window, 700);
  b.receive(5, D, bytes(200));
  assert.equal(b.window, 700, "held bytes are counted from next, inside the advertised window");
  b.receive(1, MSG_END, bytes(100));
  assert.equal(b.window, 600);
  assert.equal(b.readStream()?.length, 300);
  assert.equal(b.window, 900);
  assert.equal(b.readMessage()?.length, 100);
  assert.equal(b.window, 1000);
  assert.equal(b.unreadBytes, 0);
});

test("messages: fragments reassemble in order; stream and messages are separate queues", () => {
  const b = new ReceiveBuffer(0, 10_000, 1000);
  b.receive(0, MSG, bytes(3, 0));
  assert.equal(b.messageArrived, false);
  assert.equal(b.unreadBytes, 0, "a partial message is not yet readable");
  b.receive(1, MSG, bytes(3, 3));
  b.receive(2, MSG_END, bytes(2, 6));
  assert.equal(b.messageArrived, true);
  b.receive(3, D, bytes(2, 100));
  b.receive(4, MSG_END, bytes(1, 50));
  assert.equal(b.unreadBytes, 8 + 2 + 1);
  assert.deepEqual(readAllMessages(b), [[0, 1, 2, 3, 4, 5, 6, 7], [50]]);
  assert.deepEqual(readAllStream(b), [100, 101]);
  assert.equal(b.readMessage(), undefined);
});

test("empty message is delivered as an empty Uint8Array", () => {
  const b = new ReceiveBuffer(0, 10_000, 1000);
  assert.equal(b.receive(0, MSG_END, new Uint8Array(0)), Arrival.Accepted);
  assert.equal(b.messageArrived, true);
  const m = b.readMessage();
  assert.ok(m instanceof Uint8Array);
  assert.equal(m.length, 0);
  assert.equal(b.readMessage(), undefined);
  // A message made of empty fragments is empty too.
  b.receive(1, MSG, new Uint8Array(0));
  b.receive(2, MSG_END, new Uint8Array(0));
  assert.equal(b.readMessage()?.length, 0);
});

test("MessageTooLarge: single segment and fragmented; exactly the maximum is fine", () => {
  const ok = new ReceiveBuffer(0, 10_000, 10);
  assert.equal(ok.receive(0, MSG, bytes(6)), Arrival.Accepted);
  assert.equal(ok.receive(1, MSG_END, bytes(4)), Arrival.Accepted);
  assert.equal(ok.readMessage()?.length, 10);

  const one = new ReceiveBuffer(0, 10_000, 10);
  assert.equal(one.receive(0, MSG_END, bytes(11)), Arrival.MessageTooLarge);

  const frag = new ReceiveBuffer(0, 10_000, 10);
  assert.equal(frag.receive(0, MSG, bytes(6)), Arrival.Accepted);
  assert.equal(frag.receive(1, MSG, bytes(5)), Arrival.MessageTooLarge);

  // Detected while draining held segments, too.
  const held = new ReceiveBuffer(0, 10_000, 10);
  assert.equal(held.receive(1, MSG, bytes(6)), Arrival.Accepted);
  assert.equal(held.receive(2, MSG_END, bytes(6)), Arrival.Accepted);
  assert.equal(held.receive(0, D, bytes(1)), Arrival.MessageTooLarge);

  // Stream data has no message limit.
  const stream = new ReceiveBuffer(0, 10_000, 10);
  assert.equal(stream.receive(0, D, bytes(100)), Arrival.Accepted);
});

test("unwrapped sequence numbers beyond 2^32 work like small ones", () => {
  const start = 2 ** 32 - 2;
  const b = new ReceiveBuffer(start, 10_000, 1000);
  b.receive(start + 3, D, bytes(1, 3));
  b.receive(start + 1, D, bytes(1, 1));
  b.receive(start + 2, D, bytes(1, 2));
  assert.deepEqual(sackRanges(b), [[start + 1, start + 4]]);
  b.receive(start, D, bytes(1, 0));
  assert.equal(b.next, start + 4);
  assert.deepEqual(readAllStream(b), [0, 1, 2, 3]);
});

type Write = { kind: "stream" | "message"; data: Uint8Array };

test("property: any arrival order (with duplicates) reassembles the exact stream and messages", () => {
  const write: fc.Arbitrary<Write> = fc.record({
    kind: fc.constantFrom("stream" as const, "message" as const),
    data: fc.uint8Array({ maxLength: 50 }),
  });
  const scenario = fc
    .record({
      writes: fc.array(write, { maxLength: 25 }),
      mss: fc.integer({ min: 1, max: 30 }),
      fin: fc.boolean(),
      isn: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(2 ** 32 - 3), fc.constant(2 ** 40)),
    })
    .chain((r) => {
      const q = new SendQueue();
      for (const w of r.writes) w.kind === "stream" ? q.pushStream(w.data) : q.pushMessage(w.data);
      if (r.fin) q.pushFin();
      const segs: { seq: number; flags: number; payload: Uint8Array }[] = [];
      for (let s = q.cut(r.mss); s; s = q.cut(r.mss)) {
        const payload = new Uint8Array(s.payload.length + s.tail.length);
        payload.set(s.payload);
        payload.set(s.tail, s.payload.length);
        segs.push({ seq: r.isn + segs.length, flags: s.flags, payload });
      }
      const n = segs.length;
      return fc.record({
        r: fc.constant(r),
        segs: fc.constant(segs),
        order: fc.shuffledSubarray(
          Array.from({ length: n }, (_, i) => i),
          { minLength: n, maxLength: n },
        ),
        dups: fc.array(fc.nat({ max: Math.max(0, n - 1) }), { maxLength: n === 0 ? 0 : 10 }),
        dupAt: fc.array(fc.nat(), { maxLength: 10 }),
      });
    });
  fc.assert(
    fc.property(scenario, ({ r, segs, order, dups, dupAt }) => {
      // Arrival sequence: the permutation, with duplicates spliced in after their original.
      const arrivals = [...order];
      for (const [i, d] of dups.entries()) {
        const firstPos = arrivals.indexOf(d);
        const at = firstPos + 1 + ((dupAt[i] ?? 0) % (arrivals.length - firstPos));
        arrivals.splice(at, 0, d);
      }
      const b = new ReceiveBuffer(r.isn, 1 << 20, 1 << 20);
      const stream: number[] = [];
      const messages: number[][] = [];
      const seen = new Set<number>();
      let duplicates = 0;
      for (const i of arrivals) {
        const s = segs[i];
        const result = b.receive(s.seq, s.flags, s.payload);
        if (seen.has(i)) {
          assert.equal(result, Arrival.Duplicate, `segment ${i} again`);
          duplicates++;
        } else {
          assert.equal(result, Arrival.Accepted, `segment ${i}`);
        }
        seen.add(i);
        // Interleave reads with arrivals.
        if (i % 3 === 0) {
          stream.push(...readAllStream(b));
          messages.push(...readAllMessages(b));
        }
        assert.equal(b.window, b.capacity - b.unreadBytes);
      }
      stream.push(...readAllStream(b));
      messages.push(...readAllMessages(b));
      assert.equal(duplicates, dups.length);
      assert.deepEqual(
        stream,
        r.writes.filter((w) => w.kind === "stream").flatMap((w) => [...w.data]),
      );
      assert.deepEqual(
        messages,
        r.writes.filter((w) => w.kind === "message").map((w) => [...w.data]),
      );
      assert.equal(b.next, r.isn + segs.length);
      assert.equal(b.finished, r.fin);
      if (r.fin) assert.equal(b.finSeq, r.isn + segs.length - 1);
      assert.equal(b.outOfOrderCount, 0);
      assert.equal(b.outOfOrderBytes, 0);
      assert.equal(b.unreadBytes, 0);
      assert.equal(b.received.count, 0);
    }),
    { seed: FC_SEED, numRuns: 400 },
  );
});

test("property: out-of-order bookkeeping matches a model at every step", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 20 })), { maxLength: 80 }),
      (ops) => {
        const cap = 300;
        const b = new ReceiveBuffer(0, cap, 1000);
        const held = new Map<number, number>();
        let next = 0;
        let unread = 0;
        for (const [seq, len] of ops) {
          const heldBytes = [...held.values()].reduce((a, c) => a + c, 0);
          let expected: Arrival;
          if (seq < next || held.has(seq)) expected = Arrival.Duplicate;
          else if (unread + heldBytes + len > cap) expected = Arrival.OutOfWindow;
          else expected = Arrival.Accepted;
          assert.equal(b.receive(seq, D, new Uint8Array(len)), expected);
          if (expected === Arrival.Accepted) {
            held.set(seq, len);
            while (held.has(next)) {
              unread += held.get(next) as number;
              held.delete(next);
              next++;
            }
          }
          assert.equal(b.next, next);
          assert.equal(b.outOfOrderCount, held.size);
          assert.equal(
            b.outOfOrderBytes,
            [...held.values()].reduce((a, c) => a + c, 0),
          );
          assert.equal(b.unreadBytes, unread);
          assert.ok(b.unreadBytes + b.outOfOrderBytes <= cap);
          for (const s of held.keys()) assert.ok(b.received.has(s));
          assert.equal(b.received.has(next), false);
          if (seq % 5 === 0) {
            const chunk = b.readStream();
            assert.equal(chunk === undefined, unread === 0);
            if (chunk) unread -= chunk.length;
            assert.equal(b.unreadBytes, unread);
          }
        }
      },
    ),
    { seed: FC_SEED, numRuns: 400 },
  );
});
