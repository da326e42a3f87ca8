/** Encryption in the CLI: `rudp keygen`, and --key-file, --peer-key, --allow, --psk-file, --plaintext-ok on every network command. */

import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { after, test } from "node:test";
import { parseKeyFile } from "../../src/runtime/key-file.js";
import { decodeKey, encodeKey } from "../../src/runtime/node-crypto.js";
import {
  type CliResult,
  freeTcpPort,
  freeUdpPort,
  interrupt,
  killAll,
  randomFile,
  rudp,
  runRudp,
  tempDir,
} from "./helpers.js";

after(killAll);

/** A key pair made by `rudp keygen -o`, with its public key also saved alone (as `keygen --public` prints it). */
interface Keys {
  file: string;
  publicFile: string;
  publicKey: string;
  privateKey: string;
}

/** Every private key and PSK the tests made: no output may contain one. */
const secrets: string[] = [];

function assertNoSecrets(...outputs: (string | Buffer)[]): void {
  for (const out of outputs) for (const s of secrets) assert.ok(!String(out).includes(s), "output holds a secret key");
}

async function keygen(dir: string, name: string): Promise<Keys> {
  const file = join(dir, `${name}.key`);
  const made = await runRudp(["keygen", "-o", file]);
  assert.equal(made.code, 0, made.stderr);
  const pair = parseKeyFile(readFileSync(file, "utf8"));
  const privateKey = encodeKey(pair.privateKey);
  secrets.push(privateKey);
  const shown = await runRudp(["keygen", "--public", file]);
  assert.equal(shown.code, 0, shown.stderr);
  const publicKey = String(shown.stdout).trim();
  assert.equal(publicKey, encodeKey(pair.publicKey));
  const publicFile = join(dir, `${name}.pub`);
  writeFileSync(publicFile, `${publicKey}\n`);
  assertNoSecrets(made.stderr, made.stdout, shown.stdout, shown.stderr);
  return { file, publicFile, publicKey, privateKey };
}

/** Runs `recv` on a free port with `recvArgs` until it listens; returns it and its port. */
async function startRecv(recvArgs: string[], outPath: string) {
  const port = await freeUdpPort();
  const recv = rudp(["recv", String(port), "--host", "127.0.0.1", "-o", outPath, ...recvArgs]);
  await recv.waitForStderr(/listening on/);
  return { recv, port };
}

test("keygen writes a private key file, refuses to overwrite it, and prints the public key", {
  timeout: 60_000,
}, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const file = join(dir, "server.key");
    const made = await runRudp(["keygen", "-o", file]);
    assert.equal(made.code, 0, made.stderr);
    const text = readFileSync(file, "utf8");
    const pair = parseKeyFile(text);
    secrets.push(encodeKey(pair.privateKey));
    if (process.platform !== "win32") assert.equal(statSync(file).mode & 0o777, 0o600, "readable by its owner only");
    assert.match(made.stderr, new RegExp(`^public: ${encodeKey(pair.publicKey)}$`, "m"));
    assert.equal(String(made.stdout), "", "nothing on stdout when writing a file");

    const again = await runRudp(["keygen", "-o", file]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already exists \(--force overwrites it\)/);
    assert.equal(readFileSync(file, "utf8"), text, "the existing file is untouched");

    const forced = await runRudp(["keygen", "-o", file, "--force"]);
    assert.equal(forced.code, 0, forced.stderr);
    const replaced = parseKeyFile(readFileSync(file, "utf8"));
    secrets.push(encodeKey(replaced.privateKey));
    assert.notEqual(encodeKey(replaced.privateKey), encodeKey(pair.privateKey));

    const shown = await runRudp(["keygen", "--public", file]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.equal(String(shown.stdout), `${encodeKey(replaced.publicKey)}\n`);

    // To stdout: a whole key file there, the public line on stderr.
    const printed = await runRudp(["keygen"]);
    assert.equal(printed.code, 0, printed.stderr);
    const printedPair = parseKeyFile(String(printed.stdout));
    assert.equal(printed.stderr, `public: ${encodeKey(printedPair.publicKey)}\n`);

    const pskFile = join(dir, "shared.psk");
    const psk = await runRudp(["keygen", "--psk", "-o", pskFile]);
    assert.equal(psk.code, 0, psk.stderr);
    const pskLine = /^psk: (\S+)$/m.exec(readFileSync(pskFile, "utf8"))?.[1] ?? "";
    assert.equal(decodeKey(pskLine).length, 32);
    secrets.push(pskLine);
    if (process.platform !== "win32") assert.equal(statSync(pskFile).mode & 0o777, 0o600);
    assertNoSecrets(made.stderr, again.stderr, forced.stderr, shown.stdout, psk.stderr, psk.stdout);
  } finally {
    cleanup();
  }
});

