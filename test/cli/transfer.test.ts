/** `rudp send` / `rudp recv`: byte-exact transfers (also through `rudp proxy` at 10% loss), verification failures, progress and tracing. */

import assert from "node:assert/strict";
import { closeSync, openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { connect, createServer, type Socket } from "../../src/index.js";
import { freeUdpPort, interrupt, killAll, randomFile, rudp, runRudp, tempDir } from "./helpers.js";

after(killAll);

test("send | proxy at 10% loss | recv > OUT delivers every byte, with plain progress lines", {
  timeout: 60_000,
}, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const input = randomFile(join(dir, "in.bin"), 2 * 1024 * 1024);
    const [recvPort, proxyPort] = [await freeUdpPort(), await freeUdpPort()];
    const outPath = join(dir, "out.bin");
    const outFd = openSync(outPath, "w");
    const recv = rudp(["recv", String(recvPort), "--host", "127.0.0.1"], { stdout: outFd });
    closeSync(outFd);
    const proxy = rudp([
      "proxy",
      "--listen",
      `127.0.0.1:${proxyPort}`,
      "--to",
      `127.0.0.1:${recvPort}`,
      "--loss",
      "10%",
      "--seed",
      "7",
    ]);
    await Promise.all([recv.waitForStderr(/listening on/), proxy.waitForStderr(/seed 7/)]);
    const send = await runRudp([
      "send",
      "--progress=plain",
      "--interval",
      "200ms",
      join(dir, "in.bin"),
      "127.0.0.1",
      String(proxyPort),
    ]);
    const received = await recv.exited;
    const proxied = await interrupt(proxy);
    assert.equal(send.code, 0, send.stderr);
    assert.equal(received.code, 0, received.stderr);
    assert.ok(readFileSync(outPath).equals(input), "the output is byte-identical");
    // Plain progress lines and the summary, without terminal escape codes.
    assert.match(send.stderr, /^rudp send: [\d.]+ [KM]iB of 2\.0 MiB, \d+%, /m);
    assert.match(send.stderr, /^rudp send: sent 2\.0 MiB \(2097152 bytes\) in [\d.]+ s$/m);
    assert.match(send.stderr, /^ {2}loss seen +[\d.]+% \(\d+ retransmits \/ \d+ segments\)$/m);
    assert.match(send.stderr, /^ {2}rtt +srtt [\d.]+ ms/m);
    assert.match(send.stderr, /confirmed by the receiver/);
    assert.ok(!(send.stderr + received.stderr).includes("\u001b["), "no escape codes");
    assert.match(received.stderr, /rudp recv: received 2\.0 MiB \(2097152 bytes\)/);
    assert.match(received.stderr, /matches the sender's/);
    const retransmits = Number(/retransmissions {2}(\d+)/.exec(send.stderr)?.[1]);
    assert.ok(retransmits > 0, "10% loss caused retransmissions");
    // The proxy's counters, printed on exit.
    assert.equal(proxied.code, 0, proxied.stderr);
    assert.match(proxied.stderr, /client->server +\d+ +\d+ +[1-9]\d* /);
  } finally {
    killAll();
    cleanup();
  }
});

