/**
 * Encrypted connections in the simulator (docs/PROTOCOL.md §12): every key
 * setup interoperates, wrong keys fail with clear codes, and an attacker on
 * the path can neither read, alter, replay nor inject.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { EncryptionOptions } from "../../src/core/crypto/session.js";
import type { EndpointOptions } from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { Flag, peekFlags } from "../../src/core/wire/packet.js";
import { generateKeyPair, nodeCryptoProvider } from "../../src/runtime/node-crypto.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";
import { seedFor } from "../helpers/seed.js";

const crypto = nodeCryptoProvider();
const psk = new Uint8Array(32).fill(0x5a);
const serverKeys = generateKeyPair();
const clientKeys = generateKeyPair();
const MARKER = new TextEncoder().encode("TOP-SECRET-MARKER-0123456789");

function pair(
  server: EncryptionOptions | undefined,
  extra: { link?: object; seed?: number; server?: EndpointOptions } = {},
) {
  return makePair({
    seed: extra.seed ?? seedFor(71),
    link: { delay: 10 * MS, ...extra.link },
    config: { crypto },
    serverConfig: { encryption: server, ...extra.server },
  });
}

/** Sends `data` from a client to a server with these encryption settings; returns the pair and the client's connection. */
function transfer(server: EncryptionOptions | undefined, client: EncryptionOptions | null, data: Uint8Array) {
  const p = pair(server);
  const c = p.client.connect(p.server.address, { encryption: client });
  c.write(data);
  c.end();
  p.net.runUntil(
    () => p.client.log(c).closed || (p.server.accepted.length > 0 && p.server.log(p.server.accepted[0]).ended),
    {
      timeout: 120 * SECOND,
    },
  );
  return { ...p, c };
}

const modes: [string, EncryptionOptions, EncryptionOptions][] = [
  ["pre-shared key (NNpsk0)", { psk }, { psk }],
  ["pinned server key (NK)", { keyPair: serverKeys }, { peerKey: serverKeys.publicKey }],
  [
    "client key on the allow-list (IK)",
    { keyPair: serverKeys, allow: [clientKeys.publicKey] },
    { peerKey: serverKeys.publicKey, keyPair: clientKeys },
  ],
];

