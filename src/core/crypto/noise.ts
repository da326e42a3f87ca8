/**
 * The Noise Protocol Framework (revision 34) handshake for the three 1-RTT
 * patterns rudp uses, with X25519, SHA-256 and the provider's AEAD:
 *
 *   NNpsk0  -> psk, e          <- e, ee            (pre-shared key on both sides)
 *   NK      <- s ...  -> e, es <- e, ee            (client pins the server's static key)
 *   IK      <- s ...  -> e, es, s, ss  <- e, ee, se (and sends its own, for allow-lists)
 *
 * Message 1 fits in a SYN and message 2 in a SYN-ACK; `split()` then yields one
 * transport key per direction. Keys come from ephemeral-ephemeral DH, so
 * recorded traffic stays secret if static keys or the PSK leak later.
 */

import { RudpArgumentError, RudpError, RudpStateError } from "../errors.js";
import { noiseHkdf } from "./hkdf.js";
import {
  AEAD_KEY_BYTES,
  AEAD_NONCE_BYTES,
  AEAD_TAG_BYTES,
  type AeadName,
  type CryptoProvider,
  copyBytes,
  DH_BYTES,
  HASH_BYTES,
  isAllZero,
  type KeyPair,
  writeNonce,
} from "./provider.js";

/** The handshake patterns rudp supports. */
export type NoisePattern = "NNpsk0" | "NK" | "IK";

/** Why reading a handshake message failed. */
export type NoiseFailure = "bad-length" | "decrypt-failed" | "bad-public-key";

/** Bytes of a pre-shared key. */
export const PSK_BYTES = 32;

/** The largest Noise message (spec §3). */
export const MAX_NOISE_MESSAGE = 65535;

/**
 * A handshake message was malformed or failed authentication (wrong PSK,
 * wrong pinned server key, tampering). Carries no key material.
 */
export class NoiseHandshakeError extends RudpError {
  readonly reason: NoiseFailure;
  constructor(reason: NoiseFailure, message: string) {
    super("ERR_RUDP_HANDSHAKE", message);
    this.reason = reason;
  }
}

type Token = "e" | "s" | "ee" | "es" | "se" | "ss" | "psk";

interface PatternSpec {
  /** The responder's static key is known beforehand (`<- s` pre-message). */
  readonly responderStaticKnown: boolean;
  readonly initiatorStatic: boolean;
  readonly psk: boolean;
  readonly messages: readonly (readonly Token[])[];
}

const PATTERNS: Readonly<Record<NoisePattern, PatternSpec>> = {
  NNpsk0: {
    responderStaticKnown: false,
    initiatorStatic: false,
    psk: true,
    messages: [
      ["psk", "e"],
      ["e", "ee"],
    ],
  },
  NK: {
    responderStaticKnown: true,
    initiatorStatic: false,
    psk: false,
    messages: [
      ["e", "es"],
      ["e", "ee"],
    ],
  },
  IK: {
    responderStaticKnown: true,
    initiatorStatic: true,
    psk: false,
    messages: [
      ["e", "es", "s", "ss"],
      ["e", "ee", "se"],
    ],
  },
};

const EMPTY = new Uint8Array(0);
const MAX_NONCE = 2 ** 53 - 1;

/** The Noise name of the provider's AEAD. */
export function noiseCipherName(aead: AeadName): "ChaChaPoly" | "AESGCM" {
  return aead === "chacha20-poly1305" ? "ChaChaPoly" : "AESGCM";
}

/** The full protocol name, e.g. `Noise_IK_25519_ChaChaPoly_SHA256`. */
export function noiseProtocolName(pattern: NoisePattern, aead: AeadName): string {
  return `Noise_${pattern}_25519_${noiseCipherName(aead)}_SHA256`;
}

/**
 * A Noise CipherState (spec §5.1) for transport messages: a key and a nonce
 * counter starting at 0.
 */
export class NoiseCipherState {
  readonly #crypto: CryptoProvider;
  readonly #key: Uint8Array;
  readonly #nonce = new Uint8Array(AEAD_NONCE_BYTES);
  #n = 0;

