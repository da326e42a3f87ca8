/**
 * What a connection needs from encryption, as interfaces: the key exchange
 * riding on SYN / SYN-ACK, and the packet protection that follows. The Noise
 * handshake and the AEAD that implement them live in core/crypto.
 */

import { RudpConnectionError } from "../errors.js";

/** The handshake parameters each side's key-exchange message authenticates. */
export interface HandshakeFields {
  /** The sender's connection id. */
  cid: number;
  isn: number;
  window: number;
  maxPacketSize: number;
  maxMessageSize: number;
}

/** Counters of a protected connection. */
export interface ProtectionCounters {
  /** Sealed packets that failed authentication (forged, corrupted or for other keys). */
  authFailures: number;
  /** Authentic packets seen before (replays), dropped. */
  replays: number;
  /** Key updates, sending and receiving. */
  keyUpdates: number;
}

/** Packet protection after the handshake: every packet but SYN and SYN-ACK is sealed with it. */
export interface SecureChannel {
  /**
   * Seals the inner packet `inner[0, length)` (a whole packet without its
   * checksum) for the peer whose cid is `dcid` into `out`; returns the datagram length.
   */
  seal(inner: Uint8Array, length: number, dcid: number, out: Uint8Array): number;
  /** The inner packet of a sealed datagram (in a buffer of its own), or undefined when it is not authentic or a replay. */
  open(datagram: Uint8Array): Uint8Array | undefined;
  readonly counters: ProtectionCounters;
}

/** The client's side of the key exchange: its first message, then the server's reply. */
export interface ClientHandshake {
  /** Carried in every SYN (the NOISE extension). */
  readonly message: Uint8Array;
  /** The Noise pattern in use ("NNpsk0", "NK" or "IK"). */
  readonly pattern: string;
  /**
   * Reads the server's reply: the packet protection, or undefined when the
   * reply is not authentic (a forgery, dropped: the real one may follow).
   * Throws EncryptionError when the SYN-ACK has no reply (a plaintext server).
   */
  finish(reply: Uint8Array | undefined, server: HandshakeFields): SecureChannel | undefined;
}

/** Makes the client's handshake once the connection knows its own fields. */
export type ClientHandshakeFactory = (client: HandshakeFields) => ClientHandshake;

/** Codes of the ways an encrypted handshake fails. */
export type EncryptionErrorCode =
  | "ERR_RUDP_AUTH_FAILED"
  | "ERR_RUDP_NOT_ALLOWED"
  | "ERR_RUDP_ENCRYPTION_REQUIRED"
  | "ERR_RUDP_ENCRYPTION_UNSUPPORTED";

/** A handshake that could not be authenticated; the message never includes key material. */
export class EncryptionError extends RudpConnectionError {
  declare readonly code: EncryptionErrorCode;
  constructor(code: EncryptionErrorCode, message: string) {
    super(code, message);
  }
}

/** A key exchange the server accepted. */
export interface AcceptedHandshake {
  channel: SecureChannel;
  /** The server's message, for the SYN-ACK's NOISE extension. */
  reply: Uint8Array;
  /** The client's static public key, when it sent one (IK). */
  peerKey?: Uint8Array;
  /** The Noise pattern the client chose. */
  pattern: string;
}

/** The server's side of the key exchange. */
export interface HandshakeResponder {
  /**
   * Answers a client's first message: the packet protection and the reply for
   * the SYN-ACK, or a refusal (an RstReason) when the client cannot be
   * authenticated or is not allowed.
   */
  respond(
    message: Uint8Array,
    client: HandshakeFields,
    server: HandshakeFields,
  ): AcceptedHandshake | { refuse: number };
  /** True when plaintext connections are refused. */
  readonly required: boolean;
}
