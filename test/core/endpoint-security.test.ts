import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { type Address, addressKey, wire } from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { decode, hasFlags } from "../helpers/packets.js";
import { makePair, randomBytes, SimPeer, sameBytes } from "../helpers/pair.js";

const { Flag, emitPacket } = wire;

/** A SYN from a spoofed address, as an attacker would forge it. */
function spoofedSyn(scid: number, tsval = 1, ext = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(128);
  const n = emitPacket(
    {
      flags: Flag.SYN,
      dcid: 0,
      scid,
      tsval,
      tsecr: 0,
      handshake: { isn: 7, window: 65536, maxPacketSize: 1200, ext },
      ack: undefined,
      seq: 0,
      payload: new Uint8Array(0),
    },
    out,
  );
  return out.slice(0, n);
}

describe("stateless address validation (RETRY tokens)", () => {
  test('"always": the server keeps no state until the client echoes its token', () => {
    const { net, client, server } = makePair({ serverConfig: { addressValidation: "always" } });
    const seen: string[] = [];
    net.intercept = (f, _t, d) => {
      const p = decode(d);
      if (p)
        seen.push(
          `${f.port === 1000 ? "C" : "S"}:${p.flags & Flag.RETRY ? "RETRY" : p.flags & Flag.SYN ? (p.flags & Flag.ACK ? "SYN-ACK" : "SYN") : "other"}`,
        );
      return true;
    };
    const c = client.connect(server.address);
    net.runFor(15 * MS); // the SYN reached the server (10 ms) and was answered statelessly
    assert.equal(server.endpoint.connectionCount, 0, "no state after the first SYN");
    assert.ok(net.runUntil(() => client.log(c).connected && server.accepted.length === 1));
    assert.deepEqual(seen.slice(0, 4), ["C:SYN", "S:RETRY", "C:SYN", "S:SYN-ACK"]);
    assert.equal(server.endpoint.stats().retriesSent, 1);
    c.write(new Uint8Array(50_000).fill(3));
    assert.ok(net.runUntil(() => server.log(server.accepted[0]).byteCount === 50_000));
  });

  test("a forged or replayed-elsewhere token is rejected; an expired one earns a new RETRY", () => {
    const { net, server } = makePair({ serverConfig: { addressValidation: "always", tokenLifetime: 2 * SECOND } });
    const attacker: Address = { address: "10.6.6.6", port: 666 };
    const victim: Address = { address: "10.0.0.9", port: 9 };
    // Obtain a real token for the attacker's own address, then present it from another address.
    let token: Uint8Array | undefined;
    net.attach(attacker.address, attacker.port, {
      handleDatagram: (_now, _from, data) => {
        token = decode(data)?.token?.slice();
      },
      handleTimeout: () => {},
      pollTransmit: () => undefined,
      pollTimeout: () => undefined,
    });
    net.inject(attacker, server.address, spoofedSyn(42));
    net.runFor(50 * MS);
    assert.ok(token, "got a RETRY token");
    const ext = new Uint8Array(3 + token.length);
    ext[0] = 2;
    new DataView(ext.buffer).setUint16(1, token.length);
    ext.set(token, 3);
    net.inject(victim, server.address, spoofedSyn(42, 2, ext)); // stolen token, other address
    const forged = ext.slice();
    forged[5] ^= 1;
    net.inject(attacker, server.address, spoofedSyn(42, 3, forged)); // altered token
    net.runFor(50 * MS);
    assert.equal(server.endpoint.stats().invalidTokens, 2);
    assert.equal(server.endpoint.connectionCount, 0);
    net.runFor(3 * SECOND);
    const retries = server.endpoint.stats().retriesSent;
    net.inject(attacker, server.address, spoofedSyn(42, 4, ext)); // expired by now
    net.runFor(50 * MS);
    assert.equal(server.endpoint.stats().retriesSent, retries + 1);
    assert.equal(server.endpoint.connectionCount, 0);
  });

  test("a flood of 100,000 spoofed SYNs keeps server state bounded while a real client still connects", () => {
    const backlog = 64;
    const { net, client, server } = makePair({ serverConfig: { backlog } });
    let maxHalfOpen = 0;
    const rng = net.rng;
    for (let i = 0; i < 100_000; i++) {
      const from = { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000) };
      net.inject(from, server.address, spoofedSyn(1 + rng.nextInt(0xfffffff0)), i * 10);
    }
    const track = () => {
      maxHalfOpen = Math.max(maxHalfOpen, server.endpoint.halfOpenCount);
      return false;
    };
    net.runUntil(track, { timeout: 500 * MS }); // mid-flood (it lasts one second)...
    const c = client.connect(server.address); // ...a real client connects
    assert.ok(
      net.runUntil(() => track() || (client.log(c).connected && server.accepted.length === 1 && net.now > 1100 * MS), {
        timeout: 10 * SECOND,
      }),
    );
    assert.ok(server.accepted[0].remote.address === "10.0.0.1");
    const st = server.endpoint.stats();
    // Unvalidated handshakes stop at half the backlog; a client that proved its address (via RETRY) may add one.
    assert.ok(maxHalfOpen <= backlog / 2 + 1, `half-open peaked at ${maxHalfOpen}`);
    assert.ok(server.endpoint.connectionCount <= backlog / 2 + 1);
    assert.ok(st.retriesSent > 90_000, `${st.retriesSent} RETRYs`);
  });

  test("before its address is validated the server sends at most 3× the bytes it received", () => {
    const { net, server } = makePair({ serverConfig: { addressValidation: "never", initialRto: 100 * MS } });
    const spoofed: Address = { address: "10.7.7.7", port: 7 };
    let toSpoofed = 0;
    net.onDatagram = (ev) => {
      if (ev.to.address === spoofed.address && ev.fate !== "duplicated" && ev.fate !== "corrupted")
        toSpoofed += ev.size;
    };
    const syn = spoofedSyn(99);
    net.inject({ address: "10.7.7.7", port: 7 }, server.address, syn);
    net.runFor(30 * SECOND);
    assert.ok(toSpoofed > 0, "the server answered");
    assert.ok(toSpoofed <= 3 * syn.length, `sent ${toSpoofed} bytes for a ${syn.length}-byte SYN`);
    const conn = [...server.endpoint.connections()][0];
    assert.ok(!conn || conn.stats().amplificationBlocked > 0);
  });
});

