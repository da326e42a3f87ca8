/**
 * When data packets carry an ACK section (PROTOCOL.md §2.12): only while an
 * ACK is owed, or until the peer shows it has left the handshake. Otherwise
 * the 13 to 37 bytes go to payload, and full segments fill maxPacketSize.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import { decode } from "../helpers/packets.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";

const ACK = 0x02;
const DATA = 0x04;

interface Seen {
  data: number;
  dataWithAck: number;
  pureAcks: number;
  fullSize: number;
  sizes: number[];
}

function watch(): Seen {
  return { data: 0, dataWithAck: 0, pureAcks: 0, fullSize: 0, sizes: [] };
}

function record(seen: Seen, d: Uint8Array, maxPacketSize: number): void {
  const p = decode(d);
  if (!p) return;
  if (p.flags & DATA) {
    seen.data++;
    if (p.flags & ACK) seen.dataWithAck++;
    if (d.length === maxPacketSize) seen.fullSize++;
    seen.sizes.push(d.length);
  } else if (p.flags === ACK) seen.pureAcks++;
}

describe("ACKs piggybacked on data", () => {
  test("a one-way transfer sends full-size data packets without ACK sections once the peer is established", () => {
    const { net, client, server } = makePair({ link: { delay: 10 * MS, rate: 50e6 } });
    const up = watch();
    net.intercept = (from, _to, d) => {
      if (from.port === 1000) record(up, d, 1200);
      return true;
    };
    const c = client.connect(server.address);
    const data = randomBytes(net.rng, 2 << 20);
    c.write(data);
    assert.ok(
      net.runUntil(() => server.accepted.length === 1 && server.log(server.accepted[0]).byteCount === data.length),
    );
    assert.ok(sameBytes(server.log(server.accepted[0]).bytes(), data));
    assert.equal(c.mss, 1200 - 28, "MSS = maxPacketSize − header, DATA section and checksum");
    // The first flight carries the ACK of the SYN-ACK (the server may not have seen it yet); after that, none.
    assert.ok(
      up.dataWithAck >= 1 && up.dataWithAck <= 40,
      `${up.dataWithAck} of ${up.data} data packets carried an ACK`,
    );
    assert.ok(up.fullSize >= up.data - up.dataWithAck - 2, `${up.fullSize} of ${up.data} data packets were 1200 bytes`);
    assert.ok(Math.max(...up.sizes) <= 1200);
  });

  test("a two-way transfer piggybacks its ACKs on data, with SACK ranges, and both directions arrive intact under loss", () => {
    const { net, client, server } = makePair({ seed: 7, link: { delay: 10 * MS, rate: 20e6, loss: 0.02 } });
    const up = watch();
    net.intercept = (from, _to, d) => {
      if (from.port === 1000) record(up, d, 1200);
      return true;
    };
    const c = client.connect(server.address);
    assert.ok(net.runUntil(() => server.accepted.length === 1));
    const s = server.accepted[0];
    const a = randomBytes(net.rng, 1 << 20);
    const b = randomBytes(net.rng, 1 << 20);
    c.write(a);
    s.write(b);
    assert.ok(
      net.runUntil(() => server.log(s).byteCount === a.length && client.log(c).byteCount === b.length, {
        timeout: 120 * SECOND,
      }),
    );
    assert.ok(sameBytes(server.log(s).bytes(), a));
    assert.ok(sameBytes(client.log(c).bytes(), b));
    // While data flows both ways, the client's data packets carry its ACKs (with ranges for the losses);
    // pure ACKs go out only when one is owed and the window has no data packet to carry it (as before
    // the ACK section became optional: 942 data packets, all with ACKs, and 424 pure ACKs).
    const seen = `${up.dataWithAck} of ${up.data} data packets piggybacked, ${up.pureAcks} pure ACKs`;
    assert.ok(up.dataWithAck >= 0.75 * up.data, seen);
    assert.ok(up.pureAcks < 0.5 * up.data, seen);
    assert.ok(Math.max(...up.sizes) <= 1200);
  });

  test("when the ACK of the SYN-ACK is lost, the client's next data packets still complete the handshake", () => {
    const { net, client, server } = makePair({ link: { delay: 10 * MS } });
    let dropped = 0;
    net.intercept = (from, _to, d) => {
      const p = decode(d);
      // Drop the client's first two packets after its SYN: the pure or piggybacked ACK of the SYN-ACK.
      if (from.port === 1000 && p && !(p.flags & 0x01) && dropped < 2) {
        dropped++;
        return false;
      }
      return true;
    };
    const c = client.connect(server.address);
    assert.ok(net.runUntil(() => client.log(c).connected));
    const data = randomBytes(net.rng, 200_000);
    c.write(data);
    assert.ok(
      net.runUntil(() => server.accepted.length === 1 && server.log(server.accepted[0]).byteCount === data.length),
    );
    assert.equal(dropped, 2);
    // Established by a later data packet's ACK within a few RTTs, not by a SYN-ACK retransmission (1 s initial RTO).
    assert.ok(net.now < 500 * MS, `done at ${net.now / MS} ms`);
  });
});
