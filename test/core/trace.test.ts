/** The endpoint's onTrace hook on the simulator: send/recv/drop events, retransmits, drop reasons and connection metrics. */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { TraceEvent } from "../../src/core/endpoint.js";
import { MS, SECOND } from "../../src/core/time.js";
import { emitPacket, Flag, type PacketRepr, packetLength } from "../../src/core/wire/packet.js";
import { makePair, type PairOptions, randomBytes, sameBytes } from "../helpers/pair.js";

/** A client with tracing, connected to the server; returns the trace log too. */
function traced(opts: PairOptions = {}) {
  const events: TraceEvent[] = [];
  const serverEvents: TraceEvent[] = [];
  const pair = makePair({
    ...opts,
    clientConfig: { ...opts.clientConfig, onTrace: (e) => events.push({ ...e }) },
    serverConfig: { ...opts.serverConfig, onTrace: (e) => serverEvents.push({ ...e }) },
  });
  const c = pair.client.connect(pair.server.address);
  assert.ok(
    pair.net.runUntil(() => pair.client.log(c).connected && pair.server.accepted.length === 1, {
      timeout: 30 * SECOND,
    }),
  );
  return { ...pair, c, s: pair.server.accepted[0], events, serverEvents };
}

function datagram(p: Partial<PacketRepr> & { flags: number }): Uint8Array {
  const full: PacketRepr = {
    dcid: 0,
    scid: 1,
    tsval: 0,
    tsecr: 0,
    handshake: undefined,
    ack: undefined,
    seq: 0,
    payload: new Uint8Array(0),
    ...p,
  };
  const out = new Uint8Array(packetLength(full));
  emitPacket(full, out);
  return out;
}

