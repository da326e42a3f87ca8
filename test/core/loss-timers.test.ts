/**
 * The sender's timers when retransmissions are lost (simulator, virtual time): a retransmission
 * timeout while SACKs still arrive, a timeout after silence, and a lost retransmission at the tail;
 * and the copies of resends (`tailResendCopies`) that spare most of those timers. The timer tests
 * turn the copies off, so that the timers themselves are what repairs the losses.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { SeededRng, wire } from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { decode } from "../helpers/packets.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";

const PACKET = 1200;

/**
 * A BBR transfer of `bytes` (no FIN after them) across a 100 Mbit/s, 50 ms path; `drop(offset, copy, now)`
 * decides about each data segment the client sends (offset: its sequence number counted from the first
 * segment, copy: 0 the first time, end: the stream position just past its payload).
 */
function transfer(
  bytes: number,
  drop: (offset: number, copy: number, now: number, end: number) => boolean,
  seed = 7,
  congestionControl = "bbr",
  tailResendCopies = 0,
) {
  const { net, client, server } = makePair({
    seed,
    link: { delay: 25 * MS, rate: 100e6, queueBytes: 625_000 },
    config: { congestionControl, receiveWindow: 16 << 20, tailResendCopies },
  });
  let first: number | undefined;
  let cut = 0;
  const copies = new Map<number, number>();
  const sentAt = new Map<string, number>();
  const ends = new Map<number, number>();
  net.intercept = (from, _to, d, now) => {
    if (from.port !== 1000) return true;
    const p = decode(d);
    if (!p || !(p.flags & wire.Flag.DATA) || p.payload.length === 0) return true;
    first ??= p.seq;
    const offset = (p.seq - first) >>> 0;
    const copy = copies.get(offset) ?? 0;
    copies.set(offset, copy + 1);
    sentAt.set(`${offset}/${copy}`, now);
    if (copy === 0) ends.set(offset, (cut += p.payload.length));
    return !drop(offset, copy, now, ends.get(offset) ?? 0);
  };
  const c = client.connect(server.address);
  const up = randomBytes(new SeededRng(seed), bytes);
  c.write(up);
  let minCwnd = Number.POSITIVE_INFINITY;
  let firstTimeoutAt: number | undefined;
  const done = net.runUntil(
    () => {
      if (c.state === "ESTABLISHED" && c.stats().rtoCount > 0) {
        firstTimeoutAt ??= net.now;
        minCwnd = Math.min(minCwnd, c.stats().cwnd);
      }
      return server.accepted.length > 0 && server.log(server.accepted[0]).byteCount >= bytes;
    },
    { timeout: 120 * SECOND },
  );
  assert.ok(done, "the transfer finished");
  assert.ok(sameBytes(server.log(server.accepted[0]).bytes(), up), "every byte arrived in order");
  return { sender: c.stats(), minCwnd, copies, sentAt, firstTimeoutAt, finishedAt: net.now };
}

test("a timeout while SACKs still arrive resends the lost head only and keeps BBR's window (regression: go-back-N at 10% loss)", () => {
  // Segment 2000 (the pipe is full by then) is dropped four times: RACK repairs it each time a
  // later segment is acknowledged, but the timer, counted from the last cumulative ACK, runs out
  // first. It used to declare the whole flight lost (hundreds of segments that had arrived) and
  // collapse BBR to 4 packets.
  const { sender, minCwnd, copies } = transfer(8 << 20, (offset, copy) => offset === 2000 && copy < 4);
  assert.equal(sender.resendCopies, 0);
  assert.ok(sender.rtoCount >= 1, "the timer fired");
  assert.equal(copies.get(2000), 5);
  assert.ok(sender.timeoutRetransmits <= 2, `${sender.timeoutRetransmits} segments resent by the timeout`);
  assert.ok(sender.spuriousRetransmits <= 2, `${sender.spuriousRetransmits} needless retransmissions`);
  assert.ok(minCwnd > 100 * PACKET, `the window fell to ${minCwnd} bytes`);
});

test("with CUBIC too: the head goes out at the timeout although the flight still fills the reduced window", () => {
  // CUBIC reduces its window by β at the timeout while most of the flight stays in flight: the
  // head's resend must not wait for a third of the flight to be acknowledged.
  const { sender, minCwnd, copies, sentAt, firstTimeoutAt } = transfer(
    8 << 20,
    (offset, copy) => offset === 2000 && copy < 4,
    7,
    "cubic",
  );
  assert.ok(sender.rtoCount >= 1 && firstTimeoutAt !== undefined, "the timer fired");
  assert.equal(copies.get(2000), 5);
  const times = Array.from({ length: 5 }, (_, i) => sentAt.get(`2000/${i}`));
  assert.ok(times.includes(firstTimeoutAt), `copies at ${times.join(", ")} µs, timeout at ${firstTimeoutAt}`);
  assert.ok(sender.timeoutRetransmits <= 2, `${sender.timeoutRetransmits} segments resent by the timeout`);
  assert.ok(minCwnd > 50 * PACKET, `the window fell to ${minCwnd} bytes`);
});

