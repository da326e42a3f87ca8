import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import { decode, hasFlags } from "../helpers/packets.js";
import { makePair, SimPeer } from "../helpers/pair.js";

describe("SYN-SENT / SYN-RECEIVED: the three-way handshake", () => {
  test("client and server pass through the RFC 9293 states and sample the RTT", () => {
    const { net, client, server } = makePair({ link: { delay: 25 * MS } });
    const c = client.connect(server.address);
    assert.ok(net.runUntil(() => client.log(c).connected && server.accepted.length === 1, { timeout: 5 * SECOND }));
    const s = server.accepted[0];
    assert.deepEqual(client.log(c).states, ["SYN-SENT", "ESTABLISHED"]);
    assert.deepEqual(server.log(s).states, ["LISTEN", "SYN-RECEIVED", "ESTABLISHED"]);
    assert.equal(c.stats().srtt, 50 * MS);
    assert.equal(c.peerCid, s.localCid);
    assert.equal(s.peerCid, c.localCid);
  });

  test("lost SYNs are retransmitted with exponential backoff", () => {
    const { net, client, server } = makePair({ config: { initialRto: 100 * MS, minRto: 10 * MS } });
    const synTimes: number[] = [];
    net.intercept = (_f, _t, data, now) => {
      if (!hasFlags(data, "SYN")) return true;
      synTimes.push(now);
      return synTimes.length > 3; // the first three SYNs are lost
    };
    const c = client.connect(server.address);
    assert.ok(net.runUntil(() => client.log(c).connected, { timeout: 10 * SECOND }));
    assert.deepEqual(
      synTimes.slice(1).map((t, i) => t - synTimes[i]),
      [100 * MS, 200 * MS, 400 * MS],
    );
    assert.equal(synTimes[0], 0);
    assert.equal(server.endpoint.connectionCount, 1);
  });

  test("a lost SYN-ACK is retransmitted and a retransmitted SYN reaches the same connection", () => {
    const { net, client, server } = makePair({ config: { initialRto: 100 * MS } });
    let synAcks = 0;
    net.intercept = (_f, _t, data) => !(hasFlags(data, "SYN", "ACK") && ++synAcks <= 2);
    const c = client.connect(server.address);
    assert.ok(net.runUntil(() => client.log(c).connected && server.accepted.length === 1, { timeout: 10 * SECOND }));
    assert.ok(synAcks >= 3);
    assert.equal(server.endpoint.stats().connectionsOpened, 1);
  });

  test("when the final ACK is lost, the client's first data segment completes the server's handshake", () => {
    const { net, client, server } = makePair({});
    net.intercept = (f, _t, data) => !(f.port === 1000 && hasFlags(data, "ACK"));
    const c = client.connect(server.address);
    c.write(new TextEncoder().encode("hello"));
    assert.ok(net.runUntil(() => server.accepted.length === 1, { timeout: 5 * SECOND }));
    net.intercept = undefined;
    assert.ok(net.runUntil(() => server.log(server.accepted[0]).byteCount === 5, { timeout: 5 * SECOND }));
  });

  test("when the final ACK is lost and the client stays silent, the SYN-ACK is resent and re-acknowledged", () => {
    const { net, client, server } = makePair({ config: { initialRto: 100 * MS } });
    let dropped = 0;
    net.intercept = (f, _t, data) => !(f.port === 1000 && hasFlags(data, "ACK") && ++dropped === 1);
    const c = client.connect(server.address);
    assert.ok(net.runUntil(() => server.accepted.length === 1, { timeout: 5 * SECOND }));
    assert.ok(dropped >= 2);
    assert.ok(client.log(c).connected);
  });

  test("data written and end() called before the handshake completes are delivered after it", () => {
    const { net, client, server } = makePair({});
    const c = client.connect(server.address);
    c.write(new Uint8Array([1, 2, 3]));
    c.sendMessage(new Uint8Array([9]));
    c.end();
    assert.equal(c.state, "SYN-SENT");
    assert.ok(net.runUntil(() => server.accepted.length === 1 && server.log(server.accepted[0]).ended));
    const log = server.log(server.accepted[0]);
    assert.deepEqual([...log.bytes()], [1, 2, 3]);
    assert.deepEqual(
      log.messages.map((m) => [...m]),
      [[9]],
    );
    assert.deepEqual(client.log(c).states.slice(0, 3), ["SYN-SENT", "ESTABLISHED", "FIN-WAIT-1"]);
  });

  test("connecting where nothing listens fails fast with ECONNREFUSED", () => {
    const { net, client, server } = makePair({});
    server.endpoint.stopListening();
    const c = client.connect(server.address);
    assert.ok(net.runUntil(() => client.log(c).closed, { timeout: 5 * SECOND }));
    assert.equal(client.log(c).error?.code, "ECONNREFUSED");
    assert.ok(net.now <= 25 * MS, `refused after ${net.now} µs`);
    assert.equal(server.endpoint.stats().refusedHandshakes, 1);
  });

  test("a forged RST that does not echo our SYN's timestamp is ignored in SYN-SENT", () => {
    const { net, client, server } = makePair({});
    server.endpoint.stopListening();
    net.intercept = (f, t, data) => {
      const p = decode(data);
      if (p && p.flags === 0x10 && f.port === 2000) {
        data[16] ^= 0xff; // corrupt tsecr, then fix the checksum so only the echo is wrong
        const forged = new Uint8Array(data);
        net.inject(f, t, resign(forged));
        return false;
      }
      return true;
    };
    const c = client.connect(server.address, { maxSynRetransmissions: 1 } as never);
    net.runUntil(() => client.log(c).closed, { timeout: 10 * SECOND });
    assert.notEqual(client.log(c).error?.code, "ECONNREFUSED");
  });

  test("connecting to a silent address fails with ETIMEDOUT after the bounded SYN retransmissions", () => {
    const { net, client } = makePair({ config: { initialRto: 100 * MS, minRto: 10 * MS, maxSynRetransmissions: 3 } });
    const c = client.connect({ address: "10.9.9.9", port: 9 });
    assert.ok(net.runUntil(() => client.log(c).closed, { timeout: 60 * SECOND }));
    assert.equal(client.log(c).error?.code, "ETIMEDOUT");
    assert.equal(c.stats().packetsSent, 4);
    assert.equal(net.now, (100 + 200 + 400 + 800) * MS);
  });
});

