/** SimNetwork: scheduling, clock control, determinism, injection, hosts and tracing. */

import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import type { TestContext } from "node:test";
import { test } from "node:test";
import { MS, NEVER, SECOND } from "../../src/core/time.js";
import type { DatagramEvent } from "../../src/sim/network.js";
import { MAX_TIMEOUTS_PER_INSTANT, SimNetwork } from "../../src/sim/network.js";
import { withSeed } from "../helpers/seed.js";
import { Pinger, Recorder, Scripted } from "./fakes.js";

const A = "10.0.0.1";
const B = "10.0.0.2";
const C = "10.0.0.3";
const bAddr = { address: B, port: 9 };

function lossyTrace(seed: number, extraTraffic = false): string[] {
  const trace: string[] = [];
  const net = new SimNetwork({
    seed,
    onDatagram: (ev) => {
      if (ev.from.address === A) trace.push(`${ev.time} ${ev.size} ${ev.fate}`);
    },
  });
  net.setPath(A, B, { delay: 10 * MS, jitter: 3 * MS, loss: 0.05, duplicate: 0.05, corrupt: 0.05, rate: 5_000_000 });
  const rec = new Recorder(true);
  net.attach(B, 9, rec);
  net.attach(A, 1, new Pinger({ to: bAddr, count: 2000, interval: 1 * MS, size: 600 }));
  if (extraTraffic) {
    net.setLink(C, B, { loss: 0.3, jitter: 2 * MS });
    net.attach(C, 1, new Pinger({ to: { address: B, port: 10 }, count: 500, interval: 3 * MS, size: 100 }));
    net.attach(B, 10, new Recorder());
  }
  net.runUntilIdle();
  for (let i = 0; i < rec.count; i++) {
    if (rec.froms[i].address === A)
      trace.push(`${rec.times[i]} ${rec.seqs[i]} ${Buffer.from(rec.datas[i]).toString("base64")}`);
  }
  return trace;
}

test(
  "same seed gives an identical trace; a different seed a different one",
  withSeed(100, (seed) => {
    const a = lossyTrace(seed);
    const b = lossyTrace(seed);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, lossyTrace(seed + 1));
  }),
);

test(
  "a link's randomness does not depend on other links' traffic",
  withSeed(101, (seed) => {
    assert.deepEqual(lossyTrace(seed, true), lossyTrace(seed));
  }),
);

test("the test rng is seeded and reproducible", () => {
  const a = new SimNetwork({ seed: 5 });
  const b = new SimNetwork({ seed: 5 });
  const c = new SimNetwork({ seed: 6 });
  const xs = [a.rng.nextU32(), a.rng.nextU32()];
  assert.deepEqual([b.rng.nextU32(), b.rng.nextU32()], xs);
  assert.notDeepEqual([c.rng.nextU32(), c.rng.nextU32()], xs);
  assert.equal(new SimNetwork({ seed: -1 }).seed, 0xffffffff);
});

test("datagrams due at the same time arrive in send order", () => {
  const net = new SimNetwork({ seed: 1, defaultLink: { delay: 7 * MS } });
  const rec = new Recorder();
  const s1 = new Scripted();
  const s2 = new Scripted();
  net.attach(B, 9, rec);
  net.attach(A, 1, s1);
  net.attach(C, 1, s2);
  for (let i = 0; i < 5; i++) {
    s2.outbox.push({ to: bAddr, data: Uint8Array.of(0, 0, 0, 2 * i) });
    s1.outbox.push({ to: bAddr, data: Uint8Array.of(0, 0, 0, 2 * i + 1) });
  }
  net.runUntilIdle();
  // Drained in attach order: all of s1's, then all of s2's.
  assert.deepEqual(rec.seqs, [1, 3, 5, 7, 9, 0, 2, 4, 6, 8]);
  assert.ok(rec.times.every((t) => t === 7 * MS));
});

test("startTime sets the initial clock; step returns false when idle", () => {
  const net = new SimNetwork({ seed: 1, startTime: 1_000 * SECOND });
  assert.equal(net.now, 1_000 * SECOND);
  assert.equal(net.step(), false);
  assert.equal(net.runUntilIdle(), true);
  assert.equal(net.now, 1_000 * SECOND);
});

test("runFor advances the clock exactly and runs events up to and including the end", () => {
  const net = new SimNetwork({ seed: 1 });
  const node = new Scripted();
  net.attach(A, 1, node);
  node.deadline = 100 * MS;
  net.runFor(99 * MS);
  assert.equal(net.now, 99 * MS);
  assert.deepEqual(node.timeouts, []);
  net.runFor(1 * MS);
  assert.equal(net.now, 100 * MS);
  assert.deepEqual(node.timeouts, [100 * MS]);
  net.runFor(5 * SECOND);
  assert.equal(net.now, 100 * MS + 5 * SECOND);
});

