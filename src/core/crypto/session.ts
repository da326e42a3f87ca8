/**
 * rudp's use of Noise (docs/PROTOCOL.md §12): which pattern each key setup
 * selects, the handshake messages riding in the SYN and SYN-ACK NOISE
 * extension, what they authenticate, and the sealed packet format after it.
 *
 *   pre-shared key                          → Noise_NNpsk0
 *   client pins the server's static key     → Noise_NK
 *   … and sends its own (server allow-list)  → Noise_IK
 */

import type {
  ClientHandshake,
  ClientHandshakeFactory,
  HandshakeFields,
  HandshakeResponder,
  ProtectionCounters,
  SecureChannel,
} from "../connection/security.js";
import { EncryptionError } from "../connection/security.js";
import { RudpArgumentError } from "../errors.js";
import { readU16, readU32, writeU16, writeU32 } from "../wire/bytes.js";
import { AEAD_TAG_SIZE, Flag, MAGIC, RstReason, SEALED_HEADER_SIZE, VERSION } from "../wire/packet.js";
import { NoiseHandshake, NoiseHandshakeError, type NoisePattern, PSK_BYTES } from "./noise.js";
import { DEFAULT_KEY_UPDATE_INTERVAL, type KeyPhase, PacketOpener, PacketSealer } from "./packet-protection.js";
import { bytesEqual, type CryptoProvider, DH_BYTES, type KeyPair } from "./provider.js";

/** Keys and policy of an encrypting endpoint or connection. */
export interface EncryptionOptions {
  /** A 32-byte key both sides hold (pattern NNpsk0). */
  psk?: Uint8Array;
  /** This side's static X25519 key pair: a server's identity, or a client's for an allow-list (IK). */
  keyPair?: KeyPair;
  /** Client: the server's static public key, pinned (NK, or IK with `keyPair`). */
  peerKey?: Uint8Array;
  /** Server: the client public keys allowed to connect; when given, only IK clients on the list get in. */
  allow?: readonly Uint8Array[];
  /** Server: refuse plaintext connections (default true). */
  required?: boolean;
  /** Packets sealed with one key before it is updated (default 2^20). */
  keyUpdateInterval?: number;
}

const PATTERN_IDS: Readonly<Record<NoisePattern, number>> = { NNpsk0: 1, NK: 2, IK: 3 };
const PATTERNS: readonly (NoisePattern | undefined)[] = [undefined, "NNpsk0", "NK", "IK"];
const FIELDS_SIZE = 18;
const PN_WINDOW = 2 ** 32;

/** Checks encryption options for a side ("client" for `connect()`, "server" for a listening endpoint). */
export function validateEncryption(o: EncryptionOptions, role: "client" | "server"): void {
  if (o === null || typeof o !== "object")
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "encryption" option must be an object');
  const key = (name: string, v: unknown, size: number) => {
    if (v === undefined) return;
    if (!(v instanceof Uint8Array))
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", `The "encryption.${name}" option must be a Uint8Array`);
    if (v.length !== size)
      throw new RudpArgumentError("ERR_INVALID_ARG_VALUE", `The "encryption.${name}" option must be ${size} bytes`);
  };
  key("psk", o.psk, PSK_BYTES);
  key("peerKey", o.peerKey, DH_BYTES);
  if (o.keyPair !== undefined) {
    if (o.keyPair === null || typeof o.keyPair !== "object")
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "encryption.keyPair" option must be an object');
    key("keyPair.publicKey", o.keyPair.publicKey, DH_BYTES);
    key("keyPair.privateKey", o.keyPair.privateKey, DH_BYTES);
  }
  if (o.allow !== undefined) {
    if (!Array.isArray(o.allow))
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "encryption.allow" option must be an array of keys');
    for (const [i, k] of o.allow.entries()) key(`allow[${i}]`, k, DH_BYTES);
  }
  const interval = o.keyUpdateInterval;
  if (interval !== undefined && (!Number.isSafeInteger(interval) || interval < 1))
    throw new RudpArgumentError(
      "ERR_OUT_OF_RANGE",
      'The "encryption.keyUpdateInterval" option must be a positive integer',
    );
  if (role === "client") {
    if (o.psk && (o.peerKey || o.keyPair))
      throw new RudpArgumentError(
        "ERR_INVALID_ARG_VALUE",
        'The "encryption" option of a client takes either "psk" or "peerKey" (with an optional "keyPair"), not both',
      );
    if (!o.psk && !o.peerKey)
      throw new RudpArgumentError(
        "ERR_INVALID_ARG_VALUE",
        'The "encryption" option of a client needs "psk" or the server\'s public key as "peerKey"',
      );
  } else if (!o.psk && !o.keyPair) {
    throw new RudpArgumentError(
      "ERR_INVALID_ARG_VALUE",
      'The "encryption" option of a server needs "psk" or its own "keyPair"',
    );
  }
}

