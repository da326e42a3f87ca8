/**
 * Path MTU discovery's default ceiling in the Node API: node cannot set the
 * don't-fragment bit, so beyond loopback probes stop at the Ethernet payload.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { defaultProbeSize } from "../../src/api/defaults.js";
import { connect } from "../../src/index.js";
import { closeServer, listening, nextEvent, portOf } from "./helpers.js";

test("probes may reach 64 KB on loopback only; elsewhere they stop at 1472 (IPv4) or 1452 (IPv6) bytes", () => {
  for (const a of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"])
    assert.equal(defaultProbeSize(a), undefined, a);
  assert.equal(defaultProbeSize("192.0.2.7"), 1472);
  assert.equal(defaultProbeSize("0.0.0.0"), 1472);
  assert.equal(defaultProbeSize("2001:db8::1"), 1452);
  assert.equal(defaultProbeSize("::"), 1452);
});

test("a loopback connection still discovers large datagrams", { timeout: 20_000 }, async () => {
  const server = await listening({}, (s) => s.resume());
  const c = connect({ port: portOf(server), host: "127.0.0.1" });
  try {
    const sizes: number[] = [];
    const large = new Promise<void>((resolve) =>
      c.on("mtu", (size: number) => {
        sizes.push(size);
        if (size > 1472) resolve();
      }),
    );
    await nextEvent(c, "connect");
    c.write(Buffer.alloc(4 << 20));
    await large;
    assert.ok(Math.max(...sizes) > 1472, `discovered ${sizes.join(", ")}`);
  } finally {
    c.destroy();
    await closeServer(server);
  }
});
