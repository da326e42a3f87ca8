import assert from "node:assert/strict";
import { test } from "node:test";
import { SECOND } from "../../src/core/time.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";

test("smoke: 1 MiB over a clean link, then close", () => {
  const { net, client, server } = makePair({});
  const c = client.connect(server.address);
  const data = randomBytes(net.rng, 1 << 20);
  c.write(data);
  c.end();
  const ok = net.runUntil(() => server.accepted.length > 0 && server.log(server.accepted[0]).ended, {
    timeout: 60 * SECOND,
  });
  assert.ok(ok, "transfer did not finish");
  const s = server.accepted[0];
  assert.ok(sameBytes(server.log(s).bytes(), data));
  s.end();
  net.runUntil(() => client.log(c).closed && server.log(s).closed, { timeout: 60 * SECOND });
  console.log(c.stats(), server.log(s).states, client.log(c).states, net.now);
  assert.ok(server.log(s).closed);
});
