/**
 * The primitives: known-answer tests (SHA-256, HMAC RFC 4231, HKDF RFC 5869,
 * X25519 RFC 7748), the node provider's AEAD contract (round trips, writing at
 * an offset, `open` never throwing on bad input), nonce encoding and the key
 * text encoding.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hkdfExpand, hkdfExtract, noiseHkdf } from "../../src/core/crypto/hkdf.js";
import { AEAD_TAG_BYTES, bytesEqual, isAllZero, writeNonce } from "../../src/core/crypto/provider.js";
import { RudpArgumentError } from "../../src/core/errors.js";
import {
  DEFAULT_AEAD,
  decodeKey,
  encodeKey,
  generateKeyPair,
  nodeCryptoProvider,
  publicKeyFromPrivate,
} from "../../src/runtime/node-crypto.js";
import { assertBytes, bytes, hex, PROVIDERS, toHex } from "./helpers.js";

const crypto = nodeCryptoProvider();
const ascii = (s: string) => new TextEncoder().encode(s);

describe("known answers", () => {
  test("SHA-256 hashes the concatenation of its inputs", () => {
    const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert.equal(toHex(crypto.hash([ascii("abc")])), abc);
    assert.equal(toHex(crypto.hash([ascii("a"), new Uint8Array(0), ascii("bc")])), abc);
  });

  test("HMAC-SHA-256 (RFC 4231 test case 2)", () => {
    const mac = crypto.hmac(ascii("Jefe"), [ascii("what do ya want "), ascii("for nothing?")]);
    assert.equal(toHex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  });

  test("HKDF (RFC 5869 test cases 1 and 3), and the Noise HKDF as its special case", () => {
    const ikm = new Uint8Array(22).fill(0x0b);
    const prk1 = hkdfExtract(crypto, hex("000102030405060708090a0b0c"), ikm);
    assert.equal(toHex(prk1), "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    assert.equal(
      toHex(hkdfExpand(crypto, prk1, hex("f0f1f2f3f4f5f6f7f8f9"), 42)),
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
    );
    const okm3 = "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8";
    const prk3 = hkdfExtract(crypto, new Uint8Array(0), ikm);
    assert.equal(toHex(prk3), "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04");
    assert.equal(toHex(hkdfExpand(crypto, prk3, new Uint8Array(0), 42)), okm3);
    const [o1, o2] = noiseHkdf(crypto, new Uint8Array(0), ikm, 2);
    assert.equal(toHex(o1) + toHex(o2).slice(0, 20), okm3);
    const [t1, t2, t3] = noiseHkdf(crypto, new Uint8Array(0), ikm, 3);
    assertBytes(t1, o1);
    assertBytes(t2, o2);
    assert.equal(toHex(t1) + toHex(t2) + toHex(t3), toHex(hkdfExpand(crypto, prk3, new Uint8Array(0), 96)));
    assert.throws(() => hkdfExpand(crypto, prk3, new Uint8Array(0), 255 * 32 + 1), RangeError);
  });

  test("X25519 (RFC 7748 §5.2 and §6.1)", () => {
    assert.equal(
      toHex(
        crypto.dh(
          hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
          hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
        ),
      ),
      "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
    );
    const alice = hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    const bob = hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    const alicePub = crypto.publicKey(alice);
    const bobPub = crypto.publicKey(bob);
    assert.equal(toHex(alicePub), "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    assert.equal(toHex(bobPub), "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    assert.equal(toHex(crypto.dh(alice, bobPub)), shared);
    assert.equal(toHex(crypto.dh(bob, alicePub)), shared);
  });
});

describe("X25519 in the node provider", () => {
  test("generated key pairs are fresh and consistent", () => {
    const a = crypto.generateKeyPair();
    const b = generateKeyPair();
    assert.equal(a.privateKey.length, 32);
    assert.equal(a.publicKey.length, 32);
    assert.notEqual(toHex(a.privateKey), toHex(b.privateKey));
    assertBytes(crypto.publicKey(a.privateKey), a.publicKey);
    assertBytes(publicKeyFromPrivate(b.privateKey), b.publicKey);
    assertBytes(crypto.dh(a.privateKey, b.publicKey), crypto.dh(b.privateKey, a.publicKey));
  });

  test("low-order public keys make dh throw", () => {
    const { privateKey } = crypto.generateKeyPair();
    for (const point of [
      "0000000000000000000000000000000000000000000000000000000000000000",
      "0100000000000000000000000000000000000000000000000000000000000000",
      "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
      "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
      "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ]) {
      assert.throws(() => crypto.dh(privateKey, hex(point)), point);
    }
  });

  test("keys of the wrong length are refused", () => {
    const { privateKey, publicKey } = crypto.generateKeyPair();
    assert.throws(() => crypto.dh(privateKey.subarray(1), publicKey), RangeError);
    assert.throws(() => crypto.dh(privateKey, publicKey.subarray(1)), RangeError);
    assert.throws(() => crypto.publicKey(new Uint8Array(33)), RangeError);
  });

  test("a private key array changed after use is re-imported, not served from the cache", () => {
    const a = crypto.generateKeyPair();
    const b = crypto.generateKeyPair();
    const key = a.privateKey.slice();
    const first = crypto.dh(key, b.publicKey);
    key.set(b.privateKey);
    assertBytes(crypto.dh(key, a.publicKey), first);
    assertBytes(crypto.publicKey(key), b.publicKey);
  });
});

describe("AEAD contract", () => {
  for (const [aead, p] of PROVIDERS) {
    test(`${aead}: round trips of many sizes, with and without associated data`, () => {
      const key = bytes(32, 1);
      const nonce = writeNonce(aead, 7, new Uint8Array(12));
      for (const size of [0, 1, 15, 16, 17, 1200, 65536]) {
        const pt = bytes(size, size + 1);
        for (const aad of [new Uint8Array(0), bytes(21, 2)]) {
          const sealed = p.seal(key, nonce, aad, pt);
          assert.equal(sealed.length, size + AEAD_TAG_BYTES);
          if (size >= 16) assert.notEqual(toHex(sealed.subarray(0, 16)), toHex(pt.subarray(0, 16)));
          assertBytes(p.open(key, nonce, aad, sealed), pt);
        }
      }
    });

    test(`${aead}: seal writes into a caller's buffer at an offset and touches nothing else`, () => {
      const key = bytes(32, 3);
      const nonce = writeNonce(aead, 1, new Uint8Array(12));
      const aad = bytes(10, 4);
      const pt = bytes(300, 5);
      const out = new Uint8Array(400).fill(0xee);
      const view = p.seal(key, nonce, aad, pt, out, 40);
      assert.equal(view.buffer, out.buffer);
      assert.equal(view.byteOffset, out.byteOffset + 40);
      assertBytes(view, p.seal(key, nonce, aad, pt));
      assert.ok(out.subarray(0, 40).every((b) => b === 0xee));
      assert.ok(out.subarray(40 + 316).every((b) => b === 0xee));
      assert.throws(() => p.seal(key, nonce, aad, pt, out, 100), RangeError);
    });

    test(`${aead}: open returns null, never throws, on anything but the genuine packet`, () => {
      const key = bytes(32, 6);
      const nonce = writeNonce(aead, 99, new Uint8Array(12));
      const aad = bytes(12, 7);
      const pt = bytes(40, 8);
      const sealed = p.seal(key, nonce, aad, pt);
      for (let n = 0; n < AEAD_TAG_BYTES; n++) assert.equal(p.open(key, nonce, aad, sealed.subarray(0, n)), null);
      assert.equal(p.open(key, nonce, aad, sealed.subarray(0, sealed.length - 1)), null);
      assert.equal(p.open(key, nonce, aad, bytes(200, 9)), null);
      assert.equal(p.open(bytes(32, 10), nonce, aad, sealed), null);
      assert.equal(p.open(key, writeNonce(aead, 100, new Uint8Array(12)), aad, sealed), null);
      assert.equal(p.open(key, nonce, bytes(12, 11), sealed), null);
      assert.equal(p.open(key, nonce, new Uint8Array(0), sealed), null);
      for (let bit = 0; bit < sealed.length * 8; bit++) {
        const bad = sealed.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(p.open(key, nonce, aad, bad), null, `bit ${bit}`);
      }
      assertBytes(p.open(key, nonce, aad, sealed), pt);
    });

    test(`${aead}: wrong key or nonce lengths are programming errors`, () => {
      assert.throws(() => p.seal(new Uint8Array(16), new Uint8Array(12), new Uint8Array(0), new Uint8Array(1)));
      assert.throws(() => p.open(new Uint8Array(32), new Uint8Array(8), new Uint8Array(0), new Uint8Array(20)));
    });
  }

  test("the two AEADs differ and the default is one of them", () => {
    const [chacha, aes] = PROVIDERS.map(([, p]) => p);
    const args = [bytes(32), new Uint8Array(12), new Uint8Array(0), bytes(32, 2)] as const;
    assert.notEqual(toHex(chacha.seal(...args)), toHex(aes.seal(...args)));
    assert.equal(nodeCryptoProvider().aead, DEFAULT_AEAD);
    assert.throws(() => nodeCryptoProvider("aes-128-gcm" as never), RudpArgumentError);
  });
});

describe("helpers", () => {
  test("nonces: 4 zero bytes, then the counter little-endian (ChaChaPoly) or big-endian (AESGCM)", () => {
    const n = 0x0011223344556677;
    assert.equal(toHex(writeNonce("chacha20-poly1305", n, new Uint8Array(12).fill(9))), "000000007766554433221100");
    assert.equal(toHex(writeNonce("aes-256-gcm", n, new Uint8Array(12).fill(9))), "000000000011223344556677");
    assert.equal(toHex(writeNonce("aes-256-gcm", 2 ** 53 - 1, new Uint8Array(12))), "00000000001fffffffffffff");
    assert.equal(toHex(writeNonce("chacha20-poly1305", 1, new Uint8Array(12))), "000000000100000000000000");
  });

  test("bytesEqual and isAllZero", () => {
    assert.ok(bytesEqual(bytes(5), bytes(5)));
    assert.ok(!bytesEqual(bytes(5), bytes(6)));
    assert.ok(!bytesEqual(bytes(5, 1), bytes(5, 2)));
    assert.ok(isAllZero(new Uint8Array(32)));
    assert.ok(!isAllZero(Uint8Array.of(0, 0, 1)));
  });

  test("keys encode as 43 base64url characters and decode strictly, without echoing input", () => {
    const key = bytes(32, 77);
    const text = encodeKey(key);
    assert.match(text, /^[A-Za-z0-9_-]{43}$/);
    assertBytes(decodeKey(` ${text}\n`), key);
    const secret = text.slice(0, 42);
    for (const bad of [
      secret,
      `${text}A`,
      `${text}=`,
      `${secret}+`,
      `${secret}/`,
      `${secret}!`,
      "",
      `${text.slice(0, 42)}B`,
    ]) {
      const err = (() => {
        try {
          decodeKey(bad);
        } catch (e) {
          return e as Error;
        }
        return undefined;
      })();
      assert.ok(err instanceof RudpArgumentError, `accepted ${JSON.stringify(bad)}`);
      if (bad.length > 8) assert.ok(!err.message.includes(bad.slice(0, 8)));
    }
    assert.throws(() => encodeKey(new Uint8Array(31)), RangeError);
  });
});
