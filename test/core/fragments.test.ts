/**
 * Segments cut for a larger path MTU than the path carries now are resent in fragments
 * (PROTOCOL §4.10): a path whose MTU shrinks after discovery raised the size (simulator, virtual time).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { readHandshakeExtensions, writeHandshakeExtensions } from "../../src/core/connection/handshake-ext.js";
import { type Connection, SeededRng, wire } from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { nodeCryptoProvider } from "../../src/runtime/node-crypto.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";

const { Flag, decodeDatagram, emitPacket, packetLength } = wire;

interface ShrinkOptions {
  mtu: number;
  shrinkTo: number;
  bytes: number;
  seed: number;
  encrypted?: boolean;
  /** Send the data as messages of this size instead of a stream. */
  messageSize?: number;
  /** Strip FRAGMENTS from the server's SYN-ACK, as a peer built before FRAG would send it. */
  peerWithoutFragments?: boolean;
}

/** Re-emits a datagram with its handshake extensions rewritten. */
function withExtensions(d: Uint8Array, rewrite: (ext: Uint8Array) => Uint8Array): Uint8Array {
  const p = decodeDatagram(d);
  if (!p.handshake) return d;
  const q = { ...p, handshake: { ...p.handshake, ext: rewrite(p.handshake.ext) } };
  const out = new Uint8Array(packetLength(q));
  return out.subarray(0, emitPacket(q, out));
}

/**
 * A transfer over a path that carries `mtu` bytes until discovery has raised the size past `shrinkTo`,
 * then `shrinkTo`. The data goes in 5000-byte writes, so some segments span two writes.
 */
function shrinkingPath(o: ShrinkOptions) {
  const encryption = o.encrypted ? { psk: new Uint8Array(32).fill(7) } : undefined;
  const { net, client, server } = makePair({
    seed: o.seed,
    link: { delay: 10 * MS, rate: 50e6, queueBytes: 256 * 1024, mtu: o.mtu },
    config: { maxProbePacketSize: o.mtu, ...(encryption ? { crypto: nodeCryptoProvider() } : {}) },
    serverConfig: { encryption },
  });
  if (o.peerWithoutFragments)
    net.intercept = (from, _to, d) => {
      if (from.port !== 2000 || !(decodeDatagram(d).flags & Flag.SYN)) return true;
      const stripped = withExtensions(d, (ext) => {
        const { maxMessageSize } = readHandshakeExtensions(ext);
        return writeHandshakeExtensions({ maxMessageSize });
      });
      net.inject({ address: "10.0.0.2", port: 2000 }, { address: "10.0.0.1", port: 1000 }, stripped);
      return false;
    };
  const c = client.connect(server.address, { encryption });
  const up = randomBytes(new SeededRng(o.seed), o.bytes);
  const messages: Uint8Array[] = [];
  for (let at = 0; at < up.length; at += o.messageSize ?? 5000) {
    const part = up.subarray(at, at + (o.messageSize ?? 5000));
    if (o.messageSize) {
      c.sendMessage(part);
      messages.push(part);
    } else c.write(part);
  }
  assert.ok(
    net.runUntil(() => c.stats().packetSize > o.shrinkTo, { timeout: 20 * SECOND }),
    "discovery raised the size",
  );
  const raised = c.stats().packetSize;
  net.setPath("10.0.0.1", "10.0.0.2", { mtu: o.shrinkTo });
  c.end(); // discovery stops once the connection leaves ESTABLISHED
  const finished = net.runUntil(() => server.accepted.length > 0 && server.log(server.accepted[0]).ended, {
    timeout: 60 * SECOND,
  });
  const s = server.accepted[0] as Connection;
  return { finished, raised, c, s, up, messages, client, server };
}