test("send --peer-key to recv --key-file: a byte-exact encrypted transfer; wrong or no key is refused", {
  timeout: 60_000,
}, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const [server, other] = await Promise.all([keygen(dir, "server"), keygen(dir, "other")]);
    const input = randomFile(join(dir, "in.bin"), 1024 * 1024);
    const outPath = join(dir, "out.bin");
    const { recv, port } = await startRecv(["--key-file", server.file], outPath);
    assert.match(recv.stderr(), new RegExp(`listening on .*\\(encrypted, public key ${server.publicKey}\\)`));

    // Refused handshakes leave recv listening for the right sender.
    const wrong = await runRudp([
      "send",
      join(dir, "in.bin"),
      "127.0.0.1",
      String(port),
      "--peer-key",
      other.publicKey,
    ]);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /ERR_RUDP_AUTH_FAILED: the encrypted handshake failed: .*--peer-key/);
    const plain = await runRudp(["send", join(dir, "in.bin"), "127.0.0.1", String(port)]);
    assert.equal(plain.code, 1, plain.stderr);
    assert.match(plain.stderr, /ERR_RUDP_ENCRYPTION_REQUIRED: the server accepts encrypted connections only/);
    await recv.waitForStderr(/refused \d+ encrypted handshakes? \(a wrong key or a plaintext client\)/);

    const sent = await runRudp([
      "send",
      join(dir, "in.bin"),
      "127.0.0.1",
      String(port),
      "--peer-key",
      server.publicFile,
    ]);
    const received = await recv.exited;
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(received.code, 0, received.stderr);
    assert.ok(readFileSync(outPath).equals(input), "the output is byte-identical");
    assert.match(sent.stderr, /^ {2}security {9}encrypted \(Noise NK, ChaCha20-Poly1305\), server key pinned$/m);
    assert.match(sent.stderr, /confirmed by the receiver/);
    assert.match(received.stderr, /^ {2}security {9}encrypted \(Noise NK, ChaCha20-Poly1305\)$/m);
    assert.match(received.stderr, /matches the sender's/);
    assertNoSecrets(wrong.stderr, plain.stderr, sent.stderr, received.stderr);
  } finally {
    killAll();
    cleanup();
  }
});

test("--psk-file on both sides encrypts with a pre-shared key; another key is refused", {
  timeout: 60_000,
}, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const [pskA, pskB] = [join(dir, "a.psk"), join(dir, "b.psk")];
    for (const f of [pskA, pskB]) {
      const r = await runRudp(["keygen", "--psk", "-o", f]);
      assert.equal(r.code, 0, r.stderr);
      secrets.push(/^psk: (\S+)$/m.exec(readFileSync(f, "utf8"))?.[1] ?? "");
    }
    const input = randomFile(join(dir, "in.bin"), 200_000);
    const outPath = join(dir, "out.bin");
    const { recv, port } = await startRecv(["--psk-file", pskA], outPath);
    const wrong = await runRudp(["send", join(dir, "in.bin"), "127.0.0.1", String(port), "--psk-file", pskB]);
    assert.equal(wrong.code, 1, wrong.stderr);
    assert.match(wrong.stderr, /ERR_RUDP_AUTH_FAILED/);
    const sent = await runRudp(["send", join(dir, "in.bin"), "127.0.0.1", String(port), "--psk-file", pskA]);
    const received = await recv.exited;
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(received.code, 0, received.stderr);
    assert.ok(readFileSync(outPath).equals(input));
    assert.match(sent.stderr, /security {9}encrypted \(Noise NNpsk0, ChaCha20-Poly1305\), pre-shared key/);
    assert.match(received.stderr, /security {9}encrypted \(Noise NNpsk0, ChaCha20-Poly1305\), pre-shared key/);
    assertNoSecrets(recv.stderr(), wrong.stderr, sent.stderr, received.stderr);
  } finally {
    killAll();
    cleanup();
  }
});