describe("simultaneous open", () => {
  for (const lose of ["none", "first SYN of A", "both SYN-ACKs once"] as const) {
    test(`two peers connecting to each other at once get one connection each (${lose} lost)`, () => {
      const { net, client: a, server: b } = makePair({ config: { initialRto: 100 * MS } });
      b.endpoint.stopListening(); // peers need not listen for a simultaneous open
      let synA = 0;
      let synAcks = 0;
      net.intercept = (f, _t, data) => {
        if (lose === "first SYN of A" && f.port === 1000 && hasFlags(data, "SYN")) return ++synA > 1;
        if (lose === "both SYN-ACKs once" && hasFlags(data, "SYN", "ACK")) return ++synAcks > 2;
        return true;
      };
      const ca = a.connect(b.address);
      const cb = b.connect(a.address);
      assert.ok(net.runUntil(() => a.log(ca).connected && b.log(cb).connected, { timeout: 10 * SECOND }));
      assert.equal(a.endpoint.connectionCount, 1);
      assert.equal(b.endpoint.connectionCount, 1);
      assert.equal(ca.peerCid, cb.localCid);
      assert.equal(cb.peerCid, ca.localCid);
      if (lose === "none") {
        assert.deepEqual(a.log(ca).states, ["SYN-SENT", "SYN-RECEIVED", "ESTABLISHED"]);
        assert.deepEqual(b.log(cb).states, ["SYN-SENT", "SYN-RECEIVED", "ESTABLISHED"]);
      }
      ca.write(new Uint8Array(100_000).fill(7));
      cb.write(new Uint8Array(50_000).fill(8));
      assert.ok(net.runUntil(() => b.log(cb).byteCount === 100_000 && a.log(ca).byteCount === 50_000));
    });
  }

  test("a third peer's SYN is not mistaken for the simultaneous open", () => {
    const { net, client: a, server: b } = makePair({});
    const c = new SimPeer(net, { address: "10.0.0.3", port: 3000 }, {}, 99);
    const ab = a.connect(b.address);
    const cb = c.connect(b.address);
    assert.ok(net.runUntil(() => a.log(ab).connected && c.log(cb).connected && b.accepted.length === 2));
    assert.notEqual(b.accepted[0].remote.address, b.accepted[1].remote.address);
  });
});

import { wire } from "../../src/core/index.js";

/** Rewrites the checksum of a datagram after a test modified it. */
function resign(data: Uint8Array): Uint8Array {
  const end = data.length - 4;
  const crc = wire.crc32(data, 0, end);
  new DataView(data.buffer, data.byteOffset).setUint32(end, crc);
  return data;
}
