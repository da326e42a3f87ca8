/**
 * The cryptographic primitives the core needs, injected by the driver so the
 * core stays free of `node:crypto`. Everything is synchronous and works on
 * `Uint8Array`s. The runtime's `nodeCryptoProvider()` implements it.
 */

/** The AEAD ciphers a provider can offer (Noise names them ChaChaPoly and AESGCM). */
export type AeadName = "chacha20-poly1305" | "aes-256-gcm";

/** Bytes of an AEAD key. */
export const AEAD_KEY_BYTES = 32;
/** Bytes of an AEAD nonce. */
export const AEAD_NONCE_BYTES = 12;
/** Bytes of the authentication tag appended to every sealed message. */
export const AEAD_TAG_BYTES = 16;
/** Bytes of an X25519 public key, private key and shared secret. */
export const DH_BYTES = 32;
/** Bytes of a SHA-256 digest (and of an HMAC-SHA-256 output). */
export const HASH_BYTES = 32;

/** A raw X25519 key pair (32 bytes each). */
export interface KeyPair {
  readonly publicKey: Uint8Array;
  readonly privateKey: Uint8Array;
}

/**
 * Synchronous crypto primitives. Implementations must not keep references to
 * the arrays they are given after a call returns (callers reuse nonce and
 * scratch buffers), and must not throw on attacker-controlled input: `open`
 * reports every failure as `null`.
 */
export interface CryptoProvider {
  /** The AEAD that `seal`/`open` implement. */
  readonly aead: AeadName;
  /** A fresh random X25519 key pair. */
  generateKeyPair(): KeyPair;
  /** The X25519 public key of a 32-byte private key. */
  publicKey(privateKey: Uint8Array): Uint8Array;
  /**
   * X25519(privateKey, publicKey), 32 bytes. Throws when the result is all
   * zeros (the peer sent a low-order point) or a key has the wrong length.
   */
  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array;
  /** SHA-256 over the concatenation of `data`. */
  hash(data: readonly Uint8Array[]): Uint8Array;
  /** HMAC-SHA-256 under `key` over the concatenation of `data`. */
  hmac(key: Uint8Array, data: readonly Uint8Array[]): Uint8Array;
  /**
   * Encrypts `plaintext` and authenticates it together with `aad`; returns
   * ciphertext || 16-byte tag. With `out`, writes there at `outOffset` (which
   * must leave room for plaintext.length + 16 bytes) and returns that view.
   * `plaintext` may not overlap the destination.
   */
  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out?: Uint8Array,
    outOffset?: number,
  ): Uint8Array;
  /** The plaintext of ciphertext || tag, or `null` when authentication fails or the input is malformed. */
  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null;
}

const TWO_32 = 2 ** 32;

/**
 * Writes the 12-byte AEAD nonce for a 64-bit counter into `nonce`, as Noise
 * encodes it: 4 zero bytes, then the counter little-endian for ChaCha20-Poly1305
 * and big-endian for AES-256-GCM. `counter` is an integer in [0, 2^53).
 */
export function writeNonce(aead: AeadName, counter: number, nonce: Uint8Array): Uint8Array {
  const lo = counter % TWO_32;
  const hi = (counter - lo) / TWO_32;
  nonce[0] = nonce[1] = nonce[2] = nonce[3] = 0;
  if (aead === "chacha20-poly1305") {
    nonce[4] = lo;
    nonce[5] = lo >>> 8;
    nonce[6] = lo >>> 16;
    nonce[7] = lo >>> 24;
    nonce[8] = hi;
    nonce[9] = hi >>> 8;
    nonce[10] = hi >>> 16;
    nonce[11] = hi >>> 24;
  } else {
    nonce[4] = hi >>> 24;
    nonce[5] = hi >>> 16;
    nonce[6] = hi >>> 8;
    nonce[7] = hi;
    nonce[8] = lo >>> 24;
    nonce[9] = lo >>> 16;
    nonce[10] = lo >>> 8;
    nonce[11] = lo;
  }
  return nonce;
}

/**
 * A plain `Uint8Array` copy of `a[start, end)`. Unlike `a.slice()` this copies
 * even when `a` is a node `Buffer`, whose `slice` returns a view.
 */
export function copyBytes(a: Uint8Array, start = 0, end = a.length): Uint8Array {
  const out = new Uint8Array(Math.max(0, end - start));
  out.set(a.subarray(start, end));
  return out;
}

/** True when `a` and `b` hold the same bytes; the time taken depends only on the lengths. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** True when every byte of `a` is zero; constant-time in the length. */
export function isAllZero(a: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i];
  return acc === 0;
}
