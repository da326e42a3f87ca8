/**
 * The Noise handshake: the published cacophony vectors for NNpsk0, NK and IK
 * with both ciphers, interop between the roles, and every way a handshake must
 * fail (wrong PSK, wrong pinned key, tampering, truncation, low-order keys)
 * without changing state or leaking key material.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import {
  NoiseCipherState,
  NoiseHandshake,
  NoiseHandshakeError,
  type NoiseHandshakeOptions,
  type NoisePattern,
  noiseProtocolName,
} from "../../src/core/crypto/noise.js";
import { PacketOpener, PacketSealer } from "../../src/core/crypto/packet-protection.js";
import type { CryptoProvider, KeyPair } from "../../src/core/crypto/provider.js";
import { RudpArgumentError, RudpStateError } from "../../src/core/errors.js";
import { assertBytes, bytes, hex, PROVIDERS, pairOf, toHex } from "./helpers.js";

interface Vector {
  protocol_name: string;
  init_prologue: string;
  init_psks?: string[];
  init_static?: string;
  init_ephemeral: string;
  init_remote_static?: string;
  resp_prologue: string;
  resp_psks?: string[];
  resp_static?: string;
  resp_ephemeral: string;
  handshake_hash: string;
  messages: { payload: string; ciphertext: string }[];
}

const VECTORS: Vector[] = JSON.parse(readFileSync(new URL("./vectors.json", import.meta.url), "utf8")).vectors;
const EMPTY = new Uint8Array(0);

function providerFor(name: string): CryptoProvider {
  const aead = name.includes("_ChaChaPoly_") ? "chacha20-poly1305" : "aes-256-gcm";
  return PROVIDERS.find(([a]) => a === aead)![1];
}

function patternOf(name: string): NoisePattern {
  return name.split("_")[1] as NoisePattern;
}

function vectorHandshakes(v: Vector): { crypto: CryptoProvider; init: NoiseHandshake; resp: NoiseHandshake } {
  const crypto = providerFor(v.protocol_name);
  const pattern = patternOf(v.protocol_name);
  const init = new NoiseHandshake(crypto, {
    pattern,
    initiator: true,
    prologue: hex(v.init_prologue),
    psk: v.init_psks ? hex(v.init_psks[0]) : undefined,
    staticKeyPair: v.init_static ? pairOf(crypto, hex(v.init_static)) : undefined,
    remoteStaticKey: v.init_remote_static ? hex(v.init_remote_static) : undefined,
    ephemeralKeyPair: pairOf(crypto, hex(v.init_ephemeral)),
  });
  const resp = new NoiseHandshake(crypto, {
    pattern,
    initiator: false,
    prologue: hex(v.resp_prologue),
    psk: v.resp_psks ? hex(v.resp_psks[0]) : undefined,
    staticKeyPair: v.resp_static ? pairOf(crypto, hex(v.resp_static)) : undefined,
    ephemeralKeyPair: pairOf(crypto, hex(v.resp_ephemeral)),
  });
  return { crypto, init, resp };
}

describe("cacophony test vectors", () => {
  test("the vector file holds NNpsk0, NK and IK for both ciphers", () => {
    const names = VECTORS.map((v) => v.protocol_name).sort();
    const expected: string[] = [];
    for (const pattern of ["NNpsk0", "NK", "IK"] as const) {
      for (const [, crypto] of PROVIDERS) expected.push(noiseProtocolName(pattern, crypto.aead));
    }
    assert.deepEqual(names, expected.sort());
  });

  for (const v of VECTORS) {
    test(v.protocol_name, () => {
      const { crypto, init, resp } = vectorHandshakes(v);
      assert.equal(init.protocolName, v.protocol_name);
      assert.equal(resp.protocolName, v.protocol_name);
      if (v.resp_static && v.init_remote_static) {
        assert.equal(toHex(crypto.publicKey(hex(v.resp_static))), v.init_remote_static);
      }
      const [m0, m1, ...transport] = v.messages;

      const msg0 = init.writeMessage(hex(m0.payload));
      assert.equal(toHex(msg0), m0.ciphertext);
      // These cacophony vectors record h as it stands after the first message.
      const h1 = init.handshakeHash;
      assert.equal(toHex(h1), v.handshake_hash);
      assert.equal(toHex(resp.readMessage(msg0)), m0.payload);
      if (v.init_static) {
        assert.equal(toHex(resp.remoteStaticKey!), toHex(crypto.publicKey(hex(v.init_static))));
      }

      const msg1 = resp.writeMessage(hex(m1.payload));
      assert.equal(toHex(msg1), m1.ciphertext);
      assert.equal(toHex(init.readMessage(msg1)), m1.payload);

      assert.ok(init.isComplete && resp.isComplete);
      const a = init.split();
      const b = resp.split();
      // Message 2 is e (MixHash), DH tokens (no hashing), then the encrypted payload (MixHash).
      const h2 = crypto.hash([crypto.hash([h1, msg1.subarray(0, 32)]), msg1.subarray(32)]);
      assert.equal(toHex(a.handshakeHash), toHex(h2));
      assert.equal(toHex(b.handshakeHash), toHex(h2));

      // Transport messages alternate, starting with the initiator, each with a nonce counter from 0.
      const i2r = [new NoiseCipherState(crypto, a.sendKey), new NoiseCipherState(crypto, b.receiveKey)];
      const r2i = [new NoiseCipherState(crypto, b.sendKey), new NoiseCipherState(crypto, a.receiveKey)];
      transport.forEach((m, i) => {
        const [send, receive] = i % 2 === 0 ? i2r : r2i;
        const ct = send.encryptWithAd(EMPTY, hex(m.payload));
        assert.equal(toHex(ct), m.ciphertext, `transport message ${i + 2}`);
        assert.equal(toHex(receive.decryptWithAd(EMPTY, ct)!), m.payload);
      });
    });

    test(`${v.protocol_name}: packet protection with an empty header reproduces the transport messages`, () => {
      const { crypto, init, resp } = vectorHandshakes(v);
      resp.readMessage(init.writeMessage(hex(v.messages[0].payload)));
      init.readMessage(resp.writeMessage(hex(v.messages[1].payload)));
      const a = init.split();
      const b = resp.split();
      const i2r = { sealer: new PacketSealer(crypto, a.sendKey), opener: new PacketOpener(crypto, b.receiveKey) };
      const r2i = { sealer: new PacketSealer(crypto, b.sendKey), opener: new PacketOpener(crypto, a.receiveKey) };
      v.messages.slice(2).forEach((m, i) => {
        const dir = i % 2 === 0 ? i2r : r2i;
        const sealed = dir.sealer.seal(EMPTY, hex(m.payload));
        assert.equal(sealed.packetNumber, Math.floor(i / 2));
        assert.equal(toHex(sealed.bytes), m.ciphertext);
        assert.equal(toHex(dir.opener.open(EMPTY, sealed.packetNumber, sealed.keyPhase, sealed.bytes)!), m.payload);
      });
    });
  }
});

interface Parties {
  crypto: CryptoProvider;
  initiator: NoiseHandshakeOptions;
  responder: NoiseHandshakeOptions;
  clientStatic?: KeyPair;
  serverStatic?: KeyPair;
}

function parties(pattern: NoisePattern, crypto: CryptoProvider, prologue = bytes(7, 3)): Parties {
  const serverStatic = crypto.generateKeyPair();
  const clientStatic = crypto.generateKeyPair();
  const psk = bytes(32, 99);
  switch (pattern) {
    case "NNpsk0":
      return {
        crypto,
        initiator: { pattern, initiator: true, prologue, psk },
        responder: { pattern, initiator: false, prologue, psk },
      };
    case "NK":
      return {
        crypto,
        serverStatic,
        initiator: { pattern, initiator: true, prologue, remoteStaticKey: serverStatic.publicKey },
        responder: { pattern, initiator: false, prologue, staticKeyPair: serverStatic },
      };
    case "IK":
      return {
        crypto,
        serverStatic,
        clientStatic,
        initiator: {
          pattern,
          initiator: true,
          prologue,
          staticKeyPair: clientStatic,
          remoteStaticKey: serverStatic.publicKey,
        },
        responder: { pattern, initiator: false, prologue, staticKeyPair: serverStatic },
      };
  }
}

const PATTERNS: readonly NoisePattern[] = ["NNpsk0", "NK", "IK"];

describe("interop between the roles", () => {
  for (const pattern of PATTERNS) {
    for (const [aead, crypto] of PROVIDERS) {
      test(`${pattern} with ${aead}`, () => {
        const p = parties(pattern, crypto);
        const init = new NoiseHandshake(crypto, p.initiator);
        const resp = new NoiseHandshake(crypto, p.responder);
        assert.ok(init.isMyTurn && !resp.isMyTurn);
        const syn = bytes(100, 5);
        const synAck = bytes(60, 6);
        const m1 = init.writeMessage(syn);
        assert.equal(m1.length, 32 + (pattern === "IK" ? 48 : 0) + syn.length + 16);
        assertBytes(resp.readMessage(m1), syn);
        if (pattern === "IK") assertBytes(resp.remoteStaticKey, p.clientStatic!.publicKey);
        else if (pattern === "NNpsk0") assert.equal(resp.remoteStaticKey, undefined);
        assert.ok(resp.isMyTurn && !init.isMyTurn);
        const m2 = resp.writeMessage(synAck);
        assert.equal(m2.length, 32 + synAck.length + 16);
        assertBytes(init.readMessage(m2), synAck);
        const a = init.split();
        const b = resp.split();
        assertBytes(a.sendKey, b.receiveKey);
        assertBytes(a.receiveKey, b.sendKey);
        assertBytes(a.initiatorKey, b.initiatorKey);
        assert.notEqual(toHex(a.initiatorKey), toHex(a.responderKey));
        assertBytes(a.handshakeHash, b.handshakeHash);
        // The ciphertext does not contain the payload in the clear.
        assert.ok(!Buffer.from(m1).includes(Buffer.from(syn.subarray(0, 16))));
      });
    }
  }

  test("every handshake gives fresh keys (forward secrecy comes from fresh ephemerals)", () => {
    const [, crypto] = PROVIDERS[0];
    const p = parties("IK", crypto);
    const run = () => {
      const init = new NoiseHandshake(crypto, p.initiator);
      const resp = new NoiseHandshake(crypto, p.responder);
      resp.readMessage(init.writeMessage());
      init.readMessage(resp.writeMessage());
      return init.split();
    };
    const a = run();
    const b = run();
    assert.notEqual(toHex(a.sendKey), toHex(b.sendKey));
    assert.notEqual(toHex(a.handshakeHash), toHex(b.handshakeHash));
  });

  test("empty payloads work and a message-1 payload is confidential and authenticated", () => {
    const [, crypto] = PROVIDERS[1];
    const p = parties("NK", crypto);
    const init = new NoiseHandshake(crypto, p.initiator);
    const resp = new NoiseHandshake(crypto, p.responder);
    assertBytes(resp.readMessage(init.writeMessage()), EMPTY);
    assertBytes(init.readMessage(resp.writeMessage()), EMPTY);
  });
});

function expectHandshakeError(fn: () => unknown, reason: string): NoiseHandshakeError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof NoiseHandshakeError, `expected a NoiseHandshakeError, got ${String(caught)}`);
  assert.equal(caught.code, "ERR_RUDP_HANDSHAKE");
  assert.equal(caught.reason, reason);
  return caught;
}

describe("failures", () => {
  for (const [aead, crypto] of PROVIDERS) {
    test(`wrong PSK is rejected by the responder (${aead})`, () => {
      const p = parties("NNpsk0", crypto);
      const init = new NoiseHandshake(crypto, { ...p.initiator, psk: bytes(32, 1234) });
      const resp = new NoiseHandshake(crypto, p.responder);
      expectHandshakeError(() => resp.readMessage(init.writeMessage(bytes(10))), "decrypt-failed");
    });

    test(`a client pinning the wrong server key fails (NK and IK, ${aead})`, () => {
      for (const pattern of ["NK", "IK"] as const) {
        const p = parties(pattern, crypto);
        const impostor = crypto.generateKeyPair();
        const init = new NoiseHandshake(crypto, p.initiator);
        // A server with a different static key cannot read the client's first message.
        const wrongServer = new NoiseHandshake(crypto, { ...p.responder, staticKeyPair: impostor });
        expectHandshakeError(() => wrongServer.readMessage(init.writeMessage()), "decrypt-failed");
      }
    });

    test(`a man in the middle answering with its own ephemeral key is detected by the client (${aead})`, () => {
      const p = parties("NK", crypto);
      const init = new NoiseHandshake(crypto, p.initiator);
      const m1 = init.writeMessage();
      // The attacker lacks the server's static key, so it can only run the responder with another key.
      const mitm = new NoiseHandshake(crypto, { ...p.responder, staticKeyPair: crypto.generateKeyPair() });
      assert.throws(() => mitm.readMessage(m1), NoiseHandshakeError);
      // Replaying a genuine server's message 2 from another handshake fails too.
      const other = new NoiseHandshake(crypto, p.initiator);
      const server = new NoiseHandshake(crypto, p.responder);
      server.readMessage(other.writeMessage());
      expectHandshakeError(() => init.readMessage(server.writeMessage()), "decrypt-failed");
    });

    test(`mismatched prologues fail (${aead})`, () => {
      const p = parties("IK", crypto);
      const init = new NoiseHandshake(crypto, p.initiator);
      const resp = new NoiseHandshake(crypto, { ...p.responder, prologue: bytes(7, 4) });
      expectHandshakeError(() => resp.readMessage(init.writeMessage()), "decrypt-failed");
    });

    for (const pattern of PATTERNS) {
      test(`${pattern} (${aead}): every single-bit flip of either message is rejected and changes nothing`, () => {
        const p = parties(pattern, crypto);
        const init = new NoiseHandshake(crypto, p.initiator);
        const resp = new NoiseHandshake(crypto, p.responder);
        const m1 = init.writeMessage(bytes(5, 1));
        const hashBefore = resp.handshakeHash;
        for (let bit = 0; bit < m1.length * 8; bit++) {
          const bad = m1.slice();
          bad[bit >> 3] ^= 1 << (bit & 7);
          assert.throws(() => resp.readMessage(bad), NoiseHandshakeError, `bit ${bit}`);
        }
        assertBytes(resp.handshakeHash, hashBefore);
        assertBytes(resp.readMessage(m1), bytes(5, 1));
        const m2 = resp.writeMessage(bytes(5, 2));
        for (let bit = 0; bit < m2.length * 8; bit++) {
          const bad = m2.slice();
          bad[bit >> 3] ^= 1 << (bit & 7);
          assert.throws(() => init.readMessage(bad), NoiseHandshakeError, `bit ${bit}`);
        }
        assertBytes(init.readMessage(m2), bytes(5, 2));
        assertBytes(init.split().sendKey, resp.split().receiveKey);
      });
    }
  }

  test("truncated and padded messages are rejected as bad-length or decrypt-failed", () => {
    const [, crypto] = PROVIDERS[0];
    for (const pattern of PATTERNS) {
      const p = parties(pattern, crypto);
      const init = new NoiseHandshake(crypto, p.initiator);
      const resp = new NoiseHandshake(crypto, p.responder);
      const payload = bytes(8, 8);
      const m1 = init.writeMessage(payload);
      const keys = pattern === "IK" ? 32 + 48 : 32;
      assert.equal(m1.length, keys + payload.length + 16);
      for (let n = 0; n < m1.length; n++) {
        // Too short for the keys plus a tag is a length error; a shortened payload fails authentication.
        const reason = n < keys + 16 ? "bad-length" : "decrypt-failed";
        expectHandshakeError(() => resp.readMessage(m1.subarray(0, n)), reason);
      }
      const longer = new Uint8Array(m1.length + 1);
      longer.set(m1);
      expectHandshakeError(() => resp.readMessage(longer), "decrypt-failed");
      expectHandshakeError(() => resp.readMessage(new Uint8Array(70000)), "bad-length");
      assertBytes(resp.readMessage(m1), payload);
    }
  });

  test("a low-order ephemeral key is rejected as bad-public-key", () => {
    const [, crypto] = PROVIDERS[0];
    const lowOrder = [
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ];
    for (const point of lowOrder) {
      const p = parties("NK", crypto);
      const resp = new NoiseHandshake(crypto, p.responder);
      const m1 = new NoiseHandshake(crypto, p.initiator).writeMessage();
      m1.set(hex(point), 0);
      expectHandshakeError(() => resp.readMessage(m1), "bad-public-key");
    }
  });

  test("pinning a low-order server key fails when writing, before anything is sent", () => {
    const [, crypto] = PROVIDERS[0];
    const init = new NoiseHandshake(crypto, { pattern: "NK", initiator: true, remoteStaticKey: new Uint8Array(32) });
    expectHandshakeError(() => init.writeMessage(), "bad-public-key");
    assert.ok(init.isMyTurn);
  });

  test("errors carry no key material", () => {
    const [, crypto] = PROVIDERS[0];
    const p = parties("IK", crypto);
    const init = new NoiseHandshake(crypto, p.initiator);
    const resp = new NoiseHandshake(crypto, { ...p.responder, staticKeyPair: crypto.generateKeyPair() });
    const m1 = init.writeMessage();
    const err = expectHandshakeError(() => resp.readMessage(m1), "decrypt-failed");
    const text = `${err.message} ${err.stack} ${JSON.stringify(err)}`;
    for (const key of [p.clientStatic!.privateKey, p.serverStatic!.privateKey, p.clientStatic!.publicKey]) {
      assert.ok(!text.includes(toHex(key)));
      assert.ok(!text.includes(Buffer.from(key).toString("base64url")));
    }
    assert.deepEqual(Object.keys(err).sort(), ["code", "name", "reason"]);
  });
});

describe("misuse", () => {
  const [, crypto] = PROVIDERS[0];

  test("each pattern and role requires its keys", () => {
    const kp = crypto.generateKeyPair();
    assert.throws(() => new NoiseHandshake(crypto, { pattern: "NNpsk0", initiator: true }), RudpArgumentError);
    assert.throws(
      () => new NoiseHandshake(crypto, { pattern: "NNpsk0", initiator: true, psk: bytes(31) }),
      RudpArgumentError,
    );
    assert.throws(() => new NoiseHandshake(crypto, { pattern: "NK", initiator: true }), RudpArgumentError);
    assert.throws(() => new NoiseHandshake(crypto, { pattern: "NK", initiator: false }), RudpArgumentError);
    assert.throws(
      () => new NoiseHandshake(crypto, { pattern: "IK", initiator: true, remoteStaticKey: kp.publicKey }),
      RudpArgumentError,
    );
    assert.throws(
      () => new NoiseHandshake(crypto, { pattern: "XX" as NoisePattern, initiator: true }),
      RudpArgumentError,
    );
    new NoiseHandshake(crypto, { pattern: "IK", initiator: false, staticKeyPair: kp });
  });

  test("messages must come in turn, and split only once at the end", () => {
    const p = parties("NNpsk0", crypto);
    const init = new NoiseHandshake(crypto, p.initiator);
    const resp = new NoiseHandshake(crypto, p.responder);
    assert.throws(() => resp.writeMessage(), RudpStateError);
    assert.throws(() => init.readMessage(new Uint8Array(48)), RudpStateError);
    assert.throws(() => init.split(), RudpStateError);
    const m1 = init.writeMessage();
    assert.throws(() => init.writeMessage(), RudpStateError);
    resp.readMessage(m1);
    init.readMessage(resp.writeMessage());
    assert.throws(() => init.writeMessage(), RudpStateError);
    assert.throws(() => init.readMessage(m1), RudpStateError);
    init.split();
    assert.throws(() => init.split(), RudpStateError);
  });

  test("keys passed in are copied: mutating them afterwards changes nothing", () => {
    const p = parties("NNpsk0", crypto);
    const psk = p.initiator.psk!.slice();
    const init = new NoiseHandshake(crypto, { ...p.initiator, psk });
    psk.fill(0);
    const resp = new NoiseHandshake(crypto, p.responder);
    assert.doesNotThrow(() => resp.readMessage(init.writeMessage()));
  });

  test("protocol names", () => {
    assert.equal(noiseProtocolName("IK", "chacha20-poly1305"), "Noise_IK_25519_ChaChaPoly_SHA256");
    assert.equal(noiseProtocolName("NNpsk0", "aes-256-gcm"), "Noise_NNpsk0_25519_AESGCM_SHA256");
  });
});
