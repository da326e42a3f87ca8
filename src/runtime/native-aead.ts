/**
 * A `CryptoProvider` whose AEAD runs in the native addon (OpenSSL's EVP
 * interface, from the node binary itself) instead of a node:crypto Cipheriv
 * per datagram: the same ciphers and bytes, about 1.2 µs instead of 5 µs to
 * seal a 1148-byte ChaCha20-Poly1305 packet here. Key agreement and hashing
 * stay with the node:crypto provider it wraps.
 */

import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type AeadName,
  type CryptoProvider,
  type KeyPair,
} from "../core/crypto/provider.js";

/** The addon's AEAD entry points (see native/udp_batch.c); -1 means failure. */
export interface NativeAead {
  aeadSeal(
    alg: number,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    outOffset: number,
  ): number;
  aeadOpen(
    alg: number,
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
    out: Uint8Array,
  ): number;
}

const ALGORITHM: Readonly<Record<AeadName, number>> = { "chacha20-poly1305": 0, "aes-256-gcm": 1 };

/** `base` with seal/open done by `native`. */
export function nativeAeadProvider(base: CryptoProvider, native: NativeAead): CryptoProvider {
  return new NativeAeadProvider(base, native);
}

class NativeAeadProvider implements CryptoProvider {
  readonly aead: AeadName;
  readonly #base: CryptoProvider;
  readonly #native: NativeAead;
  readonly #alg: number;

  constructor(base: CryptoProvider, native: NativeAead) {
    this.aead = base.aead;
    this.#base = base;
    this.#native = native;
    this.#alg = ALGORITHM[base.aead];
  }

  generateKeyPair(): KeyPair {
    return this.#base.generateKeyPair();
  }
  publicKey(privateKey: Uint8Array): Uint8Array {
    return this.#base.publicKey(privateKey);
  }
  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    return this.#base.dh(privateKey, publicKey);
  }
  hash(data: readonly Uint8Array[]): Uint8Array {
    return this.#base.hash(data);
  }
  hmac(key: Uint8Array, data: readonly Uint8Array[]): Uint8Array {
    return this.#base.hmac(key, data);
  }

  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out?: Uint8Array,
    outOffset = 0,
  ): Uint8Array {
    const length = plaintext.length + AEAD_TAG_BYTES;
    const dest = out ?? new Uint8Array(length);
    const written = this.#native.aeadSeal(this.#alg, key, nonce, aad, plaintext, dest, out ? outOffset : 0);
    // Bad sizes (or anything OpenSSL refused): the node:crypto path raises the precise error.
    if (written !== length) return this.#base.seal(key, nonce, aad, plaintext, out, outOffset);
    return out ? out.subarray(outOffset, outOffset + length) : dest;
  }

  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    if (key.length !== AEAD_KEY_BYTES || nonce.length !== AEAD_NONCE_BYTES)
      return this.#base.open(key, nonce, aad, sealed);
    if (!(sealed instanceof Uint8Array) || sealed.length < AEAD_TAG_BYTES) return null;
    const plaintext = new Uint8Array(sealed.length - AEAD_TAG_BYTES);
    return this.#native.aeadOpen(this.#alg, key, nonce, aad, sealed, plaintext) === plaintext.length ? plaintext : null;
  }
}