test("--allow admits only listed client keys (ERR_RUDP_NOT_ALLOWED otherwise)", { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const [server, client, other, stranger] = await Promise.all(
      ["server", "client", "other", "stranger"].map((n) => keygen(dir, n)),
    );
    // A file with one public key per line (and a comment), plus one key given inline.
    const allowFile = join(dir, "allowed.txt");
    writeFileSync(allowFile, `# clients\n${client.publicKey}\n`);
    randomFile(join(dir, "in.bin"), 100_000);
    const outPath = join(dir, "out.bin");
    const { recv, port } = await startRecv(
      ["--key-file", server.file, "--allow", allowFile, "--allow", other.publicKey],
      outPath,
    );
    const send = (extra: string[]) =>
      runRudp(["send", join(dir, "in.bin"), "127.0.0.1", String(port), "--peer-key", server.publicKey, ...extra]);
    const unlisted = await send(["--key-file", stranger.file]);
    assert.equal(unlisted.code, 1, unlisted.stderr);
    assert.match(unlisted.stderr, /ERR_RUDP_NOT_ALLOWED: the server admits only the clients on its --allow list/);
    const anonymous = await send([]);
    assert.equal(anonymous.code, 1, anonymous.stderr);
    assert.match(anonymous.stderr, /ERR_RUDP_NOT_ALLOWED/);
    await recv.waitForStderr(/refused \d+ encrypted handshakes? \(.*a client not on --allow/);
    const listed = await send(["--key-file", client.file]);
    const received = await recv.exited;
    assert.equal(listed.code, 0, listed.stderr);
    assert.equal(received.code, 0, received.stderr);
    assert.match(listed.stderr, /security {9}encrypted \(Noise IK, ChaCha20-Poly1305\), server key pinned, client key/);
    assert.match(received.stderr, /security {9}encrypted \(Noise IK, ChaCha20-Poly1305\), client key on --allow/);
    assertNoSecrets(unlisted.stderr, anonymous.stderr, listed.stderr, received.stderr);
  } finally {
    killAll();
    cleanup();
  }
});

test("recv --plaintext-ok takes plaintext and encrypted senders and says which each was", {
  timeout: 60_000,
}, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const server = await keygen(dir, "server");
    const a = randomFile(join(dir, "a.bin"), 100_000);
    const b = randomFile(join(dir, "b.bin"), 100_000);
    const outDir = join(dir, "received");
    mkdirSync(outDir);
    const { recv, port } = await startRecv(["--key-file", server.file, "--plaintext-ok", "--keep-listening"], outDir);
    assert.match(recv.stderr(), /\(encrypted or plaintext, public key /);
    const plain = await runRudp(["send", join(dir, "a.bin"), "127.0.0.1", String(port)]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /security {9}plaintext \(not encrypted\)/);
    await recv.waitForStderr(/security {9}plaintext \(the client did not encrypt; --plaintext-ok\)/);
    const enc = await runRudp(["send", join(dir, "b.bin"), "127.0.0.1", String(port), "--peer-key", server.publicKey]);
    assert.equal(enc.code, 0, enc.stderr);
    await recv.waitForStderr(/security {9}encrypted \(Noise NK/);
    const stopped = await interrupt(recv);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.ok(readFileSync(join(outDir, "a.bin")).equals(a));
    assert.ok(readFileSync(join(outDir, "b.bin")).equals(b));
    assertNoSecrets(plain.stderr, enc.stderr, stopped.stderr);
  } finally {
    killAll();
    cleanup();
  }
});

