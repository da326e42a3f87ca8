// Streamer over real loopback UDP: peer-to-peer connect, ordered whole messages both ways, close and misuse.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Streamer } from "../../src/compat/index.js";
import { createServer, type Socket } from "../../src/index.js";
import { freeUdpPort, payload, within } from "./helpers.js";

const HOST = "127.0.0.1";

async function pair(): Promise<[Streamer, Streamer]> {
  const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
  const a = new Streamer({ srcHost: HOST, srcPort: pa, dstHost: HOST, dstPort: pb });
  const b = new Streamer({ srcHost: HOST, srcPort: pb, dstHost: HOST, dstPort: pa });
  return [a, b];
}

test("two Streamers exchange numbered messages in both directions, in order", { timeout: 15_000 }, async () => {
  const [a, b] = await pair();
  await within(Promise.all([a.ready(), b.ready()]), 5000, "Streamers did not connect");
  const N = 500;
  for (let i = 1; i <= N; i++) {
    a.send(`a${i}`);
    b.send(`b${i}`);
  }
  const fromA: string[] = [];
  const fromB: string[] = [];
  for (let i = 1; i <= N; i++) {
    fromA.push((await b.recv()).toString());
    fromB.push((await a.recv()).toString());
  }
  assert.deepEqual(
    fromA,
    Array.from({ length: N }, (_, i) => `a${i + 1}`),
  );
  assert.deepEqual(
    fromB,
    Array.from({ length: N }, (_, i) => `b${i + 1}`),
  );
  await within(Promise.all([a.close(), b.close()]), 5000, "close did not finish");
});

test("Streamer keeps message boundaries: empty, small and multi-MiB messages", { timeout: 20_000 }, async () => {
  const [a, b] = await pair();
  const sizes = [0, 1, 1199, 1200, 65_536, 3 * 1024 * 1024, 0, 7];
  const sent = sizes.map((n) => payload(n));
  for (const m of sent) a.send(m); // queued before the connection is up
  const got: Buffer[] = [];
  for (let i = 0; i < sent.length; i++) got.push(await b.recv());
  assert.equal(got.length, sent.length);
  for (let i = 0; i < sent.length; i++) assert.ok(got[i].equals(sent[i]), `message ${i} (${sizes[i]} bytes) differs`);
  await Promise.all([a.close(), b.close()]);
});

test("concurrent recv() calls resolve in message order", { timeout: 10_000 }, async () => {
  const [a, b] = await pair();
  const pending = [b.recv(), b.recv(), b.recv()];
  a.send("one");
  a.send("two");
  a.send("three");
  assert.deepEqual((await Promise.all(pending)).map(String), ["one", "two", "three"]);
  await Promise.all([a.close(), b.close()]);
});

test("a Streamer started later still connects (the first one's SYN is retransmitted)", {
  timeout: 10_000,
}, async () => {
  const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
  const a = new Streamer({ srcHost: HOST, srcPort: pa, dstHost: HOST, dstPort: pb });
  a.send("early");
  await sleep(300);
  const b = new Streamer({ srcHost: HOST, srcPort: pb, dstHost: HOST, dstPort: pa });
  assert.equal((await within(b.recv(), 5000)).toString(), "early");
  b.send("reply");
  assert.equal((await a.recv()).toString(), "reply");
  await Promise.all([a.close(), b.close()]);
});

test("close() delivers everything sent first; the peer drains, then recv() rejects", { timeout: 10_000 }, async () => {
  const [a, b] = await pair();
  for (let i = 0; i < 100; i++) a.send(String(i));
  await a.close(); // acknowledged + FINs exchanged: b's side closed too
  const got: string[] = [];
  for (let i = 0; i < 100; i++) got.push((await b.recv()).toString());
  assert.deepEqual(
    got,
    Array.from({ length: 100 }, (_, i) => String(i)),
  );
  await assert.rejects(b.recv(), { code: "ERR_SOCKET_CLOSED" });
  assert.throws(() => b.send("too late"), { code: "EPIPE" });
  await b.close();
});

test("Streamers bound to every address (dual stack) and dialing by name connect too", { timeout: 10_000 }, async () => {
  const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
  const a = new Streamer({ srcPort: pa, dstHost: "localhost", dstPort: pb });
  const b = new Streamer({ srcPort: pb, dstHost: HOST, dstPort: pa });
  a.send("to b");
  b.send("to a");
  assert.equal((await within(b.recv(), 5000)).toString(), "to b");
  assert.equal((await a.recv()).toString(), "to a");
  assert.equal(a.address()?.[1], pa);
  await Promise.all([a.close(), b.close()]);
});

test("a Streamer connects to a plain rudp server (and the server sees one connection)", {
  timeout: 10_000,
}, async () => {
  const server = createServer();
  const sockets: Socket[] = [];
  server.on("connection", (s: Socket) => {
    sockets.push(s);
    s.on("message", (m: Buffer) => s.sendMessage(Buffer.concat([Buffer.from("echo:"), m])));
    s.resume();
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const port = (server.address() as { port: number }).port;
  const st = new Streamer({ srcHost: HOST, srcPort: 0, dstHost: HOST, dstPort: port });
  st.send("hi");
  assert.equal((await st.recv()).toString(), "echo:hi");
  assert.equal(sockets.length, 1);
  await st.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test("Streamer misuse throws or rejects with codes", { timeout: 10_000 }, async () => {
  assert.throws(() => new Streamer(null as never), { code: "ERR_INVALID_ARG_TYPE" });
  assert.throws(() => new Streamer({ dstHost: HOST } as never), { code: "ERR_INVALID_ARG_TYPE" });
  assert.throws(() => new Streamer({ dstHost: HOST, dstPort: 70_000 }), { code: "ERR_OUT_OF_RANGE" });
  assert.throws(() => new Streamer({ dstHost: HOST, dstPort: 9, maxPacketSize: 1 }), { code: "ERR_OUT_OF_RANGE" });
  const [a, b] = await pair();
  assert.throws(() => a.send(42 as never), { code: "ERR_INVALID_ARG_TYPE" });
  assert.throws(() => a.stats(), { code: "ERR_SOCKET_NOT_CONNECTED" });
  await Promise.all([a.ready(), b.ready()]);
  assert.equal(a.stats().state, "ESTABLISHED");
  await Promise.all([a.close(), b.close()]);
  assert.throws(() => a.send("late"), { code: "ERR_SOCKET_CLOSED" });
  await assert.rejects(a.recv(), { code: "ERR_SOCKET_CLOSED" });
  await a.close(); // idempotent
});

test("close() before the peer appears, with nothing sent, gives up at once", { timeout: 5000 }, async () => {
  const dst = await freeUdpPort();
  const s = new Streamer({ srcHost: HOST, srcPort: 0, dstHost: HOST, dstPort: dst });
  await sleep(20);
  await within(s.close(), 1000);
  await assert.rejects(s.ready(), { code: "ERR_SOCKET_CLOSED" });
});

test("a Streamer whose src port is taken fails ready() with EADDRINUSE", { timeout: 5000 }, async () => {
  const [pa, pb] = [await freeUdpPort(), await freeUdpPort()];
  const a = new Streamer({ srcHost: HOST, srcPort: pa, dstHost: HOST, dstPort: pb });
  const clash = new Streamer({ srcHost: HOST, srcPort: pa, dstHost: HOST, dstPort: pb });
  await assert.rejects(clash.ready(), { code: "EADDRINUSE" });
  await clash.close();
  await a.close();
});