test("runUntil stops at the predicate, at maxTime, at timeout and at maxSteps", () => {
  const net = new SimNetwork({ seed: 1 });
  const node = new Scripted();
  net.attach(A, 1, node);
  let fires = 0;
  node.deadline = 10 * MS;
  node.onTimeout = (now) => {
    fires++;
    node.deadline = now + 10 * MS;
  };
  assert.equal(
    net.runUntil(() => fires === 3),
    true,
  );
  assert.equal(net.now, 30 * MS);
  assert.equal(
    net.runUntil(() => false, { maxTime: 55 * MS }),
    false,
  );
  assert.equal(net.now, 55 * MS);
  assert.equal(fires, 5);
  assert.equal(
    net.runUntil(() => false, { timeout: 100 * MS, maxTime: 1 * SECOND }),
    false,
  );
  assert.equal(net.now, 155 * MS);
  assert.equal(fires, 15);
  assert.equal(
    net.runUntil(() => false, { maxSteps: 4 }),
    false,
  );
  assert.equal(fires, 19);
  assert.equal(net.now, 190 * MS);
  // A limit in the past never moves the clock backwards.
  assert.equal(
    net.runUntil(() => false, { maxTime: 1 * MS }),
    false,
  );
  assert.equal(net.now, 190 * MS);
  assert.equal(net.runUntilIdle({ timeout: 1 * SECOND }), false);
  assert.equal(net.now, 1190 * MS);
});

test("runUntil returns false when the network goes idle", () => {
  const net = new SimNetwork({ seed: 1 });
  const rec = new Recorder();
  net.attach(B, 9, rec);
  net.attach(A, 1, new Pinger({ to: bAddr, count: 3, interval: 1 * MS, size: 4 }));
  assert.equal(
    net.runUntil(() => rec.count === 4),
    false,
  );
  assert.equal(rec.count, 3);
});

test("a timer in the past fires at the current time; NEVER and undefined mean no timer", () => {
  const net = new SimNetwork({ seed: 1 });
  const node = new Scripted();
  const idle = new Scripted();
  idle.deadline = NEVER;
  net.attach(A, 1, node);
  net.attach(A, 2, idle);
  net.runFor(50 * MS);
  node.deadline = 10 * MS;
  assert.equal(net.step(), true);
  assert.deepEqual(node.timeouts, [50 * MS]);
  assert.equal(net.step(), false);
  assert.deepEqual(idle.timeouts, []);
});

test("a node whose deadline stays at or before now is stopped with an error", () => {
  const net = new SimNetwork({ seed: 1 });
  const node = new Scripted();
  net.attach(A, 1, node);
  node.deadline = 5;
  node.onTimeout = () => {};
  assert.throws(() => net.runFor(1 * SECOND), /timeouts at t=5/);
  assert.equal(node.timeouts.length, MAX_TIMEOUTS_PER_INSTANT);
});

test("a node may fire a few times at one instant", () => {
  const net = new SimNetwork({ seed: 1 });
  const node = new Scripted();
  net.attach(A, 1, node);
  node.deadline = 5;
  node.onTimeout = () => {
    node.deadline = node.timeouts.length < 10 ? 5 : undefined;
  };
  assert.equal(net.runUntilIdle(), true);
  assert.equal(node.timeouts.length, 10);
});

test("datagrams to an address with nothing attached, or to a detached node, are counted as no-host", () => {
  const fates: DatagramEvent[] = [];
  const net = new SimNetwork({ seed: 1, onDatagram: (ev) => fates.push(ev) });
  const rec = new Recorder();
  net.attach(B, 9, rec);
  const s = new Scripted();
  net.attach(A, 1, s);
  s.outbox.push({ to: { address: "10.9.9.9", port: 1 }, data: new Uint8Array(3) });
  s.outbox.push({ to: { address: B, port: 10 }, data: new Uint8Array(3) });
  s.outbox.push({ to: bAddr, data: new Uint8Array(3) });
  net.runFor(5 * MS);
  net.detach(B, 9);
  net.runUntilIdle();
  assert.equal(rec.count, 0);
  const stats = net.stats();
  assert.equal(stats.total.noHost, 3);
  assert.equal(stats.total.delivered, 0);
  assert.deepEqual(
    fates.map((f) => f.fate),
    ["no-host", "no-host", "no-host"],
  );
  assert.deepEqual(
    stats.links.map((l) => `${l.from}>${l.to}`),
    [`${A}>10.9.9.9`, `${A}>${B}`],
  );
  // The address is free again.
  net.attach(B, 9, new Recorder());
  assert.throws(() => net.attach(B, 9, new Recorder()), /already attached/);
});

