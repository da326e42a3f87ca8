/**
 * `CryptoProvider` on node:crypto: X25519 via `diffieHellman`, SHA-256 and
 * HMAC-SHA-256 via `createHash`/`createHmac`, and one `createCipheriv` per
 * sealed datagram (node has no reusable one-shot AEAD; the AEAD key schedule
 * is cheap next to that call's fixed cost, and caching a `KeyObject` for it
 * measured no faster).
 *
 * Raw 32-byte X25519 keys are imported as JWK: in `bench/crypto.ts` a JWK
 * import costs ~25 µs (private) and ~5 µs (public), the DER (PKCS#8/SPKI)
 * route ~380 µs and ~100 µs. Key pairs are made from 32 random bytes rather
 * than `generateKeyPairSync("x25519")` because exporting a key produced by
 * `generateKeyPairSync` can deadlock node 20 when a garbage collection runs
 * during the export (the collected key-generation job locks the key's mutex).
 */

import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  type KeyObject,
  randomFillSync,
} from "node:crypto";
import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type AeadName,
  bytesEqual,
  type CryptoProvider,
  copyBytes,
  DH_BYTES,
  isAllZero,
  type KeyPair,
} from "../core/crypto/provider.js";
import { RudpArgumentError } from "../core/errors.js";

/**
 * The AEAD used when none is named (both peers must use the same one).
 * `bench/crypto.ts` compares the two: on x86-64 with AES instructions
 * AES-256-GCM measured 1.0-1.3x as fast through node:crypto, while
 * ChaCha20-Poly1305 is the faster and safer choice on CPUs without them.
 */
export const DEFAULT_AEAD: AeadName = "chacha20-poly1305";

/** The AEADs this provider implements. */
export const AEAD_NAMES: readonly AeadName[] = ["chacha20-poly1305", "aes-256-gcm"];

/** Characters of a base64url-encoded 32-byte key (no padding). */
export const ENCODED_KEY_LENGTH = 43;

const TAG_OPTIONS = { authTagLength: AEAD_TAG_BYTES } as const;
const PKCS8_X25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
]);

function asBuffer(a: Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** A plain Uint8Array view of a Buffer (no copy), so callers get `slice` that copies. */
function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

function checkLength(a: Uint8Array, n: number, what: string): void {
  if (!(a instanceof Uint8Array) || a.length !== n) throw new RangeError(`${what} must be ${n} bytes`);
}

/** Imported private keys by array identity; the copy detects an array whose contents changed since. */
const privateKeys = new WeakMap<Uint8Array, { readonly copy: Uint8Array; readonly key: KeyObject }>();

function importPrivateKey(raw: Uint8Array): KeyObject {
  checkLength(raw, DH_BYTES, "an X25519 private key");
  const hit = privateKeys.get(raw);
  if (hit !== undefined && bytesEqual(hit.copy, raw)) return hit.key;
  const d = asBuffer(raw).toString("base64url");
  let key: KeyObject;
  try {
    // Node requires `x` in a private JWK but derives the public key from `d`.
    key = createPrivateKey({ key: { kty: "OKP", crv: "X25519", d, x: d }, format: "jwk" });
  } catch {
    const der = new Uint8Array(PKCS8_X25519_PREFIX.length + DH_BYTES);
    der.set(PKCS8_X25519_PREFIX);
    der.set(raw, PKCS8_X25519_PREFIX.length);
    key = createPrivateKey({ key: asBuffer(der), format: "der", type: "pkcs8" });
  }
  privateKeys.set(raw, { copy: copyBytes(raw), key });
  return key;
}

function importPublicKey(raw: Uint8Array): KeyObject {
  checkLength(raw, DH_BYTES, "an X25519 public key");
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: asBuffer(raw).toString("base64url") }, format: "jwk" });
}

/** The X25519 public key of a raw private key. */
export function publicKeyFromPrivate(privateKey: Uint8Array): Uint8Array {
  const jwk = createPublicKey(importPrivateKey(privateKey)).export({ format: "jwk" });
  return copyBytes(Buffer.from(jwk.x as string, "base64url"));
}

/** A fresh X25519 key pair from the OS CSPRNG. */
export function generateKeyPair(): KeyPair {
  const privateKey = randomFillSync(new Uint8Array(DH_BYTES));
  return { privateKey, publicKey: publicKeyFromPrivate(privateKey) };
}

/** A 32-byte key as 43 base64url characters (no padding). */
export function encodeKey(key: Uint8Array): string {
  checkLength(key, DH_BYTES, "a key");
  return asBuffer(key).toString("base64url");
}

