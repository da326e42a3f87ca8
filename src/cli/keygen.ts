/** `rudp keygen`: makes the key files the encryption options read (an X25519 key pair, or a pre-shared key). */

import { randomFillSync } from "node:crypto";
import { closeSync, fchmodSync, openSync, readFileSync, writeSync } from "node:fs";
import type { KeyPair } from "../core/crypto/provider.js";
import { formatKeyFile, KeyFileError, parseKeyFile, parsePublicKey } from "../runtime/key-file.js";
import { encodeKey, generateKeyPair } from "../runtime/node-crypto.js";
import { expectPositionals, parseArgs, UsageError } from "./args.js";
import { type Command, EXIT_OK } from "./command.js";

const USAGE = "rudp keygen [-o FILE] [--force]";

const HELP = `Usage: ${USAGE}
       rudp keygen --psk [-o FILE] [--force]
       rudp keygen --public FILE

Makes a key pair for encrypted connections and writes it to FILE (created
readable by you only; an existing file is kept unless --force) or to stdout.
The public key goes to stderr: give it to clients, which pin it with
--peer-key (or to a server, for its --allow list). Keep the file private.

With --psk, makes a pre-shared key instead (for --psk-file on both sides;
copy the file to the other side over a secure channel). With --public,
prints the public key of the key file FILE on stdout.

Options:
  -o, --output FILE    write to FILE instead of stdout (mode 0600)
  --force              overwrite FILE if it exists
  --psk                make a pre-shared key instead of a key pair
  --public FILE        print the public key of the key file FILE

Examples:
  rudp keygen -o server.key                       # prints "public: <key>"
  rudp recv 5000 --key-file server.key > OUT
  rudp send IN 192.0.2.7 5000 --peer-key <key>    # or --peer-key server.pub
  rudp keygen --public server.key > server.pub
  rudp keygen --psk -o shared.psk
`;

/** The `rudp keygen` command. */
export const keygenCommand: Command = {
  name: "keygen",
  summary: "Make a key pair (or pre-shared key) for encrypted connections",
  help: HELP,
  run: runKeygen,
};

/** The text of a pre-shared key file for `psk` (what --psk-file reads). */
export function formatPskFile(psk: Uint8Array): string {
  return [
    "# rudp pre-shared key: keep this file private; both sides need the same key",
    `psk: ${encodeKey(psk)}`,
    "",
  ].join("\n");
}

/**
 * Writes `text` to a new file at `path` readable and writable by its owner
 * only. An existing file is a UsageError unless `force`, which overwrites it
 * (and narrows its mode).
 */
export function writePrivateFile(path: string, text: string, force = false): void {
  let fd: number;
  try {
    fd = openSync(path, force ? "w" : "wx", 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw new UsageError(`"${path}" already exists (--force overwrites it)`);
    if (code === "EISDIR") throw new UsageError(`"${path}" is a directory`);
    throw new UsageError(`cannot create "${path}" (${code ?? (err as Error).message})`);
  }
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** Makes a fresh key pair and writes its key file at `path` (see writePrivateFile). */
export function createKeyFile(path: string, force = false): KeyPair {
  const pair = generateKeyPair();
  writePrivateFile(path, formatKeyFile(pair), force);
  return pair;
}

/** The public key in a key file (or in a file holding just the public key), base64url. */
export function publicKeyOfFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === "ENOENT" ? `no such file "${path}"` : `cannot read "${path}" (${code ?? "error"})`);
  }
  try {
    if (/^\s*psk\s*:/im.test(text)) throw new KeyFileError("it holds a pre-shared key, which has no public key");
    if (/^\s*private\s*:/im.test(text)) return encodeKey(parseKeyFile(text).publicKey);
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
    if (lines.length !== 1) throw new KeyFileError("expected `private: <key>` and `public: <key>` lines");
    return encodeKey(parsePublicKey(lines[0]));
  } catch (err) {
    if (err instanceof KeyFileError) throw new UsageError(`"${path}" is not a key file: ${err.message}`);
    throw err;
  }
}

async function runKeygen(args: string[]): Promise<number> {
  const { options, positionals } = parseArgs(args, {
    output: { short: "o", parse: String },
    force: {},
    psk: {},
    public: { parse: String },
  });
  expectPositionals(positionals, 0, 0, USAGE);
  const output = options.output as string | undefined;
  const force = options.force === true;
  if (options.public !== undefined) {
    if (output !== undefined || options.psk || force)
      throw new UsageError("--public takes no other option (redirect stdout to save the key)");
    process.stdout.write(`${publicKeyOfFile(options.public as string)}\n`);
    return EXIT_OK;
  }
  if (force && output === undefined) throw new UsageError("--force needs -o FILE");
  if (options.psk) {
    const text = formatPskFile(randomFillSync(new Uint8Array(32)));
    if (output === undefined) process.stdout.write(text);
    else {
      writePrivateFile(output, text, force);
      process.stderr.write(`rudp keygen: wrote a pre-shared key to "${output}": copy it to the other side privately\n`);
    }
    return EXIT_OK;
  }
  const pair = generateKeyPair();
  const text = formatKeyFile(pair);
  if (output === undefined) process.stdout.write(text);
  else {
    writePrivateFile(output, text, force);
    process.stderr.write(`rudp keygen: wrote a key pair to "${output}" (keep it private; share the public key)\n`);
  }
  process.stderr.write(`public: ${encodeKey(pair.publicKey)}\n`);
  return EXIT_OK;
}
