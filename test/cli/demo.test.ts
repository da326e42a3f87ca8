/** `rudp demo`: the local demo (recv, proxy and send as real processes) and the simulated one both verify their transfer. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { rudp } from "./helpers.js";

test("rudp demo runs recv, an impairment proxy and send on this machine and verifies the data", {
  timeout: 60_000,
}, async () => {
  const p = rudp(["demo", "--size", "2MiB", "--loss", "5%"]);
  const r = await p.exited;
  const out = p.stdout().toString();
  assert.equal(r.code, 0, `${out}\n${p.stderr()}`);
  assert.match(out, /through "rudp proxy" \(5\.0% loss each way/);
  assert.match(out, /receiver:[\s\S]*verified/);
  assert.match(out, /client->server\s+\d+/, "the proxy's counters are printed");
  assert.match(out, /^verified: the receiver's SHA-256 matches the sender's$/m);
});

test("rudp demo --simulated runs the seeded virtual-time transfer", { timeout: 60_000 }, async () => {
  const p = rudp(["demo", "--simulated", "--size", "2MiB"]);
  const r = await p.exited;
  assert.equal(r.code, 0, p.stderr());
  assert.match(p.stdout().toString(), /verified\s+yes/);
});