describe("path changes (NAT rebinding)", () => {
  test("a client whose address changes mid-transfer keeps its connection once the new path is validated", () => {
    const { net, client, server } = makePair({ link: { delay: 10 * MS } });
    const c = client.connect(server.address);
    const up = randomBytes(net.rng, 2 << 20);
    c.write(up);
    assert.ok(net.runUntil(() => server.accepted.length === 1 && server.log(server.accepted[0]).byteCount > 200_000));
    const s = server.accepted[0];
    // The NAT maps the client to a new port: same host, new source port.
    net.detach("10.0.0.1", 1000);
    net.attach("10.0.0.1", 1777, client);
    const down = randomBytes(net.rng, 300_000);
    s.write(down);
    assert.ok(
      net.runUntil(() => server.log(s).byteCount === up.length && client.log(c).byteCount === down.length, {
        timeout: 60 * SECOND,
      }),
    );
    assert.ok(sameBytes(server.log(s).bytes(), up));
    assert.ok(sameBytes(client.log(c).bytes(), down));
    assert.equal(addressKey(s.remote), "10.0.0.1:1777");
    assert.equal(s.stats().migrations, 1);
    assert.ok(server.log(s).events.includes("path"));
    assert.equal(server.endpoint.stats().migrations, 1);
  });

  test("a packet with valid cids from a spoofed address does not move the connection", () => {
    const { net, client, server } = makePair({});
    const c = client.connect(server.address);
    assert.ok(net.runUntil(() => client.log(c).connected && server.accepted.length === 1));
    const s = server.accepted[0];
    let challengeTo: string | undefined;
    net.intercept = (f, t, d) => {
      if (f.port === 2000 && hasFlags(d, "PING", "ACK", "CHALLENGE")) challengeTo = addressKey(t);
      return true;
    };
    // An on-path observer replays a client packet from another address; nobody there answers the challenge.
    const replay = new Uint8Array(64);
    const n = emitPacket(
      {
        flags: Flag.PING,
        dcid: s.localCid,
        scid: c.localCid,
        tsval: 5,
        tsecr: 0,
        handshake: undefined,
        ack: undefined,
        seq: 0,
        payload: new Uint8Array(0),
      },
      replay,
    );
    net.inject({ address: "10.8.8.8", port: 8 }, server.address, replay.slice(0, n));
    net.runFor(2 * SECOND);
    assert.equal(challengeTo, "10.8.8.8:8");
    assert.equal(addressKey(s.remote), "10.0.0.1:1000");
    c.write(new Uint8Array(1000));
    assert.ok(net.runUntil(() => server.log(s).byteCount === 1000));
  });

  test("a third peer on the same server is unaffected by another client's move", () => {
    const { net, client, server } = makePair({});
    const other = new SimPeer(net, { address: "10.0.0.3", port: 3000 }, {}, 5);
    const c1 = client.connect(server.address);
    const c2 = other.connect(server.address);
    assert.ok(net.runUntil(() => server.accepted.length === 2));
    net.detach("10.0.0.1", 1000);
    net.attach("10.0.0.1", 1500, client);
    c1.write(new Uint8Array(10_000));
    c2.write(new Uint8Array(20_000));
    assert.ok(
      net.runUntil(
        () =>
          server.endpoint.stats().migrations === 1 &&
          server.accepted.every((s) => server.log(s).byteCount > 0) &&
          server.log(server.accepted[1]).byteCount === 20_000,
      ),
    );
    assert.equal(addressKey(server.accepted[1].remote), "10.0.0.3:3000");
  });
});
