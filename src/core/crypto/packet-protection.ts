/**
 * Per-direction packet protection after the handshake. Each datagram is
 * sealed with the AEAD under the direction's traffic key (from Noise
 * `split()`), with the packet header as associated data and the packet
 * number as the nonce (4 zero bytes || 64-bit counter, little-endian for
 * ChaCha20-Poly1305 and big-endian for AES-256-GCM, as in Noise). Packet
 * numbers never repeat in a direction, so a nonce is never reused.
 *
 * Key update: after `keyUpdateInterval` packets the sender switches to
 *
 *     next key = HKDF-Expand-SHA256(PRK = current key, info = "rudp key update", L = 32)
 *              = HMAC-SHA256(current key, "rudp key update" || 0x01)
 *
 * and flips the key phase bit it puts in the header. The receiver keeps the
 * next key ready, switches when a packet with the other phase and a higher
 * packet number authenticates under it, and keeps the previous key for
 * reordered packets from before the switch. Old keys cannot be derived from
 * new ones. The default interval (2^20 packets) keeps AES-256-GCM well within
 * the confidentiality limit of RFC 9001 §6.6 even for 64 KiB datagrams.
 */

import { RudpStateError } from "../errors.js";
import { hkdfExpand } from "./hkdf.js";
import { AEAD_KEY_BYTES, AEAD_NONCE_BYTES, type CryptoProvider, copyBytes, writeNonce } from "./provider.js";
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from "./replay-window.js";

/** Packets sealed under one key before the sender updates it. */
export const DEFAULT_KEY_UPDATE_INTERVAL = 2 ** 20;

/** The HKDF info string of the key update. */
export const KEY_UPDATE_LABEL = "rudp key update";

/** The largest packet number (2^53 - 1): a sender stops there rather than reuse a nonce. */
export const MAX_PACKET_NUMBER = Number.MAX_SAFE_INTEGER;

/** The key phase bit carried in the header. */
export type KeyPhase = 0 | 1;

const LABEL = new TextEncoder().encode(KEY_UPDATE_LABEL);

/** The traffic key that follows `key` in a key update. */
export function nextTrafficKey(crypto: CryptoProvider, key: Uint8Array): Uint8Array {
  return hkdfExpand(crypto, key, LABEL, AEAD_KEY_BYTES);
}

/** A sealed packet: the packet number and key phase to put in its header, and ciphertext || tag. */
export interface SealedPacket {
  readonly packetNumber: number;
  readonly keyPhase: KeyPhase;
  readonly bytes: Uint8Array;
}

/** Options of a `PacketSealer`. */
export interface PacketSealerOptions {
  /** Packets per key before a key update (default 2^20). */
  readonly keyUpdateInterval?: number;
  /** The first packet number (default 0). */
  readonly firstPacketNumber?: number;
}

/**
 * The sending half: numbers packets and seals them. Read `nextPacketNumber`
 * and `keyPhase` to build the header, then `seal(header, payload)`.
 */
export class PacketSealer {
  readonly #crypto: CryptoProvider;
  readonly #interval: number;
  readonly #nonce = new Uint8Array(AEAD_NONCE_BYTES);
  #key: Uint8Array;
  #pn: number;
  #phase: KeyPhase = 0;
  #sealedWithKey = 0;
  #packetsSealed = 0;
  #keyUpdates = 0;

  constructor(crypto: CryptoProvider, key: Uint8Array, options: PacketSealerOptions = {}) {
    const interval = options.keyUpdateInterval ?? DEFAULT_KEY_UPDATE_INTERVAL;
    const first = options.firstPacketNumber ?? 0;
    if (!Number.isSafeInteger(interval) || interval < 1) {
      throw new RangeError("keyUpdateInterval must be a positive integer");
    }
    if (!Number.isSafeInteger(first) || first < 0)
      throw new RangeError("firstPacketNumber must be a non-negative integer");
    checkKey(key);
    this.#crypto = crypto;
    this.#interval = interval;
    this.#key = copyBytes(key);
    this.#pn = first;
  }

  /** The packet number the next `seal` will use. */
  get nextPacketNumber(): number {
    return this.#pn;
  }

  /** The key phase the next `seal` will use. */
  get keyPhase(): KeyPhase {
    return this.#phase;
  }

  /** Packets sealed so far. */
  get packetsSealed(): number {
    return this.#packetsSealed;
  }

  /** Key updates performed so far. */
  get keyUpdates(): number {
    return this.#keyUpdates;
  }