/**
 * Decodes a 32-byte key from canonical base64url (43 characters, no padding;
 * surrounding whitespace is ignored). The error never repeats the input.
 */
export function decodeKey(text: string, what = "key"): Uint8Array {
  const s = typeof text === "string" ? text.trim() : "";
  if (!/^[A-Za-z0-9_-]{43}$/.test(s)) {
    throw new RudpArgumentError(
      "ERR_INVALID_ARG_VALUE",
      `${what} must be 32 bytes written as ${ENCODED_KEY_LENGTH} base64url characters`,
    );
  }
  const bytes = copyBytes(Buffer.from(s, "base64url"));
  if (bytes.length !== DH_BYTES || asBuffer(bytes).toString("base64url") !== s) {
    throw new RudpArgumentError("ERR_INVALID_ARG_VALUE", `${what} is not canonical base64url`);
  }
  return bytes;
}

class NodeCryptoProvider implements CryptoProvider {
  readonly aead: AeadName;
  /** Typed as GCM so `setAAD` takes no options: node's ChaCha20-Poly1305 cipher has the same methods. */
  readonly #algorithm: "aes-256-gcm";

  constructor(aead: AeadName) {
    this.aead = aead;
    this.#algorithm = aead as "aes-256-gcm";
  }

  generateKeyPair(): KeyPair {
    return generateKeyPair();
  }

  publicKey(privateKey: Uint8Array): Uint8Array {
    return publicKeyFromPrivate(privateKey);
  }

  dh(privateKey: Uint8Array, publicKey: Uint8Array): Uint8Array {
    const shared = diffieHellman({ privateKey: importPrivateKey(privateKey), publicKey: importPublicKey(publicKey) });
    // OpenSSL already refuses an all-zero X25519 output; this keeps the contract whatever the version.
    if (isAllZero(shared)) throw new Error("X25519 produced the all-zero secret (low-order public key)");
    return plain(shared);
  }

  hash(data: readonly Uint8Array[]): Uint8Array {
    const h = createHash("sha256");
    for (const d of data) h.update(d);
    return plain(h.digest());
  }

  hmac(key: Uint8Array, data: readonly Uint8Array[]): Uint8Array {
    const h = createHmac("sha256", key);
    for (const d of data) h.update(d);
    return plain(h.digest());
  }

  seal(
    key: Uint8Array,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out?: Uint8Array,
    outOffset = 0,
  ): Uint8Array {
    checkLength(key, AEAD_KEY_BYTES, "an AEAD key");
    checkLength(nonce, AEAD_NONCE_BYTES, "an AEAD nonce");
    const length = plaintext.length + AEAD_TAG_BYTES;
    if (out !== undefined && (outOffset < 0 || outOffset + length > out.length)) {
      throw new RangeError("seal: the output buffer is too small");
    }
    const cipher = createCipheriv(this.#algorithm, key, nonce, TAG_OPTIONS);
    if (aad.length > 0) cipher.setAAD(aad);
    const body = cipher.update(plaintext);
    cipher.final();
    const tag = cipher.getAuthTag();
    const dest = out === undefined ? new Uint8Array(length) : out.subarray(outOffset, outOffset + length);
    dest.set(body, 0);
    dest.set(tag, body.length);
    return dest;
  }

  open(key: Uint8Array, nonce: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    checkLength(key, AEAD_KEY_BYTES, "an AEAD key");
    checkLength(nonce, AEAD_NONCE_BYTES, "an AEAD nonce");
    if (!(sealed instanceof Uint8Array) || sealed.length < AEAD_TAG_BYTES) return null;
    const bodyLength = sealed.length - AEAD_TAG_BYTES;
    try {
      const decipher = createDecipheriv(this.#algorithm, key, nonce, TAG_OPTIONS);
      decipher.setAuthTag(sealed.subarray(bodyLength));
      if (aad.length > 0) decipher.setAAD(aad);
      const plaintext = decipher.update(sealed.subarray(0, bodyLength));
      decipher.final();
      return plain(plaintext);
    } catch {
      return null;
    }
  }
}

const providers = new Map<AeadName, CryptoProvider>();

/** The node:crypto provider for `aead` (default `DEFAULT_AEAD`). */
export function nodeCryptoProvider(aead: AeadName = DEFAULT_AEAD): CryptoProvider {
  if (!AEAD_NAMES.includes(aead)) throw new RudpArgumentError("ERR_INVALID_ARG_VALUE", "unknown AEAD");
  let provider = providers.get(aead);
  if (provider === undefined) {
    provider = new NodeCryptoProvider(aead);
    providers.set(aead, provider);
  }
  return provider;
}
