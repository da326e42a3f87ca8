/**
 * Packet protection: round trips, exhaustive bit flips, replays, reflection
 * between the two directions, key update across the interval with reordering
 * across the boundary, and the edges of the packet number space.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { NoiseHandshake } from "../../src/core/crypto/noise.js";
import {
  DEFAULT_KEY_UPDATE_INTERVAL,
  type KeyPhase,
  MAX_PACKET_NUMBER,
  nextTrafficKey,
  PacketOpener,
  PacketSealer,
} from "../../src/core/crypto/packet-protection.js";
import type { CryptoProvider } from "../../src/core/crypto/provider.js";
import { RudpStateError } from "../../src/core/errors.js";
import { seedFor } from "../helpers/seed.js";
import { assertBytes, bytes, PROVIDERS, toHex } from "./helpers.js";

const FC_SEED = seedFor(0x9a77) | 0;

/** A stand-in header: a flags byte with the key phase, then the packet number (big-endian, 8 bytes). */
function header(pn: number, phase: KeyPhase): Uint8Array {
  const h = new Uint8Array(9);
  h[0] = 0x40 | phase;
  new DataView(h.buffer).setBigUint64(1, BigInt(pn));
  return h;
}

/** Transport keys from a real NK handshake. */
function sessionKeys(crypto: CryptoProvider) {
  const server = crypto.generateKeyPair();
  const init = new NoiseHandshake(crypto, { pattern: "NK", initiator: true, remoteStaticKey: server.publicKey });
  const resp = new NoiseHandshake(crypto, { pattern: "NK", initiator: false, staticKeyPair: server });
  resp.readMessage(init.writeMessage());
  init.readMessage(resp.writeMessage());
  return { client: init.split(), server: resp.split() };
}

interface Wire {
  pn: number;
  phase: KeyPhase;
  aad: Uint8Array;
  bytes: Uint8Array;
  plaintext: Uint8Array;
}

function send(sealer: PacketSealer, plaintext: Uint8Array): Wire {
  const pn = sealer.nextPacketNumber;
  const phase = sealer.keyPhase;
  const aad = header(pn, phase);
  const sealed = sealer.seal(aad, plaintext);
  assert.equal(sealed.packetNumber, pn);
  assert.equal(sealed.keyPhase, phase);
  return { pn, phase, aad, bytes: sealed.bytes, plaintext };
}

function receive(opener: PacketOpener, w: Wire): Uint8Array | null {
  return opener.open(w.aad, w.pn, w.phase, w.bytes);
}