describe("encrypted connections", () => {
  for (const [name, server, client] of modes)
    test(`${name}: both sides interoperate, and nothing on the wire is plaintext after the handshake`, () => {
      const data = randomBytes(pair(undefined).net.rng, 300_000);
      data.set(MARKER, 1000);
      const wire: Uint8Array[] = [];
      const p = pair(server, { link: { loss: 0.02 } });
      p.net.intercept = (_f, _t, d) => {
        wire.push(d.slice());
        return true;
      };
      const c = p.client.connect(p.server.address, { encryption: client });
      c.write(data);
      c.end();
      assert.ok(p.net.runUntil(() => p.server.accepted.length > 0 && p.server.log(p.server.accepted[0]).ended));
      const s = p.server.accepted[0];
      assert.ok(sameBytes(p.server.log(s).bytes(), data));
      assert.equal(c.encrypted, true);
      if (client.keyPair) assert.deepEqual(s.peerStaticKey, clientKeys.publicKey, "the server learns who connected");
      const plaintext = wire.filter((d) => !(peekFlags(d) & Flag.SEALED));
      assert.ok(
        plaintext.every((d) => peekFlags(d) & (Flag.SYN | Flag.RETRY)),
        "only the handshake (SYN, RETRY, SYN-ACK) travels unsealed",
      );
      for (const d of wire) assert.equal(Buffer.from(d).indexOf(Buffer.from(MARKER.subarray(0, 12))), -1);
    });

  test("wrong pre-shared key: ERR_RUDP_AUTH_FAILED, and the server counts the attempt", () => {
    const { c, client, server } = transfer({ psk }, { psk: new Uint8Array(32).fill(1) }, new Uint8Array(10));
    assert.equal(client.log(c).error?.code, "ERR_RUDP_AUTH_FAILED");
    assert.equal(server.accepted.length, 0);
    assert.equal(server.endpoint.stats().authFailures, 1);
    assert.doesNotMatch(client.log(c).error?.message ?? "", /[A-Za-z0-9_-]{40}/, "no key material in the message");
  });

  test("a server that does not hold the pinned key: ERR_RUDP_AUTH_FAILED", () => {
    const { c, client } = transfer(
      { keyPair: generateKeyPair() },
      { peerKey: serverKeys.publicKey },
      new Uint8Array(10),
    );
    assert.equal(client.log(c).error?.code, "ERR_RUDP_AUTH_FAILED");
  });

  test("a client missing from the allow-list, or without a key: ERR_RUDP_NOT_ALLOWED", () => {
    const server = { keyPair: serverKeys, allow: [clientKeys.publicKey] };
    for (const client of [
      { peerKey: serverKeys.publicKey, keyPair: generateKeyPair() },
      { peerKey: serverKeys.publicKey },
    ]) {
      const r = transfer(server, client, new Uint8Array(10));
      assert.equal(r.client.log(r.c).error?.code, "ERR_RUDP_NOT_ALLOWED");
      assert.equal(r.server.accepted.length, 0);
    }
  });

  test("a plaintext client and an encrypted server, and the reverse, fail with clear codes", () => {
    const a = transfer({ psk }, null, new Uint8Array(10));
    assert.equal(a.client.log(a.c).error?.code, "ERR_RUDP_ENCRYPTION_REQUIRED");
    const b = transfer(undefined, { psk }, new Uint8Array(10));
    assert.equal(b.client.log(b.c).error?.code, "ERR_RUDP_ENCRYPTION_UNSUPPORTED");
    const c = transfer({ psk, required: false }, null, new Uint8Array(1000));
    assert.equal(c.server.log(c.server.accepted[0]).byteCount, 1000, "required: false also serves plaintext clients");
  });

  test("every single-bit flip of a sealed packet is rejected and changes nothing", () => {
    const p = pair({ psk });
    const c = p.client.connect(p.server.address, { encryption: { psk } });
    assert.ok(p.net.runUntil(() => p.server.accepted.length === 1 && p.client.log(c).connected));
    let captured: Uint8Array | undefined;
    p.net.intercept = (from, _t, d) => {
      if (!captured && from.port === 1000 && peekFlags(d) & Flag.SEALED && d.length > 60) captured = d.slice();
      return true;
    };
    c.write(new Uint8Array(100).fill(7));
    p.net.runUntil(() => p.server.log(p.server.accepted[0]).byteCount === 100);
    assert.ok(captured);
    const before = p.server.endpoint.stats().authFailures;
    const s = p.server.accepted[0];
    for (let bit = 0; bit < captured.length * 8; bit++) {
      const d = captured.slice();
      d[bit >> 3] ^= 1 << (bit & 7);
      p.net.inject(p.client.address, p.server.address, d);
    }
    p.net.runFor(100 * MS);
    const after = p.server.endpoint.stats();
    // Flips in magic or version make it foreign, in dcid unknown, of SEALED a plaintext packet with a bad
    // checksum; every other flip fails authentication.
    const rejected =
      after.authFailures - before + after.foreignDrops + after.unknownConnectionDrops + after.corruptDrops;
    assert.equal(rejected, captured.length * 8);
    assert.equal(p.server.log(s).byteCount, 100, "no flipped packet delivered anything");
    assert.equal(s.state, "ESTABLISHED");
    c.write(new Uint8Array(50));
    assert.ok(
      p.net.runUntil(() => p.server.log(s).byteCount === 150),
      "the connection still works",
    );
  });

  test("replayed packets are dropped and counted, never delivered twice", () => {
    const p = pair({ psk });
    const c = p.client.connect(p.server.address, { encryption: { psk } });
    const seen: Uint8Array[] = [];
    p.net.intercept = (from, _t, d) => {
      if (from.port === 1000 && peekFlags(d) & Flag.SEALED) seen.push(d.slice());
      return true;
    };
    c.sendMessage(new Uint8Array([1, 2, 3]));
    assert.ok(
      p.net.runUntil(() => p.server.accepted.length === 1 && p.server.log(p.server.accepted[0]).messages.length === 1),
    );
    for (const d of seen) p.net.inject(p.client.address, p.server.address, d);
    p.net.runFor(100 * MS);
    const s = p.server.accepted[0];
    assert.equal(p.server.log(s).messages.length, 1);
    assert.equal(s.stats().replays, seen.length);
  });

  test("a packet reflected back to its sender is rejected", () => {
    const p = pair({ psk });
    const c = p.client.connect(p.server.address, { encryption: { psk } });
    assert.ok(p.net.runUntil(() => p.client.log(c).connected && p.server.accepted.length === 1));
    const s = p.server.accepted[0];
    let sample: Uint8Array | undefined;
    p.net.intercept = (from, _t, d) => {
      if (from.port === 2000 && peekFlags(d) & Flag.SEALED) sample = d.slice();
      return true;
    };
    s.write(new Uint8Array(10));
    p.net.runUntil(() => sample !== undefined);
    assert.ok(sample);
    // The server's packet, readdressed to the server's own connection: sealed with the other direction's key.
    sample.set([s.localCid >>> 24, s.localCid >>> 16, s.localCid >>> 8, s.localCid], 4);
    const rejected = () => s.stats().authFailures + s.stats().replays;
    const before = rejected();
    p.net.inject(p.client.address, p.server.address, sample);
    p.net.runFor(50 * MS);
    assert.equal(rejected(), before + 1);
  });

  test("an on-path attacker who sees every packet cannot inject a byte", () => {
    const p = pair({ psk }, { link: { loss: 0.01 } });
    const c = p.client.connect(p.server.address, { encryption: { psk } });
    const data = randomBytes(p.net.rng, 200_000);
    let injected = 0;
    p.net.intercept = (from, to, d) => {
      if (from.port === 1000 && peekFlags(d) & Flag.SEALED && injected < 2000) {
        // Same header, forged body: the attacker knows the ids and the packet number, not the key.
        const forged = d.slice();
        for (let i = 12; i < forged.length; i++) forged[i] = (forged[i] + 1) & 0xff;
        p.net.inject(from, to, forged);
        injected++;
      }
      return true;
    };
    c.write(data);
    c.end();
    assert.ok(p.net.runUntil(() => p.server.accepted.length > 0 && p.server.log(p.server.accepted[0]).ended));
    assert.ok(sameBytes(p.server.log(p.server.accepted[0]).bytes(), data));
    assert.ok(p.server.endpoint.stats().authFailures >= injected * 0.9);
  });

  test("keys update during a transfer, in both directions, without a lost byte", () => {
    const p = pair({ psk, keyUpdateInterval: 64 }, { link: { loss: 0.02, jitter: 2 * MS } });
    const c = p.client.connect(p.server.address, { encryption: { psk, keyUpdateInterval: 64 } });
    const data = randomBytes(p.net.rng, 1 << 20);
    c.write(data);
    c.end();
    assert.ok(p.net.runUntil(() => p.server.accepted.length > 0 && p.server.log(p.server.accepted[0]).ended));
    assert.ok(sameBytes(p.server.log(p.server.accepted[0]).bytes(), data));
    assert.ok(c.stats().keyUpdates > 20, `${c.stats().keyUpdates} key updates`);
    assert.equal(p.server.accepted[0].stats().authFailures, 0);
  });
});
