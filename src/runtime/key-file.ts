/**
 * The key file `rudp keygen` writes: UTF-8 text, one `name: value` per line,
 * `#` comments and blank lines ignored, values in base64url (43 characters,
 * no padding):
 *
 *     # rudp X25519 key pair: keep this file private
 *     private: <base64url of the 32-byte private key>
 *     public: <base64url of the 32-byte public key>
 *
 * `private` is required; `public`, when present, must match it. Errors name
 * the line but never echo a line's content or any key.
 */

import type { KeyPair } from "../core/crypto/provider.js";
import { bytesEqual } from "../core/crypto/provider.js";
import { RudpError } from "../core/errors.js";
import { decodeKey, encodeKey, publicKeyFromPrivate } from "./node-crypto.js";

/** A key file could not be parsed; `line` is 1-based when the problem is on a line. */
export class KeyFileError extends RudpError {
  readonly line: number | undefined;
  constructor(message: string, line?: number) {
    super("ERR_RUDP_KEY_FILE", line === undefined ? message : `line ${line}: ${message}`);
    this.line = line;
  }
}

/** The text of a key file for `pair`. */
export function formatKeyFile(pair: KeyPair): string {
  return [
    "# rudp X25519 key pair: keep this file private (share only the public line)",
    `private: ${encodeKey(pair.privateKey)}`,
    `public: ${encodeKey(pair.publicKey)}`,
    "",
  ].join("\n");
}

/** The key pair in a key file's text; throws `KeyFileError`. */
export function parseKeyFile(text: string): KeyPair {
  if (typeof text !== "string") throw new KeyFileError("a key file must be text");
  const fields = new Map<string, { value: string; line: number }>();
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([A-Za-z]+)\s*:\s*(.*)$/.exec(line);
    if (match === null) throw new KeyFileError("expected `private: <key>` or `public: <key>`", i + 1);
    const name = match[1].toLowerCase();
    if (name !== "private" && name !== "public") {
      throw new KeyFileError("unknown field (expected `private` or `public`)", i + 1);
    }
    if (fields.has(name)) throw new KeyFileError(`duplicate \`${name}\` field`, i + 1);
    fields.set(name, { value: match[2], line: i + 1 });
  }
  const priv = fields.get("private");
  if (priv === undefined) throw new KeyFileError("no `private` field");
  const privateKey = decodeField(priv.value, "private key", priv.line);
  const publicKey = publicKeyFromPrivate(privateKey);
  const pub = fields.get("public");
  if (pub !== undefined && !bytesEqual(decodeField(pub.value, "public key", pub.line), publicKey)) {
    throw new KeyFileError("the public key does not belong to the private key", pub.line);
  }
  return { privateKey, publicKey };
}

/**
 * A peer's public key given on its own (e.g. a pinned server key on the
 * command line): base64url, or a `public: <key>` line.
 */
export function parsePublicKey(text: string): Uint8Array {
  if (typeof text !== "string") throw new KeyFileError("a public key must be text");
  const match = /^\s*public\s*:\s*(.*)$/i.exec(text);
  return decodeField(match === null ? text : match[1], "public key");
}

function decodeField(value: string, what: string, line?: number): Uint8Array {
  try {
    return decodeKey(value, what);
  } catch {
    throw new KeyFileError(`the ${what} must be 32 bytes written as 43 base64url characters`, line);
  }
}