describe("onTrace", () => {
  test("a clean transfer: sends and receives, none retransmitted, times follow the simulator clock", () => {
    const { net, client, server, c, s, events } = traced();
    const data = randomBytes(net.rng, 100_000);
    c.write(data);
    c.end();
    assert.ok(net.runUntil(() => server.log(s).ended, { timeout: 30 * SECOND }));
    const sends = events.filter((e) => e.event === "send");
    const recvs = events.filter((e) => e.event === "recv");
    assert.ok(sends.length > 50, `${sends.length} sends`);
    assert.ok(recvs.length > 0);
    assert.equal(events.filter((e) => e.event === "drop").length, 0);
    assert.equal(sends.filter((e) => e.retransmit).length, 0);
    for (let i = 1; i < events.length; i++) assert.ok(events[i].time >= events[i - 1].time, "times never go back");
    assert.ok(events[events.length - 1].time <= net.now);
    // The first event is the SYN, sent at time 0 to the server, before the peer's cid is known.
    assert.equal(events[0].event, "send");
    assert.equal(events[0].flags, Flag.SYN);
    assert.equal(events[0].time, 0);
    assert.deepEqual(events[0].peer, { address: "10.0.0.2", port: 2000 });
    // One event per datagram: counts agree with the endpoint's counters.
    const st = client.endpoint.stats();
    assert.equal(sends.length, st.datagramsSent);
    assert.equal(recvs.length, st.datagramsReceived);
  });

  test("send events describe the datagram: connection, peer, flags, seq, ack, size", () => {
    const { net, server, client, c, s, events } = traced();
    c.write(randomBytes(net.rng, 20_000));
    assert.ok(net.runUntil(() => server.log(s).byteCount === 20_000, { timeout: 10 * SECOND }));
    const sends = events.filter((e) => e.event === "send");
    assert.equal(sends.length, client.endpoint.stats().datagramsSent);
    for (const e of sends) {
      assert.equal(e.conn, c.localCid);
      assert.deepEqual(e.peer, server.address);
      assert.ok(e.size >= 24, `size ${e.size}`);
      assert.equal(e.reason, undefined);
      assert.equal(e.seq !== undefined, (e.flags & Flag.DATA) !== 0, "seq present exactly on DATA");
      assert.equal(e.ack !== undefined, (e.flags & Flag.ACK) !== 0, "ack present exactly on ACK");
    }
    const data = sends.filter((e) => e.flags & Flag.DATA);
    assert.ok(data.length >= 10);
    // Fresh data goes out in increasing sequence order (serial arithmetic).
    for (let i = 1; i < data.length; i++) assert.ok((((data[i].seq as number) - (data[i - 1].seq as number)) | 0) > 0);
  });

  test("with loss: retransmitted sends are flagged, carry a seq, and match the retransmit counter", () => {
    const { net, server, c, s, events } = traced({ link: { loss: 0.05, delay: 20 * MS }, seed: 7 });
    const data = randomBytes(net.rng, 400_000);
    c.write(data);
    c.end();
    assert.ok(net.runUntil(() => server.log(s).ended, { timeout: 120 * SECOND }));
    assert.ok(sameBytes(server.log(s).bytes(), data));
    const resent = events.filter((e) => e.event === "send" && e.retransmit === true);
    assert.ok(resent.length > 0, "some datagrams were retransmitted");
    for (const e of resent) {
      assert.ok(e.flags & Flag.DATA, "a retransmission carries data");
      assert.equal(typeof e.seq, "number");
      assert.equal(e.conn, c.localCid);
    }
    // Every resent seq was sent before.
    const firstSent = new Set(
      events.filter((e) => e.event === "send" && !e.retransmit && e.seq !== undefined).map((e) => e.seq),
    );
    for (const e of resent) assert.ok(firstSent.has(e.seq), `seq ${e.seq} resent without a first send`);
    assert.equal(resent.length, c.stats().retransmits);
    // Sends that are not retransmissions say so explicitly.
    for (const e of events.filter((x) => x.event === "send" && !x.retransmit)) assert.equal(e.retransmit, false);
  });

  test("recv events carry the peer, the connection and the acked point", () => {
    const { net, server, client, c, s, events } = traced();
    c.write(randomBytes(net.rng, 50_000));
    assert.ok(net.runUntil(() => server.log(s).byteCount === 50_000, { timeout: 10 * SECOND }));
    net.runFor(200 * MS);
    const recvs = events.filter((e) => e.event === "recv");
    assert.equal(recvs.length, client.endpoint.stats().datagramsReceived);
    assert.ok(
      recvs.some((e) => e.flags === (Flag.SYN | Flag.ACK)),
      "the SYN-ACK",
    );
    for (const e of recvs) {
      assert.deepEqual(e.peer, server.address);
      assert.equal(e.conn, c.localCid);
      assert.equal(e.retransmit, false);
    }
    const acks = recvs.filter((e) => e.ack !== undefined);
    assert.ok(acks.length > 0);
    // Sequence numbers count segments (SYN takes none): the first data segment is the isn, and
    // the last cumulative ack is one past the last data segment sent.
    const dataSends = events.filter((e) => e.event === "send" && e.seq !== undefined);
    assert.equal(dataSends[0].seq, c.isn >>> 0);
    assert.equal(acks[acks.length - 1].ack, ((dataSends[dataSends.length - 1].seq as number) + 1) >>> 0);
  });

  test("cwnd and srtt are present on connection events; srtt reflects the path once measured", () => {
    const { net, server, c, s, events } = traced({ link: { delay: 25 * MS } });
    c.write(randomBytes(net.rng, 200_000));
    assert.ok(net.runUntil(() => server.log(s).byteCount === 200_000, { timeout: 30 * SECOND }));
    const connEvents = events.filter((e) => e.conn !== 0 && e.event !== "drop");
    assert.ok(connEvents.length > 0);
    for (const e of connEvents) {
      assert.equal(typeof e.cwnd, "number", `cwnd on ${e.event}`);
      assert.equal(typeof e.srtt, "number", `srtt on ${e.event}`);
      assert.ok((e.cwnd as number) > 0);
      assert.ok(Number.isFinite(e.srtt) && (e.srtt as number) >= 0);
    }
    // Once the SYN-ACK (one RTT = 50 ms) has been processed, srtt is about 50 ms.
    const late = connEvents.filter((e) => e.time > 60 * MS);
    assert.ok(late.length > 20);
    for (const e of late) assert.ok((e.srtt as number) >= 45 * MS && (e.srtt as number) < 200 * MS, `srtt ${e.srtt}`);
    // The congestion window grows in slow start over a clean path.
    const cw = connEvents.map((e) => e.cwnd as number);
    assert.ok(Math.max(...cw) > cw[0], "cwnd grew");
  });

  test("recv events report cwnd/srtt after the event (TraceEvent doc): the SYN-ACK's recv shows the first RTT sample", {}, () => {
    const { events } = traced({ link: { delay: 25 * MS } });
    const synAck = events.find((e) => e.event === "recv" && e.flags === (Flag.SYN | Flag.ACK));
    assert.ok(synAck);
    assert.ok((synAck.srtt as number) >= 45 * MS, `srtt ${synAck.srtt} on the SYN-ACK's recv`);
  });

  test("with corruption: drop events with reason 'corrupt', no flags decoded", () => {
    const { net, server, c, s, events, serverEvents } = traced({ link: { corrupt: 0.2 }, seed: 3 });
    const data = randomBytes(net.rng, 200_000);
    c.write(data);
    c.end();
    assert.ok(net.runUntil(() => server.log(s).ended, { timeout: 60 * SECOND }));
    const drops = [...events, ...serverEvents].filter((e) => e.event === "drop");
    const corrupt = drops.filter((e) => e.reason === "corrupt");
    assert.ok(corrupt.length > 0, "corrupted datagrams are traced");
    for (const e of corrupt) {
      assert.equal(e.flags, 0);
      assert.equal(e.conn, 0);
      assert.equal(e.seq, undefined);
      assert.ok(e.size > 0);
      assert.equal(e.cwnd, undefined);
    }
    // Only 'corrupt' and (for a flipped magic/version byte) 'foreign' can come from bit flips.
    for (const e of drops) assert.ok(e.reason === "corrupt" || e.reason === "foreign", `reason ${e.reason}`);
  });

  test("a datagram for an unknown connection is dropped with reason 'unknown-connection'", () => {
    const { net, client, server, events } = traced();
    const before = events.length;
    const stray = datagram({ flags: Flag.PING, dcid: 0x0bad_cafe, scid: 0x1234 });
    net.inject(server.address, client.address, stray);
    net.runFor(100 * MS);
    const drops = events.slice(before).filter((e) => e.event === "drop");
    assert.equal(drops.length, 1);
    const d = drops[0];
    assert.equal(d.reason, "unknown-connection");
    assert.equal(d.conn, 0x0bad_cafe, "the dcid it was addressed to");
    assert.equal(d.flags, Flag.PING, "a decodable drop reports its flags");
    assert.equal(d.size, stray.length);
    assert.deepEqual(d.peer, server.address);
    assert.equal(d.cwnd, undefined);
    assert.equal(client.endpoint.stats().unknownConnectionDrops, 1);
    // The stray is answered with an RST, which is traced as a send outside any connection.
    const rst = events.slice(before).find((e) => e.event === "send" && e.flags === Flag.RST);
    assert.ok(rst, "RST traced");
    assert.equal(rst.conn, 0);
    assert.equal(rst.cwnd, undefined);
  });

  test("foreign and malformed datagrams are dropped with their reasons", () => {
    const { net, client, server, c, events } = traced();
    const before = events.length;
    net.inject(server.address, client.address, Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]));
    // Valid checksum, but DATA-less FIN: malformed.
    net.inject(server.address, client.address, datagram({ flags: Flag.FIN | Flag.ACK, dcid: c.localCid, scid: 5 }));
    net.runFor(100 * MS);
    const reasons = events
      .slice(before)
      .filter((e) => e.event === "drop")
      .map((e) => e.reason);
    assert.ok(reasons.includes("foreign"), `reasons ${reasons}`);
    assert.ok(reasons.includes("malformed"), `reasons ${reasons}`);
  });

  test("without onTrace nothing breaks (tracing is optional)", () => {
    const pair = makePair({});
    const c = pair.client.connect(pair.server.address);
    assert.ok(pair.net.runUntil(() => pair.client.log(c).connected));
  });
});
