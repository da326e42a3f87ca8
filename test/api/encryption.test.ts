/**
 * The `encryption` option of createServer/connect on real loopback sockets:
 * keys as bytes or base64url text, every setup, failures as socket errors
 * with their codes, and validation errors that never echo a key.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { connect, type Socket } from "../../src/index.js";
import { encodeKey, generateKeyPair } from "../../src/runtime/node-crypto.js";
import { closeServer, listening, nextEvent, pattern, portOf, readAll } from "./helpers.js";

const psk = new Uint8Array(32).fill(9);
const serverKeys = generateKeyPair();
const clientKeys = generateKeyPair();

async function echoThrough(
  serverEncryption: NonNullable<Parameters<typeof listening>[0]>["encryption"],
  clientEncryption: Parameters<typeof connect>[0] extends infer O
    ? O extends { encryption?: infer E }
      ? E
      : never
    : never,
): Promise<{ echoed?: Buffer; error?: NodeJS.ErrnoException; client?: Socket }> {
  const server = await listening({ encryption: serverEncryption }, (s) => s.pipe(s));
  try {
    const data = pattern(200_000, 3);
    const client = connect({ port: portOf(server), host: "127.0.0.1", encryption: clientEncryption });
    const failed = nextEvent<[NodeJS.ErrnoException]>(client, "error").then(([e]) => ({ error: e }));
    const echoed = (async () => {
      await nextEvent(client, "connect");
      client.end(data);
      return { echoed: await readAll(client), client };
    })();
    const r = await Promise.race([failed, echoed]);
    if ("echoed" in r) assert.ok(r.echoed.equals(data), "echoed byte for byte");
    return r;
  } finally {
    await closeServer(server);
  }
}

describe("encryption option", () => {
  test("pre-shared key, pinned server key and allow-list all carry data both ways", { timeout: 20_000 }, async () => {
    const setups: [unknown, unknown][] = [
      [{ psk }, { psk: encodeKey(psk) }],
      [{ keyPair: serverKeys }, { peerKey: encodeKey(serverKeys.publicKey) }],
      [
        { keyPair: { privateKey: encodeKey(serverKeys.privateKey) }, allow: [encodeKey(clientKeys.publicKey)] },
        { peerKey: serverKeys.publicKey, keyPair: clientKeys },
      ],
    ];
    for (const [s, c] of setups) {
      const r = await echoThrough(s as never, c as never);
      assert.equal(r.error, undefined, r.error?.message);
      const st = r.client?.stats();
      assert.equal(st?.authFailures, 0);
    }
  });

  test("failed handshakes reject the connect with their codes", { timeout: 20_000 }, async () => {
    const cases: [unknown, unknown, string][] = [
      [{ psk }, { psk: new Uint8Array(32) }, "ERR_RUDP_AUTH_FAILED"],
      [{ keyPair: generateKeyPair() }, { peerKey: serverKeys.publicKey }, "ERR_RUDP_AUTH_FAILED"],
      [
        { keyPair: serverKeys, allow: [clientKeys.publicKey] },
        { peerKey: serverKeys.publicKey, keyPair: generateKeyPair() },
        "ERR_RUDP_NOT_ALLOWED",
      ],
      [{ psk }, undefined, "ERR_RUDP_ENCRYPTION_REQUIRED"],
      [undefined, { psk }, "ERR_RUDP_ENCRYPTION_UNSUPPORTED"],
    ];
    for (const [s, c, code] of cases) {
      const r = await echoThrough(s as never, c as never);
      assert.equal(r.error?.code, code);
      assert.equal((r.error as { syscall?: string }).syscall, "connect");
      for (const k of [psk, serverKeys.privateKey, clientKeys.privateKey])
        assert.ok(!r.error?.message.includes(encodeKey(k)), "no key in the message");
    }
  });

  test("bad keys are argument errors that do not echo the key", () => {
    const secret = `${encodeKey(serverKeys.privateKey).slice(0, 40)}!!!`;
    assert.throws(
      () => connect({ port: 9, host: "127.0.0.1", encryption: { peerKey: secret } }),
      (e: NodeJS.ErrnoException) => e.code === "ERR_INVALID_ARG_VALUE" && !e.message.includes(secret.slice(0, 20)),
    );
    assert.throws(() => connect({ port: 9, encryption: { psk: new Uint8Array(31) } }), {
      code: "ERR_INVALID_ARG_VALUE",
    });
    assert.throws(() => connect({ port: 9, encryption: {} }), { code: "ERR_INVALID_ARG_VALUE" });
    assert.throws(() => connect({ port: 9, encryption: { psk, peerKey: serverKeys.publicKey } }), {
      code: "ERR_INVALID_ARG_VALUE",
    });
    assert.throws(
      () =>
        connect({
          port: 9,
          encryption: {
            peerKey: serverKeys.publicKey,
            keyPair: { privateKey: clientKeys.privateKey, publicKey: serverKeys.publicKey },
          },
        }),
      { code: "ERR_INVALID_ARG_VALUE" },
    );
  });
});