  constructor(crypto: CryptoProvider, key: Uint8Array) {
    this.#crypto = crypto;
    this.#key = copyKey(key, "key", AEAD_KEY_BYTES);
  }

  /** The next nonce. */
  get nonce(): number {
    return this.#n;
  }

  /** Encrypts with associated data `ad` under the next nonce. */
  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const out = this.#crypto.seal(this.#key, nextNonce(this.#crypto.aead, this.#n, this.#nonce), ad, plaintext);
    this.#n++;
    return out;
  }

  /** Decrypts under the next nonce; `null` on authentication failure, in which case the nonce is not consumed. */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
    const out = this.#crypto.open(this.#key, nextNonce(this.#crypto.aead, this.#n, this.#nonce), ad, ciphertext);
    if (out !== null) this.#n++;
    return out;
  }
}

function nextNonce(aead: AeadName, n: number, scratch: Uint8Array): Uint8Array {
  if (n >= MAX_NONCE) throw new RudpStateError("ERR_RUDP_NONCE_EXHAUSTED", "Noise nonce space exhausted");
  return writeNonce(aead, n, scratch);
}

/** What `split()` returns: one transport key per direction and the handshake hash. */
export interface NoiseSplit {
  /** Key for initiator-to-responder traffic. */
  readonly initiatorKey: Uint8Array;
  /** Key for responder-to-initiator traffic. */
  readonly responderKey: Uint8Array;
  /** This side's sending key (initiatorKey for the initiator). */
  readonly sendKey: Uint8Array;
  /** This side's receiving key. */
  readonly receiveKey: Uint8Array;
  /** The handshake hash h: a unique, secret-independent transcript id (channel binding). */
  readonly handshakeHash: Uint8Array;
}

/** Options for a handshake; which keys are required depends on the pattern and role. */
export interface NoiseHandshakeOptions {
  readonly pattern: NoisePattern;
  readonly initiator: boolean;
  /** Bytes both sides must agree on (e.g. a protocol version); authenticated, not sent. */
  readonly prologue?: Uint8Array;
  /** This side's static key pair: the responder's in NK and IK, and the initiator's in IK. Used as is, never modified. */
  readonly staticKeyPair?: KeyPair;
  /** The responder's pinned static public key (initiator in NK and IK). */
  readonly remoteStaticKey?: Uint8Array;
  /** The 32-byte pre-shared key (NNpsk0). */
  readonly psk?: Uint8Array;
  /** A fixed ephemeral key pair instead of a fresh one: for test vectors only. */
  readonly ephemeralKeyPair?: KeyPair;
}

interface Snapshot {
  readonly ck: Uint8Array;
  readonly h: Uint8Array;
  readonly k: Uint8Array | null;
  readonly n: number;
  readonly e: KeyPair | null;
  readonly fixedE: KeyPair | null;
  readonly re: Uint8Array | null;
  readonly rs: Uint8Array | null;
}

/**
 * The Noise HandshakeState (spec §5.3) for one side, with its SymmetricState
 * and CipherState inlined. The initiator calls `writeMessage` then
 * `readMessage`; the responder the reverse; both then call `split()`.
 * A message that fails to read leaves the state exactly as it was, so a
 * forged or corrupted datagram cannot break a handshake in progress.
 * `writeMessage` draws a fresh ephemeral key: retransmit its output rather
 * than calling it again.
 */
export class NoiseHandshake {
  /** E.g. `Noise_NK_25519_AESGCM_SHA256`. */
  readonly protocolName: string;
  /** True on the side that sends the first message. */
  readonly initiator: boolean;
  readonly #crypto: CryptoProvider;
  readonly #spec: PatternSpec;
  readonly #s: KeyPair | null;
  readonly #psk: Uint8Array | null;
  readonly #nonce = new Uint8Array(AEAD_NONCE_BYTES);
  #fixedE: KeyPair | null;
  #e: KeyPair | null = null;
  #rs: Uint8Array | null;
  #re: Uint8Array | null = null;
  /** Chaining key, handshake hash, and the CipherState's key and nonce. */
  #ck: Uint8Array;
  #h: Uint8Array;
  #k: Uint8Array | null = null;
  #n = 0;
  #index = 0;
  #split = false;

