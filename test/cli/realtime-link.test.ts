/** The proxy's real-time LinkSink: simulator links deliver at their scheduled real times from one heap and one timer. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { RealtimeLinkSink } from "../../src/cli/realtime-link.js";
import { MS } from "../../src/core/time.js";
import { Link } from "../../src/sim/link.js";

test("datagrams arrive after the link's delay, in order, minus its losses", { timeout: 10_000 }, async () => {
  const arrivals: { n: number; at: number }[] = [];
  const sent = new Map<number, number>();
  const fates: string[] = [];
  const sink = new RealtimeLinkSink(
    (_link, _from, _to, data) => arrivals.push({ n: data[0] | (data[1] << 8), at: performance.now() }),
    (_t, _f, _to, _size, fate) => fates.push(fate),
  );
  const a = { address: "10.0.0.1", port: 1 };
  const b = { address: "10.0.0.2", port: 2 };
  const clean = new Link("a", "b", { delay: 30 * MS }, 1, sink);
  const lossy = new Link("a", "b", { delay: 5 * MS, loss: 0.5 }, 2, sink);
  for (let n = 0; n < 200; n++) {
    sent.set(n, performance.now());
    clean.send(sink.now(), a, b, Uint8Array.of(n & 0xff, n >> 8));
  }
  for (let n = 1000; n < 1200; n++) lossy.send(sink.now(), a, b, Uint8Array.of(n & 0xff, n >> 8));
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(sink.pending, 0);
  const cleanArrivals = arrivals.filter((x) => x.n < 1000);
  assert.deepEqual(
    cleanArrivals.map((x) => x.n),
    [...sent.keys()],
  );
  for (const x of cleanArrivals) assert.ok(x.at - (sent.get(x.n) as number) >= 29, "not before the delay");
  const lossyArrivals = arrivals.filter((x) => x.n >= 1000).length;
  assert.equal(lossyArrivals + lossy.stats.lost, 200);
  assert.ok(lossyArrivals > 60 && lossyArrivals < 140, `about half arrive (${lossyArrivals})`);
  assert.equal(fates.filter((f) => f === "lost").length, lossy.stats.lost);
  sink.close();
});
