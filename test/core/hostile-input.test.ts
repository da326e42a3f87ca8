/**
 * The receive path never throws and never breaks a connection on hostile
 * input: random bytes and mutations of real datagrams (bit flips, truncation,
 * extension, field extremes with a valid checksum, replays) are dropped and
 * counted, and the connection still delivers exactly what was sent.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { wire } from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";
import { seedFor } from "../helpers/seed.js";

function reseal(d: Uint8Array): Uint8Array {
  if (d.length >= 4) new DataView(d.buffer, d.byteOffset).setUint32(d.length - 4, wire.crc32(d, 0, d.length - 4));
  return d;
}

test("20,000 hostile datagrams mixed into a live transfer are dropped without harm", () => {
  const seed = seedFor(11);
  const { net, client, server } = makePair({ seed, link: { delay: 5 * MS, loss: 0.02 } });
  const rng = net.rng;
  const captured: Uint8Array[] = [];
  net.intercept = (_f, _t, d) => {
    if (captured.length < 2000) captured.push(d.slice());
    return true;
  };
  const c = client.connect(server.address);
  const data = randomBytes(rng, 1 << 20);
  c.write(data);
  c.end();
  const attacker = { address: "10.0.0.1", port: 1000 }; // spoofs the client's own address
  let injected = 0;
  const inject = () => {
    for (let i = 0; i < 200 && injected < 20_000; i++, injected++) {
      let d: Uint8Array;
      const kind = rng.nextInt(6);
      const base = captured.length ? captured[rng.nextInt(captured.length)].slice() : new Uint8Array(40);
      if (kind === 0) d = randomBytes(rng, rng.nextInt(200));
      else if (kind === 1) {
        d = base;
        d[rng.nextInt(d.length)] ^= 1 << rng.nextInt(8); // flipped bit, stale checksum
      } else if (kind === 2)
        d = base.subarray(0, rng.nextInt(base.length)); // truncated
      else if (kind === 3) {
        d = new Uint8Array(base.length + 1 + rng.nextInt(64)); // extended, resealed
        d.set(base);
        reseal(d);
      } else if (kind === 4) {
        d = base; // a field at an extreme, with a valid checksum
        const at = 4 + rng.nextInt(Math.max(1, d.length - 8));
        d[at] = rng.nextInt(2) ? 0xff : 0;
        reseal(d);
      } else d = base; // a replay of an old datagram
      net.inject(attacker, server.address, d);
    }
  };
  assert.ok(
    net.runUntil(
      () => {
        inject();
        return server.accepted.length === 1 && server.log(server.accepted[0]).ended;
      },
      { timeout: 120 * SECOND },
    ),
    `transfer did not finish (seed ${seed})`,
  );
  while (injected < 20_000) {
    inject();
    net.runFor(1 * MS);
  }
  net.runFor(1 * SECOND);
  const s = server.accepted[0];
  assert.ok(sameBytes(server.log(s).bytes(), data), `delivered bytes differ (seed ${seed})`);
  const st = server.endpoint.stats();
  assert.equal(st.internalErrors, 0, String(server.endpoint.lastInternalError));
  assert.ok(st.corruptDrops + st.malformedDrops + st.foreignDrops > 5000, JSON.stringify(st));
  assert.equal(server.log(s).error, undefined);
});
