/**
 * Segments cut for a larger path MTU than the path carries now are resent in fragments
 * (PROTOCOL §4.10): a path whose MTU shrinks after discovery raised the size (simulator, virtual time).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { SeededRng } from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { nodeCryptoProvider } from "../../src/runtime/node-crypto.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";

/** A transfer over a path that carries `mtu` bytes until discovery has raised the size past `shrinkTo`, then `shrinkTo`. */
function shrinkingPath(opts: { mtu: number; shrinkTo: number; bytes: number; seed: number; encrypted?: boolean }) {
  const encryption = opts.encrypted ? { psk: new Uint8Array(32).fill(7) } : undefined;
  const { net, client, server } = makePair({
    seed: opts.seed,
    link: { delay: 10 * MS, rate: 50e6, queueBytes: 256 * 1024, mtu: opts.mtu },
    config: { maxProbePacketSize: opts.mtu, ...(encryption ? { crypto: nodeCryptoProvider() } : {}) },
    serverConfig: { encryption },
  });
  const c = client.connect(server.address, { encryption });
  const up = randomBytes(new SeededRng(opts.seed), opts.bytes);
  c.write(up);
  assert.ok(
    net.runUntil(() => c.stats().packetSize > opts.shrinkTo, { timeout: 20 * SECOND }),
    "discovery raised the size",
  );
  const raised = c.stats().packetSize;
  net.setPath("10.0.0.1", "10.0.0.2", { mtu: opts.shrinkTo });
  c.end(); // discovery stops once the connection leaves ESTABLISHED
  assert.ok(
    net.runUntil(() => server.accepted.length > 0 && server.log(server.accepted[0]).ended, { timeout: 300 * SECOND }),
    `the transfer finished (${server.accepted.length > 0 ? server.log(server.accepted[0]).byteCount : 0} bytes arrived)`,
  );
  const s = server.accepted[0];
  assert.equal(client.log(c).error, undefined);
  assert.ok(sameBytes(server.log(s).bytes(), up), "every byte arrived once, in order");
  return { raised, sender: c.stats(), receiver: s.stats() };
}

test("after the path MTU shrinks, the black-hole fallback resends the large segments in fragments (regression: ETIMEDOUT)", () => {
  const { raised, sender, receiver } = shrinkingPath({ mtu: 9000, shrinkTo: 1500, bytes: 4 << 20, seed: 21 });
  assert.ok(raised > 1500, `raised to ${raised}`);
  assert.ok(sender.packetSize <= 1500, `fell back to ${sender.packetSize}`);
  assert.ok(sender.fragmentsSent > 0, "fragments were sent");
  assert.ok(receiver.fragmentsReceived >= sender.fragmentsSent / 2, `${receiver.fragmentsReceived} received`);
  assert.equal(receiver.malformedDrops, 0);
});

test("fragments work inside encrypted packets too", () => {
  const { sender, receiver } = shrinkingPath({ mtu: 4096, shrinkTo: 1500, bytes: 1 << 20, seed: 22, encrypted: true });
  assert.ok(sender.fragmentsSent > 0);
  assert.ok(receiver.fragmentsReceived > 0);
  assert.equal(receiver.authFailures, 0);
});
