/**
 * Congestion control on simulated paths (virtual time, deterministic): the
 * algorithmic guard of the performance targets. No wall-clock timing here.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { CONTROLLER_NAMES } from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { makePair } from "../helpers/pair.js";

/** Goodput (bits/s of application data) of a one-way transfer across a 100 Mbit/s, 50 ms RTT path. */
function goodput(congestionControl: string, loss: number, bytes: number, seed = 3): number {
  const { net, client, server } = makePair({
    seed,
    link: { delay: 25 * MS, rate: 100e6, queueBytes: 625_000, loss },
    config: { congestionControl, receiveWindow: 16 << 20 },
  });
  const c = client.connect(server.address);
  c.write(new Uint8Array(bytes));
  const done = net.runUntil(() => server.accepted.length > 0 && server.log(server.accepted[0]).byteCount >= bytes, {
    timeout: 900 * SECOND,
  });
  assert.ok(done, `${congestionControl} at ${loss * 100}% loss did not finish`);
  return (bytes * 8) / (net.now / SECOND);
}

describe("congestion control", () => {
  test("controllers are registered by name", () => {
    assert.deepEqual([...CONTROLLER_NAMES].sort(), ["bbr", "cubic", "newreno"]);
  });

  test("BBR reaches at least 85% of a 100 Mbit/s, 50 ms link with 1% random loss each way", () => {
    const bps = goodput("bbr", 0.01, 60 << 20);
    assert.ok(bps >= 85e6, `goodput ${(bps / 1e6).toFixed(1)} Mbit/s`);
  });

  test("BBR keeps most of the link at 5% loss, where NewReno collapses", () => {
    const bbr = goodput("bbr", 0.05, 30 << 20);
    const reno = goodput("newreno", 0.05, 1 << 20);
    assert.ok(bbr >= 60e6, `BBR ${(bbr / 1e6).toFixed(1)} Mbit/s`);
    assert.ok(bbr > 20 * reno, `BBR ${(bbr / 1e6).toFixed(1)} vs NewReno ${(reno / 1e6).toFixed(2)} Mbit/s`);
  });

  test("on a clean link both controllers fill the pipe", () => {
    for (const cc of ["newreno", "bbr"]) {
      const bps = goodput(cc, 0, 40 << 20);
      assert.ok(bps >= 80e6, `${cc}: ${(bps / 1e6).toFixed(1)} Mbit/s`);
    }
  });
});
