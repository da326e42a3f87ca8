/**
 * The `encryption` option of `createServer` and `connect`: keys as bytes or
 * as base64url text (what `rudp keygen` writes), turned into the core's
 * EncryptionOptions. See docs/SECURITY.md for which setup gives what.
 */

import { bytesEqual, type KeyPair } from "../core/crypto/provider.js";
import type { EncryptionOptions } from "../core/crypto/session.js";
import { validateEncryption } from "../core/crypto/session.js";
import { RudpArgumentError } from "../core/errors.js";
import { decodeKey, publicKeyFromPrivate } from "../runtime/node-crypto.js";

/** A 32-byte key: bytes, or 43 characters of base64url. */
export type KeyInput = Uint8Array | string;

/** Encryption settings of a server or a client socket. */
export interface EncryptionConfig {
  /** A pre-shared key both sides hold (32 bytes). */
  psk?: KeyInput;
  /** This side's static key pair (server identity; a client's identity for allow-lists). The public half may be left out. */
  keyPair?: { privateKey: KeyInput; publicKey?: KeyInput };
  /** Client: the server's public key, pinned: the connection fails unless the server holds its private key. */
  peerKey?: KeyInput;
  /** Server: client public keys allowed to connect (they must present their key pair). */
  allow?: readonly KeyInput[];
  /** Server: refuse plaintext clients (default true). */
  required?: boolean;
  /** Packets sealed with one key before the next is derived (default 2^20). */
  keyUpdateInterval?: number;
}

/** Validates `config` for `role` and decodes its keys. */
export function encryptionOptions(config: EncryptionConfig, role: "client" | "server"): EncryptionOptions {
  if (config === null || typeof config !== "object")
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "encryption" option must be an object');
  const key = (v: KeyInput | undefined, name: string): Uint8Array | undefined => {
    if (v === undefined) return undefined;
    if (typeof v === "string") return decodeKey(v, `The "encryption.${name}" option`);
    if (v instanceof Uint8Array) return new Uint8Array(v);
    throw new RudpArgumentError(
      "ERR_INVALID_ARG_TYPE",
      `The "encryption.${name}" option must be a Uint8Array or a base64url string`,
    );
  };
  let keyPair: KeyPair | undefined;
  if (config.keyPair !== undefined) {
    if (config.keyPair === null || typeof config.keyPair !== "object")
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "encryption.keyPair" option must be an object');
    const privateKey = key(config.keyPair.privateKey, "keyPair.privateKey");
    if (privateKey?.length !== 32)
      throw new RudpArgumentError(
        "ERR_INVALID_ARG_VALUE",
        'The "encryption.keyPair.privateKey" option must be 32 bytes',
      );
    const publicKey = publicKeyFromPrivate(privateKey);
    const given = key(config.keyPair.publicKey, "keyPair.publicKey");
    if (given && !bytesEqual(given, publicKey))
      throw new RudpArgumentError(
        "ERR_INVALID_ARG_VALUE",
        'The "encryption.keyPair.publicKey" option does not belong to its private key',
      );
    keyPair = { privateKey, publicKey };
  }
  if (config.allow !== undefined && !Array.isArray(config.allow))
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "encryption.allow" option must be an array of keys');
  const options: EncryptionOptions = {
    psk: key(config.psk, "psk"),
    keyPair,
    peerKey: key(config.peerKey, "peerKey"),
    allow: config.allow?.map((k, i) => key(k, `allow[${i}]`) as Uint8Array),
    required: config.required,
    keyUpdateInterval: config.keyUpdateInterval,
  };
  if (options.required !== undefined && typeof options.required !== "boolean")
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "encryption.required" option must be a boolean');
  validateEncryption(options, role);
  return options;
}