test("inject from a host with no link arrives after the default delay, unimpaired", () => {
  const net = new SimNetwork({ seed: 1, defaultLink: { delay: 4 * MS, loss: 1 } });
  const rec = new Recorder(true);
  net.attach(B, 9, rec);
  const spoofed = { address: "6.6.6.6", port: 666 };
  net.runFor(1 * MS);
  net.inject(spoofed, bAddr, Uint8Array.of(0, 0, 0, 42));
  net.inject(spoofed, bAddr, Uint8Array.of(0, 0, 0, 43), 20 * MS);
  net.runUntilIdle();
  assert.deepEqual(rec.seqs, [42, 43]);
  assert.deepEqual(rec.times, [5 * MS, 24 * MS]);
  assert.deepEqual(rec.froms[0], spoofed);
  assert.equal(net.stats().direct.delivered, 2);
});

test("inject from an attached or configured host goes through its link", () => {
  const net = new SimNetwork({ seed: 1 });
  net.setLink(A, B, { loss: 1 });
  net.setLink(C, B, { delay: 2 * MS });
  const rec = new Recorder();
  net.attach(B, 9, rec);
  net.attach(A, 1, new Recorder());
  const data = Uint8Array.of(0, 0, 0, 1);
  net.inject({ address: A, port: 7 }, bAddr, data);
  net.inject({ address: C, port: 7 }, bAddr, data, 3 * MS);
  data[3] = 99;
  net.runUntilIdle();
  assert.equal(net.link(A, B).stats.lost, 1);
  assert.deepEqual(rec.seqs, [1]);
  assert.deepEqual(rec.times, [5 * MS]);
  assert.equal(net.link(C, B).stats.delivered, 1);
});

test(
  "trace reports every fate, and stats add up",
  withSeed(102, (seed) => {
    const counts = new Map<string, number>();
    const net = new SimNetwork({ seed, onDatagram: (ev) => counts.set(ev.fate, (counts.get(ev.fate) ?? 0) + 1) });
    net.setLink(A, B, {
      loss: 0.1,
      duplicate: 0.1,
      corrupt: 0.1,
      rate: 1_000_000,
      queuePackets: 20,
      mtu: 1000,
      partitions: [{ start: 0, end: 100 * MS }],
    });
    net.attach(B, 9, new Recorder());
    net.attach(A, 1, new Pinger({ to: bAddr, count: 3000, interval: 1 * MS, size: 100 }));
    net.attach(A, 2, new Pinger({ to: bAddr, count: 10, interval: 0, size: 2000, start: 200 * MS }));
    net.attach(A, 3, new Pinger({ to: { address: B, port: 1 }, count: 10, interval: 1 * SECOND, size: 10 }));
    net.attach(A, 4, new Pinger({ to: bAddr, count: 50, interval: 0, size: 100, start: 500 * MS }));
    net.runUntilIdle();
    const s = net.stats();
    const l = s.links[0].stats;
    assert.deepEqual(s.total, l);
    assert.equal(s.inFlight, 0);
    assert.equal(counts.get("delivered"), l.delivered);
    assert.equal(counts.get("lost"), l.lost);
    assert.equal(counts.get("corrupted"), l.corrupted);
    assert.equal(counts.get("duplicated"), l.duplicated);
    assert.equal(counts.get("queue-drop"), l.queueDrops);
    assert.equal(counts.get("mtu-drop"), l.mtuDrops);
    assert.equal(counts.get("partition-drop"), l.partitionDrops);
    assert.equal(counts.get("no-host"), l.noHost);
    for (const k of ["delivered", "lost", "corrupted", "duplicated", "queue-drop", "partition-drop"]) {
      assert.ok((counts.get(k) ?? 0) > 0, `no ${k}`);
    }
    assert.equal(l.mtuDrops, 10);
    assert.ok(l.noHost >= 1);
    assert.equal(l.sent, 3070);
    assert.equal(l.sent + l.duplicated, l.delivered + l.lost + l.queueDrops + l.mtuDrops + l.partitionDrops + l.noHost);
  }),
);

test(
  "60 s at 100 Mbit/s of 1200-byte datagrams through a paced sender",
  withSeed(103, (seed, t: TestContext) => {
    const size = 1200;
    const rate = 100_000_000;
    const interval = (size * 8 * SECOND) / rate; // 96 µs
    const count = (60 * SECOND) / interval; // 625,000
    const net = new SimNetwork({ seed });
    net.setPath(A, B, { delay: 20 * MS, rate });
    const rec = new Recorder();
    net.attach(B, 9, rec);
    const pinger = new Pinger({ to: bAddr, count, interval, size });
    net.attach(A, 1, pinger);
    const t0 = performance.now();
    net.runUntilIdle();
    const wall = performance.now() - t0;
    t.diagnostic(`simulated ${count} datagrams in ${wall.toFixed(0)} ms wall clock`);
    const stats = net.link(A, B).stats;
    assert.equal(pinger.sent, count);
    assert.equal(rec.count, count);
    assert.equal(stats.queueDrops, 0);
    assert.equal(stats.bytesDelivered, count * size);
    assert.equal(rec.times[count - 1], (count - 1) * interval + interval + 20 * MS);
    assert.equal(net.now, 60 * SECOND + 20 * MS);
  }),
);