  constructor(crypto: CryptoProvider, options: NoiseHandshakeOptions) {
    const spec = PATTERNS[options.pattern];
    if (spec === undefined) throw new RudpArgumentError("ERR_INVALID_ARG_VALUE", "unknown Noise pattern");
    this.#crypto = crypto;
    this.#spec = spec;
    this.initiator = options.initiator;
    this.protocolName = noiseProtocolName(options.pattern, crypto.aead);

    const needStatic = this.initiator ? spec.initiatorStatic : spec.responderStaticKnown;
    const needRemote = this.initiator && spec.responderStaticKnown;
    // The static pair is used as given (not copied) so a provider can cache its imported private key.
    this.#s = needStatic ? checkKeyPair(required(options.staticKeyPair, "staticKeyPair"), "staticKeyPair") : null;
    this.#rs = needRemote ? copyKey(required(options.remoteStaticKey, "remoteStaticKey"), "remoteStaticKey") : null;
    this.#psk = spec.psk ? copyKey(required(options.psk, "psk"), "psk", PSK_BYTES) : null;
    this.#fixedE = options.ephemeralKeyPair ? copyKeyPair(options.ephemeralKeyPair, "ephemeralKeyPair") : null;

    // InitializeSymmetric: a name longer than HASHLEN is hashed, a shorter one zero-padded.
    const name = new TextEncoder().encode(this.protocolName);
    if (name.length <= HASH_BYTES) {
      this.#h = new Uint8Array(HASH_BYTES);
      this.#h.set(name);
    } else {
      this.#h = crypto.hash([name]);
    }
    this.#ck = copyBytes(this.#h);
    this.#mixHash(options.prologue ?? EMPTY);
    if (spec.responderStaticKnown) {
      this.#mixHash(this.initiator ? (this.#rs as Uint8Array) : (this.#s as KeyPair).publicKey);
    }
  }

  /** True once both messages have been processed and `split()` may be called. */
  get isComplete(): boolean {
    return this.#index >= this.#spec.messages.length;
  }