/** The client's key exchange for `o` (validated for a client). */
export function createInitiator(crypto: CryptoProvider, o: EncryptionOptions): ClientHandshakeFactory {
  validateEncryption(o, "client");
  const pattern: NoisePattern = o.psk ? "NNpsk0" : o.keyPair ? "IK" : "NK";
  return (client) => new Initiator(crypto, o, pattern, client);
}

class Initiator implements ClientHandshake {
  readonly message: Uint8Array;
  readonly pattern: NoisePattern;
  readonly #crypto: CryptoProvider;
  readonly #options: EncryptionOptions;
  readonly #noise: NoiseHandshake;
  readonly #id: number;

  constructor(crypto: CryptoProvider, o: EncryptionOptions, pattern: NoisePattern, client: HandshakeFields) {
    this.#crypto = crypto;
    this.#options = o;
    this.pattern = pattern;
    this.#id = PATTERN_IDS[pattern];
    this.#noise = new NoiseHandshake(crypto, {
      pattern,
      initiator: true,
      prologue: prologue(pattern),
      staticKeyPair: o.keyPair,
      remoteStaticKey: o.peerKey,
      psk: o.psk,
    });
    this.message = withId(this.#id, this.#noise.writeMessage(encodeFields(client)));
  }

  finish(reply: Uint8Array | undefined, server: HandshakeFields): SecureChannel | undefined {
    if (!reply) throw new EncryptionError("ERR_RUDP_ENCRYPTION_UNSUPPORTED", "the server answered without encryption");
    if (reply[0] !== this.#id) return undefined;
    let payload: Uint8Array;
    try {
      payload = this.#noise.readMessage(reply.subarray(1));
    } catch (err) {
      if (err instanceof NoiseHandshakeError) return undefined; // forged or corrupted: wait for the real one
      throw err;
    }
    if (!bytesEqual(payload, encodeFields(server))) return undefined; // the clear SYN-ACK was altered
    const keys = this.#noise.split();
    return new NoiseChannel(this.#crypto, keys.sendKey, keys.receiveKey, this.#options.keyUpdateInterval);
  }
}

/** The server's answer to key exchanges under `o` (validated for a server). */
export function createResponder(crypto: CryptoProvider, o: EncryptionOptions): HandshakeResponder {
  validateEncryption(o, "server");
  const allow = o.allow?.map((k) => k.slice());
  return {
    required: o.required ?? true,
    respond(message, client, server) {
      const pattern = PATTERNS[message[0]];
      if (!pattern) return { refuse: RstReason.AUTH_FAILED };
      if (pattern === "NNpsk0" ? !o.psk : !o.keyPair) return { refuse: RstReason.AUTH_FAILED };
      if (pattern === "NK" && allow) return { refuse: RstReason.NOT_ALLOWED };
      const noise = new NoiseHandshake(crypto, {
        pattern,
        initiator: false,
        prologue: prologue(pattern),
        staticKeyPair: o.keyPair,
        psk: o.psk,
      });
      let payload: Uint8Array;
      try {
        payload = noise.readMessage(message.subarray(1));
      } catch (err) {
        if (err instanceof NoiseHandshakeError) return { refuse: RstReason.AUTH_FAILED };
        throw err;
      }
      if (allow) {
        const peer = noise.remoteStaticKey;
        if (!peer || !allow.some((k) => bytesEqual(k, peer))) return { refuse: RstReason.NOT_ALLOWED };
      }
      if (!bytesEqual(payload, encodeFields(client))) return { refuse: RstReason.AUTH_FAILED };
      const reply = withId(PATTERN_IDS[pattern], noise.writeMessage(encodeFields(server)));
      const keys = noise.split();
      return {
        channel: new NoiseChannel(crypto, keys.sendKey, keys.receiveKey, o.keyUpdateInterval),
        reply,
        peerKey: noise.remoteStaticKey,
        pattern,
      };
    },
  };
}

/**
 * Sealed packets: a 12-byte clear header (magic, version, flags SEALED with
 * KEY_PHASE, dcid, the packet number's low 32 bits) authenticated as the AEAD's
 * associated data, then the inner packet encrypted, then the 16-byte tag. The
 * nonce is the full 64-bit packet number, reconstructed by the receiver as in
 * RFC 9000 §A.3.
 */
export class NoiseChannel implements SecureChannel {
  readonly #sealer: PacketSealer;
  readonly #opener: PacketOpener;
  readonly #header = new Uint8Array(SEALED_HEADER_SIZE);

  constructor(crypto: CryptoProvider, sendKey: Uint8Array, receiveKey: Uint8Array, keyUpdateInterval?: number) {
    this.#sealer = new PacketSealer(crypto, sendKey, {
      keyUpdateInterval: keyUpdateInterval ?? DEFAULT_KEY_UPDATE_INTERVAL,
    });
    this.#opener = new PacketOpener(crypto, receiveKey);
    sendKey.fill(0);
    receiveKey.fill(0);
  }

  get counters(): ProtectionCounters {
    const o = this.#opener;
    return { authFailures: o.authFailures, replays: o.replays, keyUpdates: o.keyUpdates + this.#sealer.keyUpdates };
  }

  seal(inner: Uint8Array, length: number, dcid: number, out: Uint8Array): number {
    const sealer = this.#sealer;
    const pn = sealer.nextPacketNumber;
    out[0] = MAGIC;
    out[1] = VERSION;
    writeU16(out, 2, Flag.SEALED | (sealer.keyPhase === 1 ? Flag.KEY_PHASE : 0));
    writeU32(out, 4, dcid);
    writeU32(out, 8, pn % PN_WINDOW);
    const sealed = sealer.seal(out.subarray(0, SEALED_HEADER_SIZE), inner.subarray(0, length), out, SEALED_HEADER_SIZE);
    return SEALED_HEADER_SIZE + sealed.bytes.length;
  }

  open(datagram: Uint8Array): Uint8Array | undefined {
    if (datagram.length < SEALED_HEADER_SIZE + AEAD_TAG_SIZE) return undefined;
    const flags = readU16(datagram, 2);
    if ((flags & ~(Flag.SEALED | Flag.KEY_PHASE)) !== 0) return undefined;
    const phase: KeyPhase = flags & Flag.KEY_PHASE ? 1 : 0;
    const pn = expandPacketNumber(this.#opener.highestPacketNumber, readU32(datagram, 8));
    this.#header.set(datagram.subarray(0, SEALED_HEADER_SIZE));
    return this.#opener.open(this.#header, pn, phase, datagram.subarray(SEALED_HEADER_SIZE)) ?? undefined;
  }
}

/** The full packet number closest to the one expected next whose low 32 bits are `low` (RFC 9000 §A.3). */
export function expandPacketNumber(highest: number, low: number): number {
  const expected = highest + 1;
  const candidate = expected - (expected % PN_WINDOW) + low;
  if (candidate <= expected - PN_WINDOW / 2 && candidate < Number.MAX_SAFE_INTEGER - PN_WINDOW)
    return candidate + PN_WINDOW;
  if (candidate > expected + PN_WINDOW / 2 && candidate >= PN_WINDOW) return candidate - PN_WINDOW;
  return candidate;
}

/** What the key-exchange payloads carry: the sender's handshake fields, so the clear copies cannot be altered. */
function encodeFields(f: HandshakeFields): Uint8Array {
  const out = new Uint8Array(FIELDS_SIZE);
  writeU32(out, 0, f.cid);
  writeU32(out, 4, f.isn);
  writeU32(out, 8, f.window);
  writeU16(out, 12, f.maxPacketSize);
  writeU32(out, 14, f.maxMessageSize);
  return out;
}

function prologue(pattern: NoisePattern): Uint8Array {
  return new TextEncoder().encode(`rudp/1 ${pattern}`);
}

function withId(id: number, message: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + message.length);
  out[0] = id;
  out.set(message, 1);
  return out;
}
