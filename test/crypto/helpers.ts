/** Shared helpers of the crypto tests. */

import assert from "node:assert/strict";
import type { AeadName, CryptoProvider, KeyPair } from "../../src/core/crypto/provider.js";
import { nodeCryptoProvider } from "../../src/runtime/node-crypto.js";

/** Both AEADs with their node providers. */
export const PROVIDERS: readonly [AeadName, CryptoProvider][] = [
  ["chacha20-poly1305", nodeCryptoProvider("chacha20-poly1305")],
  ["aes-256-gcm", nodeCryptoProvider("aes-256-gcm")],
];

/** Bytes from hex. */
export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, "hex"));
}

/** Hex of bytes. */
export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/** The key pair of a raw private key. */
export function pairOf(crypto: CryptoProvider, privateKey: Uint8Array): KeyPair {
  return { privateKey, publicKey: crypto.publicKey(privateKey) };
}

/** Deterministic filler bytes. */
export function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x;
  }
  return out;
}

/** Asserts two byte arrays hold the same bytes (whatever their classes, e.g. Buffer vs Uint8Array). */
export function assertBytes(actual: Uint8Array | null | undefined, expected: Uint8Array, message?: string): void {
  if (actual === null || actual === undefined) throw new assert.AssertionError({ message: message ?? "no bytes" });
  assert.equal(toHex(actual), toHex(expected), message);
}
