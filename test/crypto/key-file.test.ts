/** The key file format: round trip, tolerated layout, and errors that name the line but never a key. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { formatKeyFile, KeyFileError, parseKeyFile, parsePublicKey } from "../../src/runtime/key-file.js";
import { encodeKey, generateKeyPair, publicKeyFromPrivate } from "../../src/runtime/node-crypto.js";
import { assertBytes, bytes } from "./helpers.js";

const pair = generateKeyPair();
const priv = encodeKey(pair.privateKey);
const pub = encodeKey(pair.publicKey);

function expectKeyFileError(text: string, line?: number): KeyFileError {
  let caught: unknown;
  try {
    parseKeyFile(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof KeyFileError, `accepted: ${JSON.stringify(text.slice(0, 20))}`);
  assert.equal(caught.code, "ERR_RUDP_KEY_FILE");
  assert.equal(caught.line, line);
  for (const secret of [priv, pub, priv.slice(0, 12), pub.slice(0, 12)]) {
    assert.ok(!caught.message.includes(secret), "the error repeats key material");
  }
  return caught;
}

test("formatKeyFile writes two documented lines that parseKeyFile reads back", () => {
  const text = formatKeyFile(pair);
  const lines = text.trim().split("\n");
  assert.match(lines[0], /^# /);
  assert.equal(lines[1], `private: ${priv}`);
  assert.equal(lines[2], `public: ${pub}`);
  const back = parseKeyFile(text);
  assertBytes(back.privateKey, pair.privateKey);
  assertBytes(back.publicKey, pair.publicKey);
});

test("comments, blank lines, CRLF, a BOM, spacing, case and field order are tolerated; public is optional", () => {
  const text = `\uFEFF# mine\r\n\r\n  PUBLIC :${pub}  \r\n# more\r\nprivate:   ${priv}\r\n`;
  assertBytes(parseKeyFile(text).publicKey, pair.publicKey);
  const only = parseKeyFile(`private: ${priv}`);
  assertBytes(only.publicKey, publicKeyFromPrivate(pair.privateKey));
});

test("malformed files are refused with the line number and without echoing keys", () => {
  expectKeyFileError("");
  expectKeyFileError(`public: ${pub}\n`);
  expectKeyFileError(`${priv}\n`, 1);
  expectKeyFileError(`# c\nsecret: ${priv}\n`, 2);
  expectKeyFileError(`private: ${priv}\nprivate: ${priv}\n`, 2);
  expectKeyFileError(`private: ${priv.slice(0, 42)}\n`, 1);
  expectKeyFileError(`private: ${priv}A\n`, 1);
  expectKeyFileError(`private: ${priv}\npublic: ${pub.slice(1)}!\n`, 2);
  const other = encodeKey(generateKeyPair().publicKey);
  const err = expectKeyFileError(`private: ${priv}\n\npublic: ${other}\n`, 3);
  assert.match(err.message, /does not belong/);
  assert.ok(!err.message.includes(other.slice(0, 12)));
});

test("parsePublicKey takes a bare key or a public line", () => {
  assertBytes(parsePublicKey(` ${pub}\n`), pair.publicKey);
  assertBytes(parsePublicKey(`public: ${pub}`), pair.publicKey);
  assert.throws(() => parsePublicKey("nope"), KeyFileError);
  assert.throws(() => parsePublicKey(encodeKey(bytes(32)).slice(2)), KeyFileError);
});
