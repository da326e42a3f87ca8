/**
 * The encryption options of the network commands (--key-file, --peer-key,
 * --allow, --psk-file, --plaintext-ok): reading keys from the command line and
 * from files, checking how they combine for a client or a server, and saying
 * what a connection got. No message here ever repeats key material.
 */

import { readFileSync, statSync } from "node:fs";
import { type EncryptionConfig, encryptionOptions } from "../api/encryption.js";
import type { Server } from "../api/server.js";
import type { ConnectionStats } from "../core/connection/stats.js";
import type { KeyPair } from "../core/crypto/provider.js";
import { KeyFileError, parseKeyFile, parsePublicKey } from "../runtime/key-file.js";
import { DEFAULT_AEAD, decodeKey, encodeKey } from "../runtime/node-crypto.js";
import { type OptionSpec, UsageError } from "./args.js";

/** The encryption options, for both sides (each side refuses the other's with a clear message). */
export const ENCRYPTION_OPTIONS: Record<string, OptionSpec> = {
  "key-file": { parse: String },
  "peer-key": { parse: String },
  allow: { parse: String, multiple: true },
  "psk-file": { parse: String },
  "plaintext-ok": {},
};

/** Help lines of the client-side encryption options. */
export const CLIENT_ENCRYPTION_HELP = `  --peer-key KEY|FILE  encrypt, and accept only the server holding this public key
                       (base64url, or a file with it, e.g. the server's key file)
  --key-file FILE      also present this key pair (for a server with --allow)
  --psk-file FILE      encrypt with the pre-shared key in FILE instead`;

/** Help lines of the server-side encryption options. */
export const SERVER_ENCRYPTION_HELP = `  --key-file FILE      encrypt with this key pair ("rudp keygen"); clients pin its
                       public key with --peer-key
  --allow KEY|FILE     admit only clients presenting one of these public keys
                       (repeatable; FILE: one key per line); needs --key-file
  --psk-file FILE      encrypt with the pre-shared key in FILE ("rudp keygen --psk")
  --plaintext-ok       with --key-file/--psk-file: also accept plaintext clients`;

/** Which side of a connection a command is. */
export type Role = "client" | "server";

/** What one side's encryption options came to. */
export interface EncryptionSetup {
  role: Role;
  /** The `encryption` option of `connect()` / `createServer()`; undefined for plaintext. */
  config: EncryptionConfig | undefined;
  /** This side's public key (from --key-file), base64url, to share with peers. */
  publicKey: string | undefined;
  /** The Noise pattern(s) this side may use, e.g. "NK" or "NNpsk0/NK/IK". */
  patterns: string;
  /** Who authenticates whom, e.g. "server key pinned"; empty when there is nothing to add. */
  authentication: string;
}

const AEAD_LABELS: Record<string, string> = {
  "chacha20-poly1305": "ChaCha20-Poly1305",
  "aes-256-gcm": "AES-256-GCM",
};

/** The AEAD the Node runtime seals packets with, as people write it. */
export const AEAD_LABEL = AEAD_LABELS[DEFAULT_AEAD] ?? DEFAULT_AEAD;

/** A plaintext setup (what a command without encryption options uses). */
export function plaintextSetup(role: Role): EncryptionSetup {
  return { role, config: undefined, publicKey: undefined, patterns: "", authentication: "" };
}

/**
 * The encryption of one side from its parsed options: reads the key files,
 * checks the combination for `role` and builds the `encryption` option.
 * Throws UsageError (exit 2) for a bad file or combination. `label` prefixes
 * warnings (a private file other users can read).
 */