test("echo-server --key-file and echo --peer-key: an encrypted round trip", { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const server = await keygen(dir, "server");
    const port = await freeUdpPort();
    const echoServer = rudp(["echo-server", String(port), "--host", "127.0.0.1", "--key-file", server.file]);
    await echoServer.waitForStderr(/listening on .*\(encrypted, public key /);
    const input = Array.from({ length: 500 }, (_, i) => `line ${i} ${"x".repeat(i % 40)}\n`).join("");
    const client = rudp(["echo", "127.0.0.1", String(port), "--peer-key", server.publicFile], { stdin: "pipe" });
    client.child.stdin?.end(input);
    const r = await client.exited;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(String(r.stdout), input);
    assert.match(
      r.stderr,
      /connected to 127\.0\.0\.1:\d+, encrypted \(Noise NK, ChaCha20-Poly1305\), server key pinned/,
    );
    await echoServer.waitForStderr(/connected, encrypted \(Noise NK, ChaCha20-Poly1305\)/);
    // A plaintext echo client is refused.
    const plain = await runRudp(["echo", "127.0.0.1", String(port)], { stdin: "ignore" });
    assert.equal(plain.code, 1, plain.stderr);
    assert.match(plain.stderr, /ERR_RUDP_ENCRYPTION_REQUIRED/);
    const stopped = await interrupt(echoServer);
    assert.equal(stopped.code, 0, stopped.stderr);
    assertNoSecrets(r.stderr, plain.stderr, stopped.stderr);
  } finally {
    killAll();
    cleanup();
  }
});

/** Connects to a TCP port, writes `data`, half-closes and resolves with everything read, or the error. */
function tcpRoundTrip(port: number, data: Buffer): Promise<Buffer | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const parts: Buffer[] = [];
    s.on("data", (d: Buffer) => parts.push(d));
    s.on("end", () => {
      s.end();
      resolve(Buffer.concat(parts));
    });
    s.on("error", (err) => resolve(err));
    s.end(data);
  });
}

test("tunnel server --key-file / tunnel client --peer-key carry a TCP echo encrypted", {
  timeout: 60_000,
}, async () => {
  const { dir, cleanup } = tempDir();
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    const parts: Buffer[] = [];
    s.on("data", (d: Buffer) => parts.push(d));
    s.on("end", () => s.end(Buffer.concat(parts)));
    s.on("error", () => {});
  });
  try {
    const [server, other] = await Promise.all([keygen(dir, "server"), keygen(dir, "other")]);
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    const echoPort = (echo.address() as net.AddressInfo).port;
    const [udp, tcp, badTcp] = [await freeUdpPort(), await freeTcpPort(), await freeTcpPort()];
    const tServer = rudp([
      "tunnel",
      "server",
      "--listen",
      `127.0.0.1:${udp}`,
      "--to",
      `127.0.0.1:${echoPort}`,
      "--key-file",
      server.file,
    ]);
    const good = rudp([
      "tunnel",
      "client",
      "--listen",
      `127.0.0.1:${tcp}`,
      "--to",
      `127.0.0.1:${udp}`,
      "--peer-key",
      server.publicKey,
    ]);
    const bad = rudp([
      "tunnel",
      "client",
      "--listen",
      `127.0.0.1:${badTcp}`,
      "--to",
      `127.0.0.1:${udp}`,
      "--peer-key",
      other.publicKey,
    ]);
    await Promise.all([
      tServer.waitForStderr(/listening on .*\(rudp, encrypted, public key /),
      good.waitForStderr(/listening on .*\(rudp, encrypted \(Noise NK/),
      bad.waitForStderr(/listening on/),
    ]);
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 13 + (i >> 9)) & 0xff;
    const back = await tcpRoundTrip(tcp, data);
    assert.ok(Buffer.isBuffer(back) && back.equals(data), "the echo came back through the encrypted tunnel");
    await tServer.waitForStderr(/-> 127\.0\.0\.1:\d+ \(encrypted \(Noise NK, ChaCha20-Poly1305\)\)/);
    // The wrongly pinned client cannot open the rudp side: its TCP connection is reset.
    const refused = await tcpRoundTrip(badTcp, Buffer.from("hello"));
    assert.ok(!Buffer.isBuffer(refused) || refused.length === 0, "nothing comes back");
    await bad.waitForStderr(/ERR_RUDP_AUTH_FAILED/);
    const results: CliResult[] = await Promise.all([interrupt(tServer), interrupt(good), interrupt(bad)]);
    for (const r of results) assert.equal(r.code, 0, r.stderr);
    assertNoSecrets(...results.map((r) => r.stderr));
  } finally {
    killAll();
    echo.close();
    cleanup();
  }
});

