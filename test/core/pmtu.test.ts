/**
 * Path MTU discovery (RFC 8899) on the simulator: probes climb to the path's
 * limit and stop there, the size is exposed in stats and as an event, and a
 * configurable maximum caps it.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";

describe("path MTU discovery", () => {
  for (const [mtu, expected] of [
    [1500, 1472],
    [9000, 8972],
    [65507, 65507],
  ] as const) {
    test(`climbs to the largest probe size a ${mtu}-byte path carries (${expected})`, () => {
      const pmtu = { maxProbePacketSize: 65507 };
      const { net, client, server } = makePair({ link: { mtu, delay: 5 * MS }, config: pmtu });
      const c = client.connect(server.address);
      const data = randomBytes(net.rng, 4 << 20);
      c.write(data);
      assert.ok(
        net.runUntil(() => server.accepted.length === 1 && server.log(server.accepted[0]).byteCount === data.length, {
          timeout: 60 * SECOND,
        }),
      );
      assert.ok(sameBytes(server.log(server.accepted[0]).bytes(), data));
      assert.equal(c.stats().packetSize, expected);
      assert.ok(client.log(c).events.includes("mtu"));
      assert.ok(c.stats().pmtuProbes >= 1);
      const st = net.link("10.0.0.1", "10.0.0.2").stats;
      assert.ok(st.mtuDrops <= 3 * 1, `only the failed probe size was dropped (${st.mtuDrops} drops)`);
    });
  }

  test("a sender that writes everything and closes at once still searches (regression: FIN-WAIT-1 stopped it)", () => {
    const { net, client, server } = makePair({
      link: { mtu: 1500, delay: 5 * MS },
      config: { maxProbePacketSize: 65507 },
    });
    const c = client.connect(server.address);
    const data = randomBytes(net.rng, 4 << 20);
    c.write(data);
    c.end();
    assert.ok(
      net.runUntil(() => server.accepted.length === 1 && server.log(server.accepted[0]).byteCount === data.length, {
        timeout: 60 * SECOND,
      }),
    );
    assert.ok(sameBytes(server.log(server.accepted[0]).bytes(), data));
    assert.ok(c.stats().pmtuProbes >= 1, "probes went out after close()");
    assert.equal(c.stats().packetSize, 1472);
  });

  test("a configured maximum caps the search, and 0 turns it off", () => {
    for (const [max, expected] of [
      [9000, 8972],
      [0, 1200],
    ] as const) {
      const { net, client, server } = makePair({ config: { maxProbePacketSize: max } });
      const c = client.connect(server.address);
      c.write(new Uint8Array(1 << 20));
      assert.ok(
        net.runUntil(() => server.accepted.length === 1 && server.log(server.accepted[0]).byteCount === 1 << 20),
      );
      assert.equal(c.stats().packetSize, expected);
    }
  });

  test("probes that are lost do not count as congestion, and the transfer is exact under loss", () => {
    const { net, client, server } = makePair({
      link: { mtu: 1500, loss: 0.05 },
      config: { maxProbePacketSize: 65507 },
    });
    const c = client.connect(server.address);
    const data = randomBytes(net.rng, 2 << 20);
    c.write(data);
    c.end();
    assert.ok(
      net.runUntil(() => server.accepted.length === 1 && server.log(server.accepted[0]).ended, {
        timeout: 300 * SECOND,
      }),
    );
    assert.ok(sameBytes(server.log(server.accepted[0]).bytes(), data));
    assert.ok(c.stats().packetSize <= 1472);
  });

  test("a deadline left in the past never makes the endpoint spin (regression: PMTU probe timer)", () => {
    const { net, client, server } = makePair({
      link: { mtu: 1500, loss: 0.05, jitter: 5 * MS },
      config: { maxProbePacketSize: 65507 },
    });
    const c = client.connect(server.address, { isn: 0xffff_ff00 });
    c.write(new Uint8Array(600_000));
    c.end();
    assert.ok(
      net.runUntil(() => server.accepted.length === 1 && server.log(server.accepted[0]).ended, {
        timeout: 120 * SECOND,
      }),
    );
  });
});