test("send from stdin with --trace and --trace-json; recv -o FILE", { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  try {
    const port = await freeUdpPort();
    const outPath = join(dir, "out.bin");
    const jsonPath = join(dir, "trace.jsonl");
    const recv = rudp(["recv", String(port), "--host", "127.0.0.1", "-o", outPath, "--trace-json", jsonPath]);
    await recv.waitForStderr(/listening on/);
    const send = rudp(["send", "--trace", "127.0.0.1", String(port)], { stdin: "pipe" });
    const input = Buffer.alloc(300_000, "rudp ");
    send.child.stdin?.end(input);
    const [sent, received] = await Promise.all([send.exited, recv.exited]);
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(received.code, 0, received.stderr);
    assert.ok(readFileSync(outPath).equals(input));
    // One line per packet event: SEND|RECV <seq> <ack> <conn> <FLAGS>.
    assert.match(sent.stderr, /^SEND - - [0-9a-f]{8} SYN$/m);
    assert.match(sent.stderr, /^RECV - \d+ [0-9a-f]{8} SYN\|ACK$/m);
    // Data carries an ACK section only while one is owed or the handshake may be unconfirmed (PROTOCOL §2.12).
    assert.match(sent.stderr, /^SEND \d+ \d+ [0-9a-f]{8} ACK\|DATA(\|MSG\|MSG_END)?$/m);
    assert.match(sent.stderr, /^SEND \d+ (\d+|-) [0-9a-f]{8} (ACK\|)?DATA\|MSG\|MSG_END$/m);
    // Acknowledgements come back alone or with other flags (path MTU probes and responses share packets).
    assert.match(sent.stderr, /^RECV - \d+ [0-9a-f]{8} ACK(\|[A-Z_|]+)?$/m);
    // Once the receiver has answered, data goes without an ACK section (nothing flows back to acknowledge).
    assert.match(sent.stderr, /^SEND \d+ - [0-9a-f]{8} DATA$/m);
    assert.match(sent.stderr, /^SEND \d+ (\d+|-) [0-9a-f]{8} (ACK\|)?DATA\|FIN$/m);
    const events = readFileSync(jsonPath, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(events.length > 20);
    assert.ok(events.some((e) => e.event === "recv" && (e.flags as string[]).includes("DATA")));
    const sample = events.find((e) => e.event === "send" && e.srtt !== undefined) as Record<string, unknown>;
    assert.equal(typeof sample.time, "number");
    assert.equal(typeof sample.cwnd, "number");
    assert.match(String(sample.peer), /^127\.0\.0\.1:\d+$/);
  } finally {
    killAll();
    cleanup();
  }
});

/** Plays a sender whose trailer hash is wrong; resolves with the receiver's reply. */
async function badSender(port: number, data: Buffer): Promise<string> {
  const socket: Socket = connect({ port, host: "127.0.0.1", allowHalfOpen: true });
  const replies: string[] = [];
  socket.on("message", (m: Buffer) => replies.push(String(m)));
  socket.on("error", () => {});
  socket.resume();
  socket.sendMessage(
    Buffer.from(JSON.stringify({ type: "header", protocol: "rudp-transfer/1", name: "x", size: data.length })),
  );
  socket.write(data);
  socket.sendMessage(Buffer.from(JSON.stringify({ type: "trailer", sha256: "00".repeat(32), size: data.length })));
  socket.end();
  await new Promise((r) => socket.once("close", r));
  return replies.join("\n");
}

test("recv rejects a transfer whose SHA-256 does not match, exits 1 and tells the sender", {
  timeout: 60_000,
}, async () => {
  try {
    const port = await freeUdpPort();
    const recv = rudp(["recv", String(port), "--host", "127.0.0.1"]);
    await recv.waitForStderr(/listening on/);
    const reply = await badSender(port, Buffer.alloc(50_000, 7));
    const r = await recv.exited;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /FAILED: SHA-256 mismatch/);
    assert.match(reply, /"type":"error".*SHA-256 mismatch/);
  } finally {
    killAll();
  }
});

test("send exits 1 when the receiver rejects the transfer or nobody listens", { timeout: 60_000 }, async () => {
  const { dir, cleanup } = tempDir();
  const server = createServer({ allowHalfOpen: true }, (socket: Socket) => {
    socket.on("error", () => {});
    socket.on("message", () => {}); // unread messages would hold back 'end'
    socket.resume();
    socket.on("end", () => {
      socket.sendMessage(Buffer.from(JSON.stringify({ type: "error", message: "disk full" })));
      socket.end();
    });
  });
  try {
    randomFile(join(dir, "in.bin"), 10_000);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as { port: number }).port;
    const rejected = await runRudp(["send", join(dir, "in.bin"), "127.0.0.1", String(port)]);
    assert.equal(rejected.code, 1, rejected.stderr);
    assert.match(rejected.stderr, /the receiver rejected the transfer: disk full/);
    const refused = await runRudp(["send", join(dir, "in.bin"), "127.0.0.1", String(await freeUdpPort())]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /connection refused/);
  } finally {
    server.close();
    killAll();
    cleanup();
  }
});