for (const [aead, crypto] of PROVIDERS) {
  describe(`packet protection with ${aead}`, () => {
    test("round trip in both directions with keys from a handshake", () => {
      const { client, server } = sessionKeys(crypto);
      const c2s = {
        sealer: new PacketSealer(crypto, client.sendKey),
        opener: new PacketOpener(crypto, server.receiveKey),
      };
      const s2c = {
        sealer: new PacketSealer(crypto, server.sendKey),
        opener: new PacketOpener(crypto, client.receiveKey),
      };
      for (const dir of [c2s, s2c]) {
        for (const size of [0, 1, 100, 1200, 65000]) {
          const w = send(dir.sealer, bytes(size, size + 3));
          assert.equal(w.bytes.length, size + 16);
          assertBytes(receive(dir.opener, w), w.plaintext);
        }
        assert.equal(dir.sealer.packetsSealed, 5);
        assert.equal(dir.sealer.nextPacketNumber, 5);
        assert.equal(dir.opener.packetsOpened, 5);
        assert.equal(dir.opener.highestPacketNumber, 4);
        assert.equal(dir.opener.authFailures + dir.opener.replays, 0);
      }
      // The same plaintext under the same packet number differs per direction: the keys differ.
      const a = new PacketSealer(crypto, client.sendKey).seal(header(0, 0), bytes(32));
      const b = new PacketSealer(crypto, server.sendKey).seal(header(0, 0), bytes(32));
      assert.notEqual(toHex(a.bytes), toHex(b.bytes));
    });

    test("every single-bit flip of a sealed packet, of its header, its packet number or its phase is rejected", () => {
      const key = bytes(32, 1);
      const sealer = new PacketSealer(crypto, key);
      const opener = new PacketOpener(crypto, key);
      send(sealer, bytes(3, 1)); // pn 0 is never delivered
      const w = send(sealer, bytes(24, 2));
      let failures = 0;
      for (let bit = 0; bit < w.bytes.length * 8; bit++) {
        const bad = w.bytes.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(opener.open(w.aad, w.pn, w.phase, bad), null, `payload bit ${bit}`);
        failures++;
      }
      for (let bit = 0; bit < w.aad.length * 8; bit++) {
        const bad = w.aad.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(opener.open(bad, w.pn, w.phase, w.bytes), null, `header bit ${bit}`);
        failures++;
      }
      for (let bit = 0; bit < 53; bit++) {
        const pn = Number(BigInt(w.pn) ^ (1n << BigInt(bit)));
        assert.equal(opener.open(w.aad, pn, w.phase, w.bytes), null, `pn bit ${bit}`);
        failures++;
      }
      assert.equal(opener.open(w.aad, w.pn, 1, w.bytes), null, "phase");
      failures++;
      assert.equal(opener.authFailures, failures);
      assert.equal(opener.lastDrop, "auth");
      // Nothing changed: the genuine packet still opens, under the same key phase.
      assert.equal(opener.keyUpdates, 0);
      assert.equal(opener.highestPacketNumber, -1);
      assertBytes(receive(opener, w), w.plaintext);
      assert.equal(opener.keyPhase, 0);
    });

    test("replays and packets older than the window are rejected", () => {
      const key = bytes(32, 2);
      const sealer = new PacketSealer(crypto, key);
      const opener = new PacketOpener(crypto, key, { replayWindow: 64 });
      const sent = Array.from({ length: 200 }, (_, i) => send(sealer, bytes(10, i + 1)));
      assertBytes(receive(opener, sent[5]), sent[5].plaintext);
      assert.equal(receive(opener, sent[5]), null);
      assert.equal(opener.replays, 1);
      assert.equal(opener.lastDrop, "replay");
      assertBytes(receive(opener, sent[199]), sent[199].plaintext);
      assert.equal(receive(opener, sent[135]), null, "199 - 135 = 64 is outside a 64-packet window");
      assertBytes(receive(opener, sent[136]), sent[136].plaintext);
      assert.equal(receive(opener, sent[136]), null);
      assert.equal(opener.replays, 3);
      assert.equal(opener.authFailures, 0);
    });

    test("reflection: a packet sent in one direction never opens in the other", () => {
      const { client, server } = sessionKeys(crypto);
      const clientSealer = new PacketSealer(crypto, client.sendKey);
      const clientOpener = new PacketOpener(crypto, client.receiveKey);
      const serverSealer = new PacketSealer(crypto, server.sendKey);
      const serverOpener = new PacketOpener(crypto, server.receiveKey);
      const fromClient = send(clientSealer, bytes(50, 1));
      const fromServer = send(serverSealer, bytes(50, 2));
      assert.equal(receive(clientOpener, fromClient), null, "client's own packet reflected back to it");
      assert.equal(receive(serverOpener, fromServer), null, "server's own packet reflected back to it");
      assert.equal(clientOpener.authFailures, 1);
      assertBytes(receive(serverOpener, fromClient), fromClient.plaintext);
      assertBytes(receive(clientOpener, fromServer), fromServer.plaintext);
    });

    test("key update every `keyUpdateInterval` packets, followed by the receiver across reordering", () => {
      const key = bytes(32, 3);
      const sealer = new PacketSealer(crypto, key, { keyUpdateInterval: 4 });
      const opener = new PacketOpener(crypto, key);
      const sent = Array.from({ length: 12 }, (_, i) => send(sealer, bytes(20, i + 1)));
      assert.deepEqual(
        sent.map((w) => w.phase),
        [0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0],
      );
      assert.equal(sealer.keyUpdates, 3);
      assert.equal(sealer.keyPhase, 1);
      // Each generation really uses a new key: the same plaintext at the same number seals differently.
      const fresh = new PacketSealer(crypto, key);
      for (let i = 0; i < 4; i++) fresh.seal(sent[4 + i].aad, sent[4 + i].plaintext);
      assert.notEqual(toHex(fresh.seal(sent[4].aad, sent[4].plaintext).bytes), toHex(sent[4].bytes));

      // 0 1 2 | 4 arrives before 3 | 5 6 | 8 before 7 | 9 10 11
      for (const i of [0, 1, 2, 4, 3, 5, 6, 8, 7, 9, 10, 11]) {
        assertBytes(receive(opener, sent[i]), sent[i].plaintext, `packet ${i}`);
      }
      assert.equal(opener.keyUpdates, 2);
      assert.equal(opener.keyPhase, 0);
      assert.equal(opener.authFailures, 0);
      assert.equal(opener.packetsOpened, 12);
      for (const w of sent) assert.equal(receive(opener, w), null);
      assert.equal(opener.replays, 12);
    });

    test("the previous key is kept only one generation back, and can be discarded", () => {
      const key = bytes(32, 4);
      const sealer = new PacketSealer(crypto, key, { keyUpdateInterval: 2 });
      const opener = new PacketOpener(crypto, key);
      const sent = Array.from({ length: 8 }, (_, i) => send(sealer, bytes(8, i + 1)));
      assertBytes(receive(opener, sent[2]), sent[2].plaintext); // generation 1: switch
      assert.ok(opener.hasPreviousKey);
      assertBytes(receive(opener, sent[0]), sent[0].plaintext); // generation 0 via the previous key
      assertBytes(receive(opener, sent[4]), sent[4].plaintext); // generation 2: switch again
      assert.equal(receive(opener, sent[1]), null, "generation 0 is two keys back");
      assertBytes(receive(opener, sent[3]), sent[3].plaintext); // generation 1 via the previous key
      opener.discardPreviousKey();
      assert.ok(!opener.hasPreviousKey);
      assertBytes(receive(opener, sent[5]), sent[5].plaintext);
      assertBytes(receive(opener, sent[6]), sent[6].plaintext); // generation 3
      assert.equal(opener.keyUpdates, 3);
      assert.equal(opener.authFailures, 1);
    });

    test("property: reordering by adjacent swaps and duplicates across key updates loses nothing", () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 2, max: 6 }),
          fc.integer({ min: 1, max: 60 }),
          fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
          fc.array(fc.integer({ min: 0, max: 59 }), { maxLength: 10 }),
          (interval, n, swaps, dups) => {
            const key = bytes(32, n);
            const sealer = new PacketSealer(crypto, key, { keyUpdateInterval: interval });
            const opener = new PacketOpener(crypto, key);
            const sent = Array.from({ length: n }, (_, i) => send(sealer, bytes(6, i + 1)));
            const order = sent.map((_, i) => i);
            for (let i = 0; i + 1 < n; i++) {
              if (swaps[i]) {
                [order[i], order[i + 1]] = [order[i + 1], order[i]];
                i++;
              }
            }
            const duplicates = dups.filter((d) => d < n);
            for (const d of duplicates) order.splice(order.indexOf(d) + 1, 0, d);
            let opened = 0;
            const seen = new Set<number>();
            for (const i of order) {
              const pt = receive(opener, sent[i]);
              if (seen.has(i)) {
                assert.equal(pt, null, `duplicate ${i}`);
              } else {
                assertBytes(pt, sent[i].plaintext, `packet ${i}`);
                seen.add(i);
                opened++;
              }
            }
            assert.equal(opened, n);
            assert.equal(opener.authFailures, 0);
            assert.equal(opener.replays, duplicates.length);
            assert.equal(opener.keyUpdates, Math.floor((n - 1) / interval));
          },
        ),
        { seed: FC_SEED, numRuns: 60 },
      );
    });

    test("seal writes into a caller's datagram buffer after the header", () => {
      const key = bytes(32, 5);
      const sealer = new PacketSealer(crypto, key);
      const opener = new PacketOpener(crypto, key);
      const payload = bytes(100, 6);
      const datagram = new Uint8Array(9 + payload.length + 16);
      const aad = header(sealer.nextPacketNumber, sealer.keyPhase);
      datagram.set(aad);
      const sealed = sealer.seal(aad, payload, datagram, 9);
      assert.equal(sealed.bytes.buffer, datagram.buffer);
      assertBytes(datagram.subarray(0, 9), aad);
      assertBytes(opener.open(datagram.subarray(0, 9), 0, 0, datagram.subarray(9)), payload);
    });

    test("packet numbers near 2^53: the last one seals, then the sealer refuses rather than reuse a nonce", () => {
      const key = bytes(32, 7);
      const sealer = new PacketSealer(crypto, key, { firstPacketNumber: MAX_PACKET_NUMBER - 1 });
      const opener = new PacketOpener(crypto, key);
      const a = send(sealer, bytes(5, 1));
      const b = send(sealer, bytes(5, 2));
      assert.equal(b.pn, MAX_PACKET_NUMBER);
      assert.throws(() => sealer.seal(header(0, 0), bytes(5)), RudpStateError);
      assertBytes(receive(opener, b), b.plaintext);
      assertBytes(receive(opener, a), a.plaintext);
      assert.equal(receive(opener, b), null);
    });

    test("malformed packet numbers and phases are dropped without touching the AEAD", () => {
      const key = bytes(32, 8);
      const opener = new PacketOpener(crypto, key);
      const w = send(new PacketSealer(crypto, key), bytes(5));
      for (const pn of [-1, 1.5, Number.NaN, 2 ** 53]) {
        assert.equal(opener.open(w.aad, pn, 0, w.bytes), null);
        assert.equal(opener.lastDrop, "bad-packet-number");
      }
      assert.equal(opener.open(w.aad, 0, 2 as KeyPhase, w.bytes), null);
      assert.equal(opener.authFailures + opener.replays, 0);
      assert.equal(opener.open(w.aad, 0, 0, w.bytes.subarray(0, 10)), null);
      assert.equal(opener.authFailures, 1);
    });
  });
}