export function encryptionSetup(options: Record<string, unknown>, role: Role, label: string): EncryptionSetup {
  const keyFile = options["key-file"] as string | undefined;
  const peerKey = options["peer-key"] as string | undefined;
  const allow = (options.allow as string[] | undefined) ?? [];
  const pskFile = options["psk-file"] as string | undefined;
  const plaintextOk = options["plaintext-ok"] === true;

  if (role === "client") {
    if (allow.length > 0)
      throw new UsageError("--allow is for servers (a client pins the server's public key with --peer-key)");
    if (plaintextOk) throw new UsageError("--plaintext-ok is for servers (a client without keys is plaintext)");
    if (pskFile !== undefined && (peerKey !== undefined || keyFile !== undefined))
      throw new UsageError("--psk-file cannot be combined with --peer-key or --key-file: choose one way to encrypt");
    if (keyFile !== undefined && peerKey === undefined)
      throw new UsageError("--key-file on a client needs --peer-key, the server's public key");
  } else {
    if (peerKey !== undefined)
      throw new UsageError("--peer-key is for clients (a server admits client keys with --allow)");
    if (allow.length > 0 && keyFile === undefined)
      throw new UsageError("--allow needs --key-file: listed clients authenticate against the server's key pair");
    if (allow.length > 0 && pskFile !== undefined)
      throw new UsageError(
        "--allow cannot be combined with --psk-file: pre-shared-key clients present no key to check",
      );
    if (plaintextOk && keyFile === undefined && pskFile === undefined)
      throw new UsageError("--plaintext-ok needs --key-file or --psk-file (without them the server is plaintext)");
  }

  const keyPair = keyFile === undefined ? undefined : readKeyPair(keyFile, label);
  const psk = pskFile === undefined ? undefined : readPsk(pskFile, label);
  const publicKey = keyPair ? encodeKey(keyPair.publicKey) : undefined;
  let config: EncryptionConfig | undefined;
  let patterns: string;
  let authentication: string;
  if (role === "client") {
    const pinned = peerKey === undefined ? undefined : readPublicKeys(peerKey, "peer-key");
    if (pinned && pinned.length !== 1)
      throw new UsageError(`--peer-key: the file holds ${pinned.length} public keys; give the server's one`);
    if (psk) config = { psk };
    else if (pinned) config = keyPair ? { peerKey: pinned[0], keyPair } : { peerKey: pinned[0] };
    patterns = psk ? "NNpsk0" : keyPair ? "IK" : "NK";
    authentication = psk ? "pre-shared key" : keyPair ? "server key pinned, client key presented" : "server key pinned";
  } else {
    const allowed = allow.flatMap((a) => readPublicKeys(a, "allow"));
    if (psk || keyPair)
      config = {
        ...(psk ? { psk } : {}),
        ...(keyPair ? { keyPair } : {}),
        ...(allowed.length > 0 ? { allow: allowed } : {}),
        ...(plaintextOk ? { required: false } : {}),
      };
    const list: string[] = [];
    if (psk) list.push("NNpsk0");
    if (keyPair) list.push(...(allowed.length > 0 ? ["IK"] : ["NK", "IK"]));
    patterns = list.join("/");
    authentication =
      allowed.length > 0 ? `client key on --allow (${allowed.length} listed)` : psk ? "pre-shared key" : "";
  }
  if (config) {
    try {
      encryptionOptions(config, role);
    } catch (err) {
      throw new UsageError(`invalid encryption options: ${(err as Error).message}`);
    }
  }
  return config ? { role, config, publicKey, patterns, authentication } : plaintextSetup(role);
}

/** True when `stats` belong to a connection that seals its packets. */
export function sealsPackets(stats: ConnectionStats): boolean {
  return stats.encryption !== "none";
}

/** True when a connection under `setup` with these stats is encrypted (undefined: cannot tell). */
export function isEncrypted(setup: EncryptionSetup, stats?: ConnectionStats): boolean | undefined {
  if (!setup.config) return false;
  if (setup.role === "client" || setup.config.required !== false) return true;
  return stats ? sealsPackets(stats) : undefined;
}

/**
 * What protects a connection under `setup`, for summaries: "plaintext (not
 * encrypted)" or "encrypted (Noise NK, ChaCha20-Poly1305), server key
 * pinned", plus the packets that failed authentication, replays and key
 * updates when `stats` counts any.
 */
