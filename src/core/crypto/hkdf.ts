/** HKDF (RFC 5869) over the provider's HMAC-SHA-256. */

import { type CryptoProvider, HASH_BYTES } from "./provider.js";

const EMPTY = new Uint8Array(0);

/** HKDF-Extract: PRK = HMAC-SHA-256(salt, ikm). A zero-length salt acts as 32 zero bytes. */
export function hkdfExtract(crypto: CryptoProvider, salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return crypto.hmac(salt, [ikm]);
}

/** HKDF-Expand: `length` (at most 255 × 32) bytes of output keying material from `prk` and `info`. */
export function hkdfExpand(crypto: CryptoProvider, prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * HASH_BYTES) {
    throw new RangeError(`HKDF output length must be an integer in [0, ${255 * HASH_BYTES}]`);
  }
  const out = new Uint8Array(length);
  let t: Uint8Array = EMPTY;
  const counter = new Uint8Array(1);
  for (let i = 1, filled = 0; filled < length; i++) {
    counter[0] = i;
    t = crypto.hmac(prk, [t, info, counter]);
    out.set(t.subarray(0, Math.min(t.length, length - filled)), filled);
    filled += t.length;
  }
  return out;
}

/**
 * The Noise HKDF (spec §4.3): two or three 32-byte outputs of
 * HKDF(salt = chaining key, ikm, info = empty).
 */
export function noiseHkdf(
  crypto: CryptoProvider,
  chainingKey: Uint8Array,
  ikm: Uint8Array,
  outputs: 2 | 3,
): Uint8Array[] {
  const tempKey = crypto.hmac(chainingKey, [ikm]);
  const o1 = crypto.hmac(tempKey, [ONE]);
  const o2 = crypto.hmac(tempKey, [o1, TWO]);
  if (outputs === 2) return [o1, o2];
  return [o1, o2, crypto.hmac(tempKey, [o2, THREE])];
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);