test("bad encryption options exit 2 with a clear message that holds no key", { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const server = await keygen(dir, "server");
    const psk = join(dir, "shared.psk");
    assert.equal((await runRudp(["keygen", "--psk", "-o", psk])).code, 0);
    secrets.push(/^psk: (\S+)$/m.exec(readFileSync(psk, "utf8"))?.[1] ?? "");
    const garbled = join(dir, "garbled.key");
    writeFileSync(garbled, `private: ${server.privateKey.slice(0, 40)}\n`, { mode: 0o600 });
    const pub = server.publicKey;
    const send = ["send", join(dir, "server.key"), "127.0.0.1", "5000"];
    const cases: [string[], RegExp][] = [
      [[...send, "--allow", pub], /--allow is for servers/],
      [[...send, "--plaintext-ok"], /--plaintext-ok is for servers/],
      [[...send, "--psk-file", psk, "--peer-key", pub], /--psk-file cannot be combined with --peer-key/],
      [[...send, "--key-file", server.file], /--key-file on a client needs --peer-key/],
      [[...send, "--peer-key", "not-a-key"], /--peer-key: no such file "not-a-key"/],
      // A private key pasted by mistake, and a truncated one, are never echoed.
      [[...send, "--peer-key", server.privateKey.slice(0, 42)], /--peer-key: not a public key/],
      [[...send, "--peer-key", garbled], /--peer-key: .*line 1: the private key must be 32 bytes/],
      [["recv", "0", "--peer-key", pub], /--peer-key is for clients/],
      [["recv", "0", "--allow", pub], /--allow needs --key-file/],
      [["recv", "0", "--plaintext-ok"], /--plaintext-ok needs --key-file or --psk-file/],
      [["recv", "0", "--key-file", server.file, "--psk-file", psk, "--allow", pub], /--allow cannot be combined/],
      [["recv", "0", "--key-file", join(dir, "missing.key")], /--key-file: no such file/],
      [["recv", "0", "--key-file", psk], /--key-file: .* is not a key file/],
      [["recv", "0", "--key-file", garbled], /--key-file: .*line 1: the private key must be 32 bytes/],
      [["recv", "0", "--psk-file", server.file], /--psk-file: .* is a key pair file/],
      [["echo-server", "0", "--peer-key", pub], /--peer-key is for clients/],
      [["echo", "127.0.0.1", "7000", "--allow", pub], /--allow is for servers/],
      [["tunnel", "client", "--listen", "0", "--to", "127.0.0.1:9", "--allow", pub], /--allow is for servers/],
      [["tunnel", "server", "--listen", "0", "--to", "127.0.0.1:9", "--peer-key", pub], /--peer-key is for clients/],
      [["keygen", "--public", server.file, "-o", join(dir, "x")], /--public takes no other option/],
      [["keygen", "--public", psk], /holds a pre-shared key/],
    ];
    const results = await Promise.all(cases.map(([args]) => runRudp(args)));
    results.forEach((r, i) => {
      assert.equal(r.code, 2, `${cases[i][0].join(" ")}: ${r.stderr}`);
      assert.match(r.stderr, cases[i][1]);
      assert.match(r.stderr, /Run "rudp [a-z-]+ --help" for usage/);
      assert.ok(!r.stderr.includes(server.privateKey.slice(0, 40)), "no part of the private key is echoed");
    });
    assertNoSecrets(...results.map((r) => r.stderr));
  } finally {
    cleanup();
  }
});

test("rudp demo runs its transfer encrypted and removes its key afterwards", { timeout: 60_000 }, async () => {
  const p = rudp(["demo", "--size", "256KiB", "--loss", "0%"]);
  const r = await p.exited;
  const out = p.stdout().toString();
  assert.equal(r.code, 0, `${out}\n${p.stderr()}`);
  const keyFile = /"rudp recv --key-file (\S+)" holds a fresh key pair/.exec(out)?.[1];
  assert.ok(keyFile, out);
  assert.match(out, /^encrypted \(Noise NK, ChaCha20-Poly1305\): .*"rudp send --peer-key [A-Za-z0-9_-]{43}" pins/m);
  assert.match(out, /receiver:[\s\S]*security {9}encrypted \(Noise NK, ChaCha20-Poly1305\)/);
  assert.match(p.stderr(), /security {9}encrypted \(Noise NK, ChaCha20-Poly1305\), server key pinned/);
  assert.match(out, /^verified: the receiver's SHA-256 matches the sender's$/m);
  assert.ok(!existsSync(keyFile), "the demo's key file is gone");
});