export function describeSecurity(setup: EncryptionSetup, stats?: ConnectionStats): string {
  const encrypted = isEncrypted(setup, stats);
  let text: string;
  if (encrypted === false)
    text = setup.config ? "plaintext (the client did not encrypt; --plaintext-ok)" : "plaintext (not encrypted)";
  else if (encrypted === undefined) text = "encrypted or plaintext (--plaintext-ok)";
  else {
    const pattern = stats && stats.encryption !== "none" ? stats.encryption : setup.patterns;
    text = `encrypted (Noise ${pattern}, ${AEAD_LABEL})`;
    if (setup.authentication) text += `, ${setup.authentication}`;
  }
  const extras: string[] = [];
  if (stats && stats.authFailures > 0) extras.push(`${plural(stats.authFailures, "packet")} failed authentication`);
  if (stats && stats.replays > 0) extras.push(`${plural(stats.replays, "replay")} dropped`);
  if (stats && stats.keyUpdates > 0) extras.push(plural(stats.keyUpdates, "key update"));
  return extras.length > 0 ? `${text}; ${extras.join(", ")}` : text;
}

/** The summary line saying what protected a connection. */
export function securityLine(setup: EncryptionSetup, stats?: ConnectionStats): string {
  return `  security         ${describeSecurity(setup, stats)}`;
}

/** What a server's "listening on" line says of its encryption (empty for plaintext): how, and the public key clients pin. */
export function listeningNote(setup: EncryptionSetup): string {
  if (!setup.config) return "";
  const parts = [setup.config.required === false ? "encrypted or plaintext" : "encrypted"];
  if (setup.config.psk) parts.push("pre-shared key");
  if (setup.publicKey) parts.push(`public key ${setup.publicKey}`);
  return parts.join(", ");
}

const HANDSHAKE_FAILURES: Record<string, string> = {
  ERR_RUDP_AUTH_FAILED:
    "the encrypted handshake failed: the server does not hold the private key of --peer-key, or the pre-shared keys differ",
  ERR_RUDP_NOT_ALLOWED:
    "the server admits only the clients on its --allow list: this client presented no key (--key-file) or one not on it",
  ERR_RUDP_ENCRYPTION_REQUIRED:
    "the server accepts encrypted connections only: give --peer-key (the server's public key) or --psk-file",
  ERR_RUDP_ENCRYPTION_UNSUPPORTED:
    "the server does not encrypt: start it with --key-file or --psk-file, or connect without encryption options",
};

/** "CODE: what it means" for an encrypted handshake's failure, or undefined for other errors. */
export function describeHandshakeFailure(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && Object.hasOwn(HANDSHAKE_FAILURES, code)
    ? `${code}: ${HANDSHAKE_FAILURES[code]}`
    : undefined;
}

/**
 * Reports handshakes an encrypting server refused (wrong key, not on the
 * allow-list, plaintext) while it listens, by polling its counters; returns
 * a function that stops watching.
 */