  /**
   * Seals `plaintext` with `aad` (the header, which must already carry
   * `nextPacketNumber` and `keyPhase`) and advances the packet number. With
   * `out`, the ciphertext and tag are written there at `outOffset`.
   */
  seal(aad: Uint8Array, plaintext: Uint8Array, out?: Uint8Array, outOffset = 0): SealedPacket {
    const pn = this.#pn;
    if (pn > MAX_PACKET_NUMBER) {
      throw new RudpStateError("ERR_RUDP_NONCE_EXHAUSTED", "packet number space exhausted");
    }
    const keyPhase = this.#phase;
    const nonce = writeNonce(this.#crypto.aead, pn, this.#nonce);
    const bytes = this.#crypto.seal(this.#key, nonce, aad, plaintext, out, outOffset);
    this.#pn = pn + 1;
    this.#packetsSealed++;
    if (++this.#sealedWithKey >= this.#interval) this.updateKey();
    return { packetNumber: pn, keyPhase, bytes };
  }

  /** Switches to the next key now (normally automatic every `keyUpdateInterval` packets). */
  updateKey(): void {
    const next = nextTrafficKey(this.#crypto, this.#key);
    this.#key.fill(0);
    this.#key = next;
    this.#phase = this.#phase === 0 ? 1 : 0;
    this.#sealedWithKey = 0;
    this.#keyUpdates++;
  }
}

/** Why `PacketOpener.open` returned null. */
export type OpenDropReason = "bad-packet-number" | "replay" | "auth";

/** Options of a `PacketOpener`. */
export interface PacketOpenerOptions {
  /** Replay window width in packets (default 1024). */
  readonly replayWindow?: number;
}

const CURRENT = 0;
const NEXT = 1;
const PREVIOUS = 2;

/**
 * The receiving half: picks the key from the key phase bit, opens the packet
 * and rejects replays. A packet that fails authentication changes nothing but
 * the `authFailures` counter.
 */
export class PacketOpener {
  readonly #crypto: CryptoProvider;
  readonly #window: ReplayWindow;
  readonly #nonce = new Uint8Array(AEAD_NONCE_BYTES);
  #current: Uint8Array;
  #next: Uint8Array;
  #previous: Uint8Array | null = null;
  #phase: KeyPhase = 0;
  /** Packet number of the packet that switched to the current key: older ones of the other phase use the previous key. */
  #switchedAt = 0;
  #packetsOpened = 0;
  #authFailures = 0;
  #replays = 0;
  #keyUpdates = 0;
  #lastDrop: OpenDropReason | undefined;

  constructor(crypto: CryptoProvider, key: Uint8Array, options: PacketOpenerOptions = {}) {
    checkKey(key);
    this.#crypto = crypto;
    this.#window = new ReplayWindow(options.replayWindow ?? DEFAULT_REPLAY_WINDOW);
    this.#current = copyBytes(key);
    this.#next = nextTrafficKey(crypto, this.#current);
  }

  /** The phase of the current receive key. */
  get keyPhase(): KeyPhase {
    return this.#phase;
  }

  /** The highest authenticated packet number, or -1. */
  get highestPacketNumber(): number {
    return this.#window.highest;
  }

  /** Packets opened successfully. */
  get packetsOpened(): number {
    return this.#packetsOpened;
  }

  /** Packets that failed authentication (forged, corrupted, or under a key this side does not hold). */
  get authFailures(): number {
    return this.#authFailures;
  }

  /** Packets rejected as duplicates or as older than the replay window. */
  get replays(): number {
    return this.#replays;
  }

  /** Key updates followed so far. */
  get keyUpdates(): number {
    return this.#keyUpdates;
  }

  /** Why the last failed `open` failed. */
  get lastDrop(): OpenDropReason | undefined {
    return this.#lastDrop;
  }

  /** Whether the previous key is still held for reordered packets. */
  get hasPreviousKey(): boolean {
    return this.#previous !== null;
  }

  /**
   * The plaintext of a packet with header `aad`, packet number `pn` and key
   * phase `keyPhase` (both read from that header), or null when it is a
   * replay, too old, or fails authentication.
   */
  open(aad: Uint8Array, pn: number, keyPhase: KeyPhase, sealed: Uint8Array): Uint8Array | null {
    if (!Number.isSafeInteger(pn) || pn < 0 || (keyPhase !== 0 && keyPhase !== 1)) {
      this.#lastDrop = "bad-packet-number";
      return null;
    }
    if (!this.#window.check(pn)) {
      this.#replays++;
      this.#lastDrop = "replay";
      return null;
    }
    let which: number;
    let key: Uint8Array;
    if (keyPhase === this.#phase) {
      which = CURRENT;
      key = this.#current;
    } else if (this.#previous !== null && pn < this.#switchedAt) {
      which = PREVIOUS;
      key = this.#previous;
    } else {
      which = NEXT;
      key = this.#next;
    }
    const plaintext = this.#crypto.open(key, writeNonce(this.#crypto.aead, pn, this.#nonce), aad, sealed);
    if (plaintext === null) {
      this.#authFailures++;
      this.#lastDrop = "auth";
      return null;
    }
    this.#window.accept(pn);
    this.#packetsOpened++;
    if (which === NEXT) this.#rotate(pn);
    return plaintext;
  }

  /** Forgets the previous key (e.g. some time after a key update, when no reordered packet can still arrive). */
  discardPreviousKey(): void {
    this.#previous?.fill(0);
    this.#previous = null;
  }

  #rotate(pn: number): void {
    this.#previous?.fill(0);
    this.#previous = this.#current;
    this.#current = this.#next;
    this.#next = nextTrafficKey(this.#crypto, this.#current);
    this.#phase = this.#phase === 0 ? 1 : 0;
    this.#switchedAt = pn;
    this.#keyUpdates++;
  }
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== AEAD_KEY_BYTES) {
    throw new RangeError(`a traffic key must be ${AEAD_KEY_BYTES} bytes`);
  }
}