test("a timeout after a silent round trip still declares the flight lost and collapses the window", () => {
  // Every data segment from 3000 on is dropped for 400 ms of sending: no ACK delivers anything
  // new for longer than the RTO, so this is the classic timeout (RFC 6298 §5).
  let blackoutFrom: number | undefined;
  const { sender, minCwnd } = transfer(8 << 20, (offset, _copy, now) => {
    if (offset < 3000) return false;
    blackoutFrom ??= now;
    return now < blackoutFrom + 400 * MS;
  });
  assert.ok(sender.rtoCount >= 1, "the timer fired");
  assert.ok(minCwnd <= 4 * PACKET, `the window only fell to ${minCwnd} bytes`);
  assert.ok(sender.timeoutRetransmits > 100, `${sender.timeoutRetransmits} segments resent by the timeout`);
});

test("a lost retransmission at the tail is probed in recovery, not left to the retransmission timeout", () => {
  // Of 200 segments, the one 5 KB before the end is lost once (RACK repairs it: recovery) and the
  // last one twice. RACK sees the first loss of the last one through the earlier segment's
  // retransmission, sent after it; nothing follows its own retransmission. The probe timer used to
  // be off in recovery, so the timeout, 200 ms and a collapsed window later, had to repair it.
  const bytes = 200 * 1172;
  let tail = -1;
  const { sender, copies } = transfer(bytes, (offset, copy, _now, end) => {
    if (end === bytes) tail = offset;
    const holdsByte = (at: number) => end >= at && end - at < 1172;
    return (holdsByte(bytes - 5000) && copy === 0) || (end === bytes && copy < 2);
  });
  assert.ok(tail > 150, "the tail segment was seen");
  assert.equal(copies.get(tail), 3);
  assert.equal(sender.rtoCount, 0);
  assert.ok(sender.tailLossProbes >= 1, `${sender.tailLossProbes} tail-loss probes`);
});

/** The tail scenario of the probe test: the segment 5 KB before the end lost once, the last one twice. */
function tailLosses(bytes: number, onTail: (offset: number) => void) {
  return (offset: number, copy: number, _now: number, end: number) => {
    if (end === bytes) onTail(offset);
    const holdsByte = (at: number) => end >= at && end - at < 1172;
    return (holdsByte(bytes - 5000) && copy === 0) || (end === bytes && copy < 2);
  };
}

test("a resend at the tail goes out twice: its loss costs neither a probe nor a round trip", () => {
  const bytes = 200 * 1172;
  let tail = -1;
  const onTail = (offset: number) => {
    tail = offset;
  };
  const without = transfer(bytes, tailLosses(bytes, onTail), 7, "bbr", 0);
  const withCopies = transfer(bytes, tailLosses(bytes, onTail), 7, "bbr", 1);
  // The last segment: its first send and its resend are dropped, the resend's copy arrives.
  assert.equal(withCopies.copies.get(tail), 3);
  assert.ok(withCopies.sender.resendCopies >= 1, `${withCopies.sender.resendCopies} copies`);
  assert.equal(withCopies.sender.tailLossProbes, 0, "no probe was needed");
  assert.equal(withCopies.sender.rtoCount, 0);
  assert.equal(withCopies.sender.spuriousRetransmits, 0, "a copy is not taken for a needless resend");
  // Without copies the probe repairs it: at least 2·SRTT later.
  assert.ok(without.sender.tailLossProbes >= 1);
  assert.ok(
    withCopies.finishedAt + 50 * MS <= without.finishedAt,
    `finished at ${withCopies.finishedAt} µs with copies, ${without.finishedAt} µs without`,
  );
});

test("a segment lost twice is resent in two copies mid-transfer, so its hole does not outlast the RTO", () => {
  // Segment 2000 loses its first three transmissions. Without copies they are three rounds of
  // RACK repair, and the timer runs out first; with copies the third transmission's copy arrives.
  const drop = (offset: number, copy: number) => offset === 2000 && copy < 3;
  const without = transfer(8 << 20, drop, 7, "bbr", 0);
  const withCopies = transfer(8 << 20, drop, 7, "bbr", 1);
  assert.ok(without.sender.rtoCount >= 1, "without copies the timer fires");
  assert.equal(withCopies.sender.rtoCount, 0, "with copies it does not");
  // The original, the first resend (alone: new data follows it), the second resend and its copy.
  assert.equal(withCopies.copies.get(2000), 4);
  assert.equal(withCopies.sender.resendCopies, 1);
});

test("segments lost once while new data follows them are resent once", () => {
  // Every 50th of the first 4000 segments is dropped once; the transfer goes on well beyond them.
  const { sender, copies } = transfer(
    8 << 20,
    (offset, copy) => offset < 4000 && offset % 50 === 0 && copy === 0,
    7,
    "bbr",
    1,
  );
  for (let offset = 0; offset < 4000; offset += 50) assert.equal(copies.get(offset), 2, `segment ${offset}`);
  assert.equal(sender.resendCopies, 0);
});