describe("key schedule", () => {
  const [, crypto] = PROVIDERS[0];

  test('the next key is HKDF-Expand(current key, "rudp key update", 32) = HMAC(key, label || 0x01)', () => {
    const key = bytes(32, 9);
    const label = new TextEncoder().encode("rudp key update");
    const expected = crypto.hmac(key, [label, Uint8Array.of(1)]);
    assertBytes(nextTrafficKey(crypto, key), expected);
    assert.notEqual(toHex(nextTrafficKey(crypto, expected)), toHex(expected));
  });

  test("defaults and argument checks", () => {
    assert.equal(DEFAULT_KEY_UPDATE_INTERVAL, 2 ** 20);
    const key = bytes(32);
    for (const keyUpdateInterval of [0, -1, 1.5]) {
      assert.throws(() => new PacketSealer(crypto, key, { keyUpdateInterval }), RangeError);
    }
    assert.throws(() => new PacketSealer(crypto, key, { firstPacketNumber: -1 }), RangeError);
    assert.throws(() => new PacketSealer(crypto, bytes(16)), RangeError);
    assert.throws(() => new PacketOpener(crypto, bytes(31)), RangeError);
    assert.throws(() => new PacketOpener(crypto, key, { replayWindow: 33 }), RangeError);
  });

  test("keys passed in are copied, and updateKey flips the phase at once", () => {
    const key = bytes(32, 10);
    const sealer = new PacketSealer(crypto, key);
    const opener = new PacketOpener(crypto, key.slice());
    key.fill(0);
    sealer.updateKey();
    assert.equal(sealer.keyPhase, 1);
    const pn = sealer.nextPacketNumber;
    const aad = header(pn, 1);
    const sealed = sealer.seal(aad, bytes(9));
    assertBytes(opener.open(aad, pn, 1, sealed.bytes), bytes(9));
    assert.equal(opener.keyUpdates, 1);
  });
});