  /** Whether this side should call `writeMessage` next (otherwise `readMessage`, or `split` when complete). */
  get isMyTurn(): boolean {
    return !this.isComplete && (this.#index % 2 === 0) === this.initiator;
  }

  /** The peer's static public key: the pinned key on an initiator, the initiator's key on an IK responder after message 1. */
  get remoteStaticKey(): Uint8Array | undefined {
    return this.#rs === null ? undefined : copyBytes(this.#rs);
  }

  /** The current handshake hash h. */
  get handshakeHash(): Uint8Array {
    return copyBytes(this.#h);
  }

  /**
   * The next handshake message, carrying `payload` (encrypted whenever a key
   * is already established, which in all three patterns it is). Throws
   * `NoiseHandshakeError` with reason "bad-public-key" when a pinned key is
   * unusable.
   */
  writeMessage(payload: Uint8Array = EMPTY): Uint8Array {
    if (!this.isMyTurn) throw new RudpStateError("ERR_RUDP_HANDSHAKE_STATE", "not this side's turn to write");
    const saved = this.#save();
    try {
      const parts: Uint8Array[] = [];
      for (const token of this.#spec.messages[this.#index]) {
        switch (token) {
          case "e": {
            const e = this.#fixedE ?? this.#crypto.generateKeyPair();
            this.#fixedE = null;
            this.#e = e;
            parts.push(e.publicKey);
            this.#mixHash(e.publicKey);
            if (this.#psk !== null) this.#mixKey(e.publicKey);
            break;
          }
          case "s":
            parts.push(this.#encryptAndHash((this.#s as KeyPair).publicKey));
            break;
          case "psk":
            this.#mixKeyAndHash(this.#psk as Uint8Array);
            break;
          default:
            this.#mixKey(this.#dh(token));
        }
      }
      parts.push(this.#encryptAndHash(payload));
      let length = 0;
      for (const p of parts) length += p.length;
      if (length > MAX_NOISE_MESSAGE) {
        throw new RudpArgumentError("ERR_OUT_OF_RANGE", `a Noise message may not exceed ${MAX_NOISE_MESSAGE} bytes`);
      }
      const message = new Uint8Array(length);
      let at = 0;
      for (const p of parts) {
        message.set(p, at);
        at += p.length;
      }
      this.#index++;
      return message;
    } catch (err) {
      this.#restore(saved);
      throw err;
    }
  }

  /**
   * Processes the peer's handshake message and returns its payload. Throws
   * `NoiseHandshakeError` (and changes nothing) when the message is
   * truncated, fails to decrypt or carries an invalid public key.
   */
  readMessage(message: Uint8Array): Uint8Array {
    if (this.isComplete || this.isMyTurn) {
      throw new RudpStateError("ERR_RUDP_HANDSHAKE_STATE", "not this side's turn to read");
    }
    if (message.length > MAX_NOISE_MESSAGE) throw new NoiseHandshakeError("bad-length", "handshake message too long");
    const saved = this.#save();
    try {
      let at = 0;
      const take = (n: number): Uint8Array => {
        if (message.length - at < n) throw new NoiseHandshakeError("bad-length", "handshake message truncated");
        const bytes = copyBytes(message, at, at + n);
        at += n;
        return bytes;
      };
      for (const token of this.#spec.messages[this.#index]) {
        switch (token) {
          case "e": {
            const re = take(DH_BYTES);
            this.#re = re;
            this.#mixHash(re);
            if (this.#psk !== null) this.#mixKey(re);
            break;
          }
          case "s":
            this.#rs = this.#decryptAndHash(take(DH_BYTES + (this.#k !== null ? AEAD_TAG_BYTES : 0)));
            break;
          case "psk":
            this.#mixKeyAndHash(this.#psk as Uint8Array);
            break;
          default:
            this.#mixKey(this.#dh(token));
        }
      }
      if (this.#k !== null && message.length - at < AEAD_TAG_BYTES) {
        throw new NoiseHandshakeError("bad-length", "handshake message truncated");
      }
      const payload = this.#decryptAndHash(take(message.length - at));
      this.#index++;
      return payload;
    } catch (err) {
      this.#restore(saved);
      throw err;
    }
  }

  /**
   * The transport keys (spec §5.2 Split) once the handshake is complete.
   * Callable once: it then forgets the chaining key and the ephemeral private
   * key (best effort: the arrays are zeroed).
   */
  split(): NoiseSplit {
    if (!this.isComplete) throw new RudpStateError("ERR_RUDP_HANDSHAKE_STATE", "handshake not complete");
    if (this.#split) throw new RudpStateError("ERR_RUDP_HANDSHAKE_STATE", "split() already called");
    this.#split = true;
    const [k1, k2] = noiseHkdf(this.#crypto, this.#ck, EMPTY, 2);
    const initiatorKey = copyBytes(k1, 0, AEAD_KEY_BYTES);
    const responderKey = copyBytes(k2, 0, AEAD_KEY_BYTES);
    this.#ck.fill(0);
    this.#k?.fill(0);
    this.#k = null;
    this.#e?.privateKey.fill(0);
    this.#e = null;
    return {
      initiatorKey,
      responderKey,
      sendKey: this.initiator ? initiatorKey : responderKey,
      receiveKey: this.initiator ? responderKey : initiatorKey,
      handshakeHash: copyBytes(this.#h),
    };
  }

  /** DH for a token: es is the initiator's e with the responder's s, se the initiator's s with the responder's e. */
  #dh(token: "ee" | "es" | "se" | "ss"): Uint8Array {
    const i = this.initiator;
    const e = this.#e?.privateKey;
    const s = this.#s?.privateKey;
    let priv: Uint8Array | undefined;
    let pub: Uint8Array | null;
    if (token === "ee") [priv, pub] = [e, this.#re];
    else if (token === "es") [priv, pub] = i ? [e, this.#rs] : [s, this.#re];
    else if (token === "se") [priv, pub] = i ? [s, this.#re] : [e, this.#rs];
    else [priv, pub] = [s, this.#rs];
    if (priv === undefined || pub === null) {
      throw new RudpStateError("ERR_RUDP_HANDSHAKE_STATE", `missing a key for the ${token} token`);
    }
    let shared: Uint8Array;
    try {
      shared = this.#crypto.dh(priv, pub);
    } catch {
      throw new NoiseHandshakeError("bad-public-key", "Diffie-Hellman failed: invalid or low-order public key");
    }
    if (shared.length !== DH_BYTES || isAllZero(shared)) {
      throw new NoiseHandshakeError("bad-public-key", "Diffie-Hellman produced an all-zero secret");
    }
    return shared;
  }

  #mixHash(data: Uint8Array): void {
    this.#h = this.#crypto.hash([this.#h, data]);
  }

  #mixKey(ikm: Uint8Array): void {
    const [ck, k] = noiseHkdf(this.#crypto, this.#ck, ikm, 2);
    this.#ck = ck;
    this.#k = k.subarray(0, AEAD_KEY_BYTES);
    this.#n = 0;
  }

  #mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, h, k] = noiseHkdf(this.#crypto, this.#ck, ikm, 3);
    this.#ck = ck;
    this.#mixHash(h);
    this.#k = k.subarray(0, AEAD_KEY_BYTES);
    this.#n = 0;
  }

  #encryptAndHash(plaintext: Uint8Array): Uint8Array {
    let ciphertext = plaintext;
    if (this.#k !== null) {
      ciphertext = this.#crypto.seal(this.#k, nextNonce(this.#crypto.aead, this.#n, this.#nonce), this.#h, plaintext);
      this.#n++;
    }
    this.#mixHash(ciphertext);
    return ciphertext;
  }

  #decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    let plaintext: Uint8Array | null = ciphertext;
    if (this.#k !== null) {
      const nonce = nextNonce(this.#crypto.aead, this.#n, this.#nonce);
      plaintext = this.#crypto.open(this.#k, nonce, this.#h, ciphertext);
      if (plaintext === null)
        throw new NoiseHandshakeError("decrypt-failed", "handshake message failed authentication");
      this.#n++;
    }
    this.#mixHash(ciphertext);
    return plaintext;
  }

  #save(): Snapshot {
    return {
      ck: this.#ck,
      h: this.#h,
      k: this.#k,
      n: this.#n,
      e: this.#e,
      fixedE: this.#fixedE,
      re: this.#re,
      rs: this.#rs,
    };
  }

  #restore(s: Snapshot): void {
    this.#ck = s.ck;
    this.#h = s.h;
    this.#k = s.k;
    this.#n = s.n;
    this.#e = s.e;
    this.#fixedE = s.fixedE;
    this.#re = s.re;
    this.#rs = s.rs;
  }
}

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new RudpArgumentError("ERR_INVALID_ARG_VALUE", `this pattern and role need ${name}`);
  return value;
}

function checkKey(key: Uint8Array, name: string, length = DH_BYTES): Uint8Array {
  if (!(key instanceof Uint8Array) || key.length !== length) {
    throw new RudpArgumentError("ERR_INVALID_ARG_VALUE", `${name} must be ${length} bytes`);
  }
  return key;
}

function copyKey(key: Uint8Array, name: string, length = DH_BYTES): Uint8Array {
  return copyBytes(checkKey(key, name, length));
}

function checkKeyPair(pair: KeyPair, name: string): KeyPair {
  checkKey(pair.publicKey, `${name}.publicKey`);
  checkKey(pair.privateKey, `${name}.privateKey`);
  return pair;
}

function copyKeyPair(pair: KeyPair, name: string): KeyPair {
  return {
    publicKey: copyKey(pair.publicKey, `${name}.publicKey`),
    privateKey: copyKey(pair.privateKey, `${name}.privateKey`),
  };
}
