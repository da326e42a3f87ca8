/** Link impairment model: each pipeline stage, measured through a SimNetwork. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import type { LinkConfig } from "../../src/sim/link.js";
import { SimNetwork } from "../../src/sim/network.js";
import { withSeed } from "../helpers/seed.js";
import type { PingerOptions } from "./fakes.js";
import { Pinger, Recorder } from "./fakes.js";

const A = "10.0.0.1";
const B = "10.0.0.2";

function run(seed: number, link: Partial<LinkConfig>, ping: Omit<PingerOptions, "to">, keepData = false) {
  const net = new SimNetwork({ seed });
  net.setLink(A, B, link);
  const rec = new Recorder(keepData);
  net.attach(B, 9, rec);
  const pinger = new Pinger({ to: { address: B, port: 9 }, ...ping });
  net.attach(A, 1, pinger);
  assert.equal(net.runUntilIdle({ timeout: 3600 * SECOND }), true);
  const stats = net.link(A, B).stats;
  assert.equal(stats.sent, pinger.sent);
  assert.equal(
    stats.sent + stats.duplicated,
    stats.delivered + stats.lost + stats.queueDrops + stats.mtuDrops + stats.partitionDrops + stats.noHost,
    "every datagram has exactly one fate",
  );
  assert.equal(stats.delivered, rec.count);
  assert.equal(stats.bytesDelivered, rec.bytes);
  return { net, rec, pinger, stats };
}

test(
  "delay is exact without jitter, and order is kept",
  withSeed(1, (seed) => {
    const { rec, pinger } = run(seed, { delay: 25 * MS }, { count: 100, interval: 1 * MS, size: 100, start: 5 * MS });
    assert.equal(rec.count, 100);
    for (let i = 0; i < 100; i++) {
      assert.equal(rec.seqs[i], i);
      assert.equal(pinger.sendTimes[i], 5 * MS + i * MS);
      assert.equal(rec.times[i], pinger.sendTimes[i] + 25 * MS);
    }
  }),
);

test(
  "datagrams carry the sender's address and are copied from the sender's reused buffer",
  withSeed(2, (seed) => {
    const { rec } = run(seed, { delay: 1 * MS }, { count: 50, interval: 0, size: 8 }, true);
    assert.deepEqual(
      rec.seqs,
      Array.from({ length: 50 }, (_, i) => i),
    );
    assert.deepEqual(rec.froms[0], { address: A, port: 1 });
    assert.notEqual(rec.datas[0], rec.datas[1]);
  }),
);

test(
  "Bernoulli loss 0.1 over 20,000 datagrams drops 10% ± 1.5%",
  withSeed(3, (seed) => {
    const n = 20_000;
    const { rec, stats } = run(seed, { loss: 0.1 }, { count: n, interval: 100, size: 20 });
    const rate = stats.lost / n;
    assert.ok(Math.abs(rate - 0.1) < 0.015, `loss rate ${rate}`);
    assert.equal(rec.count, n - stats.lost);
  }),
);

test(
  "Gilbert–Elliott loss averages p/(p+r) with mean burst length 1/r",
  withSeed(4, (seed) => {
    const n = 100_000;
    const p = 0.01;
    const r = 0.25;
    const { rec, stats } = run(seed, { burstLoss: { p, r } }, { count: n, interval: 10, size: 8 });
    const rate = stats.lost / n;
    assert.ok(Math.abs(rate - p / (p + r)) < 0.006, `loss rate ${rate}, expected ${p / (p + r)}`);
    const bursts: number[] = [];
    let prev = -1;
    for (const seq of [...rec.seqs, n]) {
      if (seq > prev + 1) bursts.push(seq - prev - 1);
      prev = seq;
    }
    const mean = bursts.reduce((a, b) => a + b, 0) / bursts.length;
    assert.ok(Math.abs(mean - 1 / r) < 0.5, `mean burst ${mean} over ${bursts.length} bursts`);
  }),
);

test(
  "Gilbert–Elliott honours lossInGood and lossInBad",
  withSeed(5, (seed) => {
    const n = 50_000;
    // Stationary P(bad) = 0.5: expected loss 0.5 * 0.2 + 0.5 * 0.6 = 0.4.
    const { stats } = run(
      seed,
      { burstLoss: { p: 0.1, r: 0.1, lossInGood: 0.2, lossInBad: 0.6 } },
      { count: n, interval: 10, size: 8 },
    );
    const rate = stats.lost / n;
    assert.ok(Math.abs(rate - 0.4) < 0.03, `loss rate ${rate}`);
  }),
);

test(
  "corruption flips exactly one bit at the configured rate",
  withSeed(6, (seed) => {
    const n = 5000;
    const fill = (s: number, i: number) => (s * 31 + i * 7) & 0xff;
    const { rec, stats } = run(seed, { corrupt: 0.2 }, { count: n, interval: 100, size: 64, fill }, true);
    assert.equal(rec.count, n);
    let corrupted = 0;
    for (let s = 0; s < n; s++) {
      const got = rec.datas[s];
      let bits = 0;
      for (let i = 0; i < got.length; i++) {
        const want = i < 4 ? (s >>> (24 - 8 * i)) & 0xff : fill(s, i);
        let x = got[i] ^ want;
        while (x) {
          bits += x & 1;
          x >>>= 1;
        }
      }
      assert.ok(bits <= 1, `datagram ${s} has ${bits} flipped bits`);
      corrupted += bits;
    }
    assert.equal(corrupted, stats.corrupted);
    assert.ok(Math.abs(corrupted / n - 0.2) < 0.025, `corruption rate ${corrupted / n}`);
  }),
);

test(
  "duplication sends an extra copy at the configured rate",
  withSeed(7, (seed) => {
    const n = 10_000;
    const { rec, stats } = run(seed, { duplicate: 0.1 }, { count: n, interval: 100, size: 8 });
    assert.equal(rec.count, n + stats.duplicated);
    assert.ok(Math.abs(stats.duplicated / n - 0.1) < 0.015, `duplicate rate ${stats.duplicated / n}`);
    const seen = new Map<number, number>();
    for (const s of rec.seqs) seen.set(s, (seen.get(s) ?? 0) + 1);
    assert.equal(seen.size, n);
    assert.ok([...seen.values()].every((c) => c === 1 || c === 2));
  }),
);

test(
  "jitter with reorder lets datagrams overtake; delays stay within [delay - j, delay + j]",
  withSeed(8, (seed) => {
    const n = 2000;
    const { rec, pinger } = run(seed, { delay: 20 * MS, jitter: 5 * MS }, { count: n, interval: 1 * MS, size: 8 });
    let inversions = 0;
    for (let i = 1; i < n; i++) if (rec.seqs[i] < rec.seqs[i - 1]) inversions++;
    assert.ok(inversions > 100, `only ${inversions} inversions`);
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const d = rec.times[i] - pinger.sendTimes[rec.seqs[i]];
      assert.ok(d >= 15 * MS && d <= 25 * MS + 1, `delay ${d}`);
      sum += d;
    }
    assert.ok(Math.abs(sum / n - 20 * MS) < 0.3 * MS, `mean delay ${sum / n}`);
  }),
);

test(
  "jitter without reorder keeps order",
  withSeed(9, (seed) => {
    const n = 2000;
    const { rec, pinger } = run(
      seed,
      { delay: 20 * MS, jitter: 5 * MS, reorder: false },
      { count: n, interval: 1 * MS, size: 8 },
    );
    assert.deepEqual(
      rec.seqs,
      Array.from({ length: n }, (_, i) => i),
    );
    for (let i = 0; i < n; i++) {
      assert.ok(rec.times[i] - pinger.sendTimes[i] >= 15 * MS);
      if (i > 0) assert.ok(rec.times[i] >= rec.times[i - 1]);
    }
  }),
);

test(
  "jitter larger than the delay is clipped at zero",
  withSeed(10, (seed) => {
    const { rec, pinger } = run(seed, { delay: 1 * MS, jitter: 10 * MS }, { count: 500, interval: 1 * MS, size: 8 });
    let zero = 0;
    for (let i = 0; i < rec.count; i++) {
      const d = rec.times[i] - pinger.sendTimes[rec.seqs[i]];
      assert.ok(d >= 0);
      if (d === 0) zero++;
    }
    assert.ok(zero > 100, `${zero} zero-delay datagrams`);
  }),
);

test(
  "bottleneck delivers at the configured rate within 1%",
  withSeed(11, (seed) => {
    const n = 2000;
    const size = 1250;
    const rate = 10_000_000;
    const { rec, stats } = run(seed, { delay: 10 * MS, rate, queueBytes: n * size }, { count: n, interval: 0, size });
    assert.equal(stats.queueDrops, 0);
    assert.equal(rec.count, n);
    // Serialization of 1250 bytes at 10 Mbit/s is 1 ms.
    assert.equal(rec.times[0], 10 * MS + 1 * MS);
    const measured = ((n - 1) * size * 8 * SECOND) / (rec.times[n - 1] - rec.times[0]);
    assert.ok(Math.abs(measured / rate - 1) < 0.01, `throughput ${measured}`);
  }),
);

test(
  "a paced sender slower than the bottleneck sees no queueing",
  withSeed(12, (seed) => {
    const { rec, pinger, stats } = run(
      seed,
      { delay: 5 * MS, rate: 8_000_000 },
      { count: 1000, interval: 2 * MS, size: 1000 },
    );
    assert.equal(stats.queueDrops, 0);
    for (let i = 0; i < rec.count; i++) assert.equal(rec.times[i], pinger.sendTimes[i] + 5 * MS + 1 * MS);
  }),
);

test(
  "bottleneck queue overflow drops at the packet limit",
  withSeed(13, (seed) => {
    const { rec, stats } = run(seed, { rate: 1_000_000, queuePackets: 10 }, { count: 50, interval: 0, size: 100 });
    assert.equal(rec.count, 10);
    assert.equal(stats.queueDrops, 40);
    assert.deepEqual(
      rec.seqs,
      Array.from({ length: 10 }, (_, i) => i),
    );
  }),
);

test(
  "bottleneck queue overflow drops at the byte limit, and the queue drains",
  withSeed(14, (seed) => {
    // 1000 bytes at 1 Mbit/s = 8 ms each; 5 fit in 5000 bytes. Bursts of 20 every second.
    const net = new SimNetwork({ seed });
    net.setLink(A, B, { rate: 1_000_000, queueBytes: 5000, delay: 0 });
    const rec = new Recorder();
    net.attach(B, 9, rec);
    net.attach(A, 1, new Pinger({ to: { address: B, port: 9 }, count: 20, interval: 0, size: 1000 }));
    net.attach(
      A,
      2,
      new Pinger({ to: { address: B, port: 9 }, count: 20, interval: 0, size: 1000, start: 1 * SECOND }),
    );
    net.runUntilIdle();
    const stats = net.link(A, B).stats;
    assert.equal(rec.count, 10);
    assert.equal(stats.queueDrops, 30);
    assert.deepEqual(
      rec.times,
      [1, 2, 3, 4, 5].flatMap((k) => [k * 8 * MS]).concat([1, 2, 3, 4, 5].map((k) => 1 * SECOND + k * 8 * MS)),
    );
  }),
);

test(
  "a datagram larger than the queue still passes an empty queue",
  withSeed(15, (seed) => {
    const { rec } = run(seed, { rate: 1_000_000, queueBytes: 100 }, { count: 3, interval: 0, size: 500 });
    assert.equal(rec.count, 1);
  }),
);

test(
  "MTU drops datagrams larger than the MTU only",
  withSeed(16, (seed) => {
    const net = new SimNetwork({ seed });
    net.setLink(A, B, { mtu: 1000 });
    const rec = new Recorder();
    net.attach(B, 9, rec);
    const to = { address: B, port: 9 };
    for (const [port, size] of [
      [1, 999],
      [2, 1000],
      [3, 1001],
    ]) {
      net.attach(A, port, new Pinger({ to, count: 1, interval: 0, size }));
    }
    net.runUntilIdle();
    assert.equal(rec.count, 2);
    assert.equal(rec.bytes, 1999);
    assert.equal(net.link(A, B).stats.mtuDrops, 1);
  }),
);

test(
  "partitions drop exactly the datagrams entering during the interval",
  withSeed(17, (seed) => {
    const { rec, pinger, stats } = run(
      seed,
      { delay: 50 * MS, partitions: [{ start: 1 * SECOND, end: 2 * SECOND }] },
      { count: 300, interval: 10 * MS, size: 8 },
    );
    assert.equal(stats.partitionDrops, 100);
    const got = new Set(rec.seqs);
    for (let s = 0; s < 300; s++) {
      const t = pinger.sendTimes[s];
      assert.equal(got.has(s), t < 1 * SECOND || t >= 2 * SECOND, `seq ${s} sent at ${t}`);
    }
  }),
);

test(
  "setDown takes a link down at runtime; datagrams already in flight still arrive",
  withSeed(18, (seed) => {
    const net = new SimNetwork({ seed });
    net.setLink(A, B, { delay: 100 * MS });
    const rec = new Recorder();
    net.attach(B, 9, rec);
    const pinger = new Pinger({ to: { address: B, port: 9 }, count: 100, interval: 10 * MS, size: 8 });
    net.attach(A, 1, pinger);
    net.runFor(495 * MS);
    assert.equal(pinger.sent, 50);
    net.link(A, B).setDown(true);
    assert.equal(net.link(A, B).down, true);
    net.runFor(500 * MS);
    assert.equal(rec.count, 50);
    net.link(A, B).setDown(false);
    net.runUntilIdle();
    assert.equal(net.link(A, B).stats.partitionDrops, 50);
    assert.deepEqual(
      rec.seqs,
      Array.from({ length: 50 }, (_, i) => i),
    );
  }),
);

test("invalid link settings are rejected", () => {
  const net = new SimNetwork({ seed: 1 });
  assert.throws(() => net.setLink(A, B, { loss: 1.5 }), RangeError);
  assert.throws(() => net.setLink(A, B, { delay: -1 }), RangeError);
  assert.throws(() => net.setLink(A, B, { burstLoss: { p: 0.1, r: 2 } }), RangeError);
  assert.throws(() => net.setLink(A, B, { partitions: [{ start: 5, end: 1 }] }), RangeError);
  assert.throws(() => new SimNetwork({ seed: 1, defaultLink: { queuePackets: 0 } }), RangeError);
});

test("setLink merges onto the link's current settings", () => {
  const net = new SimNetwork({ seed: 1, defaultLink: { delay: 3 * MS } });
  net.setLink(A, B, { loss: 0.25 });
  net.setLink(A, B, { jitter: 1 * MS, rate: undefined });
  const c = net.link(A, B).config;
  assert.equal(c.delay, 3 * MS);
  assert.equal(c.loss, 0.25);
  assert.equal(c.jitter, 1 * MS);
  assert.equal(c.rate, 0);
  assert.equal(net.link(B, A).config.loss, 0);
});
