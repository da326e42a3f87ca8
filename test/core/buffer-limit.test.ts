/**
 * The endpoint's limit on receive bytes buffered across all its connections
 * (`maxBufferedBytes`): readers that stall cannot make a server hold more,
 * the limit is counted when hit, and nothing is lost once they read again.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";
import { seedFor } from "../helpers/seed.js";

const LIMIT = 256 * 1024;

test("buffered receive bytes stay within maxBufferedBytes across connections, and every byte arrives once readers resume", () => {
  const { net, client, server } = makePair({
    seed: seedFor(41),
    link: { delay: 5 * MS, rate: 50e6 },
    serverConfig: { maxBufferedBytes: LIMIT },
  });
  server.autoRead = false;
  const sent = Array.from({ length: 8 }, () => randomBytes(net.rng, 1 << 20));
  const conns = sent.map((data) => {
    const c = client.connect(server.address);
    c.write(data);
    c.end();
    return c;
  });
  let peak = 0;
  net.runUntil(
    () => {
      peak = Math.max(peak, server.endpoint.stats().bufferedBytes);
      return false;
    },
    { timeout: 5 * SECOND },
  );
  const stats = server.endpoint.stats();
  assert.equal(server.accepted.length, sent.length);
  assert.ok(peak <= LIMIT, `peak ${peak} buffered bytes with a limit of ${LIMIT}`);
  assert.ok(stats.bufferedBytes > LIMIT / 2, `the limit was approached (${stats.bufferedBytes})`);
  const unread = server.accepted.reduce((n, c) => n + c.readableLength, 0);
  assert.ok(unread <= stats.bufferedBytes, "unread bytes are part of what is counted");
  assert.ok(stats.bufferLimitDrops > 0, "the limit was hit and counted");
  for (const c of conns) assert.ok(c.bufferedAmount > 0, "senders are held back, not finished");

  server.autoRead = true;
  const done = net.runUntil(
    () => {
      for (const c of server.accepted) server.readAll(c);
      return server.accepted.every((c) => server.log(c).ended);
    },
    { timeout: 300 * SECOND },
  );
  assert.ok(done, "every transfer completes once the server reads");
  for (const c of server.accepted) {
    const i = conns.findIndex((x) => x.localCid === c.peerCid);
    assert.ok(sameBytes(server.log(c).bytes(), sent[i]), `connection ${i} delivered its bytes exactly`);
  }
  const after = server.endpoint.stats();
  assert.equal(after.bufferedBytes, 0);
  const dropped = server.accepted.reduce((n, c) => n + c.stats().bufferLimitDrops, 0);
  assert.equal(after.bufferLimitDrops, dropped, "the endpoint counts what its connections dropped");
});

test("maxBufferedBytes is validated", () => {
  for (const bad of [-1, 1.5, Number.NaN])
    assert.throws(() => makePair({ serverConfig: { maxBufferedBytes: bad } }), { code: "ERR_OUT_OF_RANGE" });
});