test("after the path MTU shrinks, the black-hole fallback resends the large segments in fragments (regression: ETIMEDOUT)", () => {
  const { finished, raised, c, s, up, client, server } = shrinkingPath({
    mtu: 9000,
    shrinkTo: 1500,
    bytes: 4 << 20,
    seed: 21,
  });
  assert.ok(finished, `the transfer finished (${server.log(s).byteCount} bytes arrived)`);
  assert.equal(client.log(c).error, undefined);
  assert.ok(sameBytes(server.log(s).bytes(), up), "every byte arrived once, in order");
  const sender = c.stats();
  const receiver = s.stats();
  assert.ok(raised > 1500, `raised to ${raised}`);
  assert.ok(sender.packetSize <= 1500, `fell back to ${sender.packetSize}`);
  // Each resent segment of ~8.9 KB goes as 7 fragments, and the path now drops none of them.
  assert.ok(sender.fragmentsSent >= 7, `${sender.fragmentsSent} fragments sent`);
  assert.equal(receiver.fragmentsReceived, sender.fragmentsSent);
  assert.equal(receiver.malformedDrops, 0);
});

test("messages cut for the larger size arrive whole after their segments were resent in fragments", () => {
  const { finished, s, messages, server } = shrinkingPath({
    mtu: 9000,
    shrinkTo: 1500,
    bytes: 2 << 20,
    seed: 23,
    messageSize: 20_000,
  });
  assert.ok(finished);
  assert.ok(s.stats().fragmentsReceived > 0, "fragments were received");
  const got = server.log(s).messages;
  assert.equal(got.length, messages.length);
  for (let i = 0; i < messages.length; i++) assert.ok(sameBytes(got[i], messages[i]), `message ${i}`);
});

test("fragments work inside encrypted packets too", () => {
  const { finished, c, s, up, server } = shrinkingPath({
    mtu: 4096,
    shrinkTo: 1500,
    bytes: 1 << 20,
    seed: 22,
    encrypted: true,
  });
  assert.ok(finished);
  assert.ok(sameBytes(server.log(s).bytes(), up));
  assert.ok(c.stats().fragmentsSent > 0);
  assert.equal(s.stats().fragmentsReceived, c.stats().fragmentsSent);
  assert.equal(s.stats().authFailures, 0);
});

test("a peer that does not announce FRAGMENTS is sent whole segments only", () => {
  const { finished, c, s } = shrinkingPath({
    mtu: 9000,
    shrinkTo: 1500,
    bytes: 2 << 20,
    seed: 24,
    peerWithoutFragments: true,
  });
  assert.equal(c.stats().fragmentsSent, 0);
  assert.equal(s.stats().fragmentsReceived, 0);
  assert.ok(!finished, "the segments cut large cannot get through (as before FRAG)");
});

test("a fragment of a segment larger than this side accepts sets nothing aside", () => {
  const { net, client, server } = makePair({ seed: 25, link: { delay: 10 * MS } });
  const c = client.connect(server.address);
  assert.ok(net.runUntil(() => server.accepted.length === 1 && c.state === "ESTABLISHED"));
  const s = server.accepted[0];
  const fragment = (segmentLength: number, seq: number) => {
    const p: wire.PacketRepr = {
      flags: Flag.DATA | Flag.FRAG,
      dcid: c.peerCid,
      scid: c.localCid,
      tsval: 1,
      tsecr: 0,
      handshake: undefined,
      ack: undefined,
      seq,
      payload: new Uint8Array(100),
      fragmentOffset: 0,
      segmentLength,
    };
    const out = new Uint8Array(packetLength(p));
    return out.subarray(0, emitPacket(p, out));
  };
  // 1200-byte datagrams carry 1172 payload bytes: a 60,000-byte segment cannot be one of ours.
  for (let i = 1; i <= 20; i++) net.inject(client.address, server.address, fragment(60_000, (c.isn + i) >>> 0));
  net.runFor(100 * MS);
  assert.equal(s.stats().fragmentsReceived, 20);
  assert.equal(s.stats().outOfWindowDrops, 20);
  assert.equal(server.log(s).byteCount, 0);
  // The connection is unharmed.
  const up = randomBytes(new SeededRng(25), 100_000);
  c.write(up);
  assert.ok(net.runUntil(() => server.log(s).byteCount === up.length, { timeout: 10 * SECOND }));
  assert.ok(sameBytes(server.log(s).bytes(), up));
});
