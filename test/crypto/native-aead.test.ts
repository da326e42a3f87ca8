/** The native addon's AEAD gives node:crypto's bytes, and refuses what node:crypto refuses. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { nativeAeadProvider } from "../../src/runtime/native-aead.js";
import { nativeUdpBinding } from "../../src/runtime/native-udp.js";
import { AEAD_NAMES, nodeCryptoProvider } from "../../src/runtime/node-crypto.js";
import { NodeRuntime } from "../../src/runtime/node-runtime.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0xae4d) | 0;
const addon = process.env.RUDP_DATAPATH === "dgram" ? undefined : nativeUdpBinding();
const skip = addon ? false : "the native addon is not loaded";

for (const aead of AEAD_NAMES) {
  test(`${aead}: native seal equals node:crypto's, and each opens the other's`, { skip }, () => {
    const reference = nodeCryptoProvider(aead);
    const native = nativeAeadProvider(reference, addon as NonNullable<typeof addon>);
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 12, maxLength: 12 }),
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 2000 }),
        fc.nat(7),
        (key, nonce, aad, plaintext, offset) => {
          const expected = reference.seal(key, nonce, aad, plaintext);
          const out = new Uint8Array(offset + plaintext.length + 16 + 5).fill(0xee);
          const sealed = native.seal(key, nonce, aad, plaintext, out, offset);
          assert.deepEqual(sealed, expected);
          assert.equal(sealed.byteOffset, offset, "written into out at outOffset");
          assert.ok(
            out.subarray(offset + sealed.length).every((b) => b === 0xee),
            "nothing written past the tag",
          );
          assert.deepEqual(native.seal(key, nonce, aad, plaintext), expected);
          assert.deepEqual(native.open(key, nonce, aad, expected), plaintext);
          assert.deepEqual(reference.open(key, nonce, aad, sealed), plaintext);
        },
      ),
      { seed: FC_SEED, numRuns: 300 },
    );
  });

  test(`${aead}: native open refuses a flipped bit anywhere, a wrong aad, nonce or key, and short input`, {
    skip,
  }, () => {
    const native = nativeAeadProvider(nodeCryptoProvider(aead), addon as NonNullable<typeof addon>);
    const key = new Uint8Array(32).fill(1);
    const nonce = new Uint8Array(12).fill(2);
    const aad = new Uint8Array([1, 2, 3]);
    const sealed = native.seal(key, nonce, aad, new Uint8Array(100).fill(9));
    for (let i = 0; i < sealed.length; i++) {
      for (const bit of [0x01, 0x80]) {
        const forged = new Uint8Array(sealed);
        forged[i] ^= bit;
        assert.equal(native.open(key, nonce, aad, forged), null, `byte ${i} bit ${bit}`);
      }
    }
    assert.equal(native.open(key, nonce, new Uint8Array([1, 2, 4]), sealed), null);
    assert.equal(native.open(key, new Uint8Array(12).fill(3), aad, sealed), null);
    assert.equal(native.open(new Uint8Array(32).fill(7), nonce, aad, sealed), null);
    assert.equal(native.open(key, nonce, aad, sealed.subarray(0, 15)), null);
    assert.deepEqual(native.open(key, nonce, aad, native.seal(key, nonce, aad, new Uint8Array(0))), new Uint8Array(0));
    assert.throws(() => native.seal(new Uint8Array(31), nonce, aad, new Uint8Array(1)), "a short key is misuse");
    assert.throws(() => native.seal(key, nonce, aad, new Uint8Array(10), new Uint8Array(20), 0), RangeError);
  });
}

test("the Node runtime seals with the addon when it is loaded", { skip }, () => {
  const runtime = new NodeRuntime();
  const plain = new NodeRuntime({ datapath: "dgram" });
  assert.notEqual(runtime.crypto, plain.crypto, "the native runtime has its own provider");
  const key = new Uint8Array(32).fill(5);
  const nonce = new Uint8Array(12);
  const sealed = runtime.crypto?.seal(key, nonce, new Uint8Array(0), new Uint8Array([1, 2, 3]));
  assert.deepEqual(plain.crypto?.open(key, nonce, new Uint8Array(0), sealed as Uint8Array), new Uint8Array([1, 2, 3]));
});