export function watchRefusals(server: Server, setup: EncryptionSetup, report: (line: string) => void): () => void {
  if (!setup.config) return () => {};
  const reasons = ["a wrong key"];
  if (setup.config.allow) reasons.push("a client not on --allow");
  if (setup.config.required !== false) reasons.push("a plaintext client");
  const why = reasons.length > 2 ? `${reasons.slice(0, -1).join(", ")} or ${reasons.at(-1)}` : reasons.join(" or ");
  let seen = server.endpointStats()?.refusedHandshakes ?? 0;
  const timer = setInterval(() => {
    const now = server.endpointStats()?.refusedHandshakes ?? seen;
    if (now > seen && server.listening)
      report(`refused ${plural(now - seen, "encrypted handshake")} (${why}); ${now} so far`);
    seen = now;
  }, 250);
  timer.unref();
  return () => clearInterval(timer);
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? "" : "s"}`;
}

/** A file's text; a missing or unreadable file is a UsageError naming the option. */
function readText(path: string, option: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new UsageError(`--${option}: no such file "${path}"`);
    if (code === "EISDIR") throw new UsageError(`--${option}: "${path}" is a directory, not a file`);
    throw new UsageError(`--${option}: cannot read "${path}" (${code ?? "error"})`);
  }
}

/** Warns when a file holding a secret key can be read by other users. */
function warnIfShared(path: string, label: string): void {
  if (process.platform === "win32") return;
  try {
    if ((statSync(path).mode & 0o077) !== 0)
      process.stderr.write(`${label}: warning: other users can read "${path}" (chmod 600 it)\n`);
  } catch {
    // Read a moment ago; a race here is not worth failing for.
  }
}

function readKeyPair(path: string, label: string): KeyPair {
  const text = readText(path, "key-file");
  let pair: KeyPair;
  try {
    pair = parseKeyFile(text);
  } catch (err) {
    if (err instanceof KeyFileError)
      throw new UsageError(`--key-file: "${path}" is not a key file from "rudp keygen": ${err.message}`);
    throw err;
  }
  warnIfShared(path, label);
  return pair;
}

/** Non-comment, non-blank lines of a key text, with their 1-based line numbers. */
function contentLines(text: string): { line: string; n: number }[] {
  return text
    .replace(/^\uFEFF/, "")
    .split(/\r?\n/)
    .map((l, i) => ({ line: l.trim(), n: i + 1 }))
    .filter((l) => l.line !== "" && !l.line.startsWith("#"));
}

function readPsk(path: string, label: string): Uint8Array {
  const lines = contentLines(readText(path, "psk-file"));
  if (lines.some((l) => /^(private|public)\s*:/i.test(l.line)))
    throw new UsageError(
      `--psk-file: "${path}" is a key pair file (give it to --key-file; "rudp keygen --psk" makes a pre-shared key)`,
    );
  const bad = new UsageError(
    `--psk-file: "${path}" must hold one pre-shared key: 32 bytes as 43 base64url characters ("rudp keygen --psk")`,
  );
  if (lines.length !== 1) throw bad;
  const match = /^psk\s*:\s*(.*)$/i.exec(lines[0].line);
  let psk: Uint8Array;
  try {
    psk = decodeKey(match ? match[1] : lines[0].line);
  } catch {
    throw bad;
  }
  warnIfShared(path, label);
  return psk;
}

/** Could be key material (a key's characters, long enough): such a value is never repeated in a message. */
function looksLikeKey(text: string): boolean {
  return /^[A-Za-z0-9_+/=-]{32,}$/.test(text.trim());
}

/**
 * The public key(s) given to --peer-key or --allow: a base64url key, or a
 * file with one per line (bare or `public: KEY`), or a key file (its public
 * half).
 */
function readPublicKeys(value: string, option: string): Uint8Array[] {
  const notKey = `--${option}: not a public key (43 base64url characters) nor a readable file`;
  if (/^\s*[A-Za-z0-9_-]{43}\s*$/.test(value)) {
    try {
      return [decodeKey(value)];
    } catch {
      throw new UsageError(notKey);
    }
  }
  let text: string;
  try {
    text = readFileSync(value, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (looksLikeKey(value)) throw new UsageError(notKey);
    if (code === "ENOENT")
      throw new UsageError(`--${option}: no such file "${value}" (nor a public key: 43 base64url characters)`);
    throw new UsageError(`--${option}: cannot read "${value}" (${code ?? "error"})`);
  }
  const lines = contentLines(text);
  if (lines.some((l) => /^private\s*:/i.test(l.line))) {
    try {
      return [parseKeyFile(text).publicKey];
    } catch (err) {
      if (err instanceof KeyFileError) throw new UsageError(`--${option}: "${value}": ${err.message}`);
      throw err;
    }
  }
  if (lines.length === 0) throw new UsageError(`--${option}: "${value}" holds no public key`);
  return lines.map((l) => {
    try {
      return parsePublicKey(l.line);
    } catch {
      throw new UsageError(
        `--${option}: "${value}" line ${l.n}: not a public key (43 base64url characters, or "public: KEY")`,
      );
    }
  });
}
