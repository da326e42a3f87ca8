// TCPSocket over real loopback UDP: options reaching the transport, bind/listen/accept/connect, streams, EOF, misuse.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RudpSocket, TCPSocket, tcpTransportOptions } from "../../src/compat/index.js";
import { DEFAULT_CONFIG } from "../../src/core/config.js";
import { MS, SECOND } from "../../src/core/time.js";
import { DATA_PACKET_OVERHEAD } from "../../src/core/wire/packet.js";
import { freeUdpPort, payload, receiveAll, receiveExactly, silentUdp, within } from "./helpers.js";

const HOST = "127.0.0.1";

async function listener(options = {}): Promise<[TCPSocket, number]> {
  const l = new TCPSocket(options);
  l.bind([HOST, 0]);
  await l.listen(8);
  return [l, l.getsockname()[1]];
}

test("options map onto transport options", { timeout: 5000 }, () => {
  assert.deepEqual(tcpTransportOptions({}), {});
  assert.deepEqual(
    tcpTransportOptions({ MSS: 500, WINDOW_SIZE: 65_536, TIMEOUT: 0.5, MAX_RETRIES: 4, FAST_RETRANSMIT_THRESHOLD: 2 }),
    {
      maxPacketSize: 500 + DATA_PACKET_OVERHEAD,
      maxProbePacketSize: 0,
      receiveWindow: 65_536,
      initialRto: 0.5 * SECOND,
      maxRetransmissions: 4,
      maxSynRetransmissions: 4,
      fastRetransmitThreshold: 2,
    },
  );
  // A TIMEOUT below the default minimum RTO lowers the minimum too.
  assert.deepEqual(tcpTransportOptions({ TIMEOUT: 0.05 }), { initialRto: 50 * MS, minRto: 50 * MS });
  assert.ok(DEFAULT_CONFIG.minRto > 50 * MS);
  assert.equal(new TCPSocket({ MSS: 800 }).transport.maxPacketSize, 800 + DATA_PACKET_OVERHEAD);
  assert.equal(RudpSocket, TCPSocket);
});

test("MSS, WINDOW_SIZE and TIMEOUT reach both ends of the connection (stats())", { timeout: 10_000 }, async () => {
  const options = { MSS: 600, WINDOW_SIZE: 64 * 1024, TIMEOUT: 0.05 };
  const [l, port] = await listener(options);
  const client = new TCPSocket(options);
  await client.connect([HOST, port]);
  const [conn] = await l.accept();
  for (const s of [client, conn]) {
    const st = s.stats();
    assert.equal(st.mss, 600);
    assert.equal(st.localWindow, 64 * 1024);
    assert.ok(st.rto < DEFAULT_CONFIG.minRto, `rto ${st.rto} µs is bounded by the lowered minRto`);
  }
  const data = payload(200_000);
  await client.send(data);
  assert.ok((await receiveExactly((n) => conn.receive(n), data.length)).equals(data));
  const st = client.stats();
  assert.ok(st.segmentsSent >= Math.ceil(data.length / 600), `${st.segmentsSent} segments of <= 600 bytes`);
  await Promise.all([client.close(), conn.close()]);
  await l.close();
});

test("TIMEOUT and MAX_RETRIES bound the handshake against a silent peer", { timeout: 10_000 }, async () => {
  const silent = await silentUdp();
  const client = new TCPSocket({ TIMEOUT: 0.05, MAX_RETRIES: 2 });
  const t0 = Date.now();
  await assert.rejects(within(client.connect([HOST, silent.port]), 5000), { code: "ETIMEDOUT" });
  const elapsed = Date.now() - t0;
  assert.ok(elapsed < 2000, `gave up after ${elapsed} ms (50 + 100 + 200 ms of SYN timeouts expected)`);
  await client.close();
  await silent.close();
});

test("bind/listen/accept/connect: accept gives [connection, [host, port]]; data both ways; EOF", {
  timeout: 10_000,
}, async () => {
  const [l, port] = await listener();
  const localPort = await freeUdpPort();
  const client = new TCPSocket();
  client.bind([HOST, localPort]);
  await client.connect([HOST, port]);
  const [conn, addr] = await l.accept();
  assert.deepEqual(addr, [HOST, localPort]);
  assert.deepEqual(client.getsockname(), [HOST, localPort]);
  assert.deepEqual(client.getpeername(), [HOST, port]);
  assert.equal(await client.send("hello"), 5);
  assert.equal((await conn.receive(3)).toString(), "hel");
  assert.equal((await conn.receive(100)).toString(), "lo");
  assert.equal(await conn.send(Buffer.from("world")), 5);
  assert.equal((await client.receive(100)).toString(), "world");
  const closing = client.close();
  assert.equal((await conn.receive(100)).length, 0);
  assert.equal((await conn.receive(100)).length, 0);
  await conn.close();
  await closing;
  await l.close();
});

test("a few MiB through a small-MSS connection, echoed back", { timeout: 30_000 }, async () => {
  const options = { MSS: 1000, WINDOW_SIZE: 256 * 1024 };
  const [l, port] = await listener(options);
  const data = payload(3 * 1024 * 1024);
  const echo = (async () => {
    const [conn] = await l.accept();
    for (;;) {
      const chunk = await conn.receive(32 * 1024);
      if (chunk.length === 0) break;
      await conn.send(chunk);
    }
    await conn.close();
  })();
  const client = new TCPSocket(options);
  await client.connect([HOST, port]);
  const reading = receiveExactly((n) => client.receive(n), data.length);
  for (let off = 0; off < data.length; off += 100_000) await client.send(data.subarray(off, off + 100_000));
  assert.ok((await reading).equals(data));
  await client.close();
  await echo;
  await l.close();
});

test("several clients queue for accept(); closing the listener keeps accepted connections", {
  timeout: 15_000,
}, async () => {
  const [l, port] = await listener();
  const clients = await Promise.all(
    Array.from({ length: 5 }, async (_, i) => {
      const c = new TCPSocket();
      await c.connect([HOST, port]);
      await c.send(`#${i}`);
      return c;
    }),
  );
  const accepted: TCPSocket[] = [];
  for (let i = 0; i < 5; i++) accepted.push((await within(l.accept(), 2000))[0]);
  await l.close();
  await assert.rejects(l.accept(), { code: "ERR_SOCKET_CLOSED" });
  const ids = await Promise.all(accepted.map(async (c) => (await c.receive(10)).toString()));
  assert.deepEqual([...ids].sort(), ["#0", "#1", "#2", "#3", "#4"]);
  for (const [i, c] of accepted.entries()) await c.send(`re${ids[i]}`);
  for (const [i, c] of clients.entries()) assert.equal((await c.receive(10)).toString(), `re#${i}`);
  await Promise.all(clients.map((c) => c.close()));
  for (const c of accepted) assert.equal((await receiveAll((n) => c.receive(n))).length, 0);
  await Promise.all(accepted.map((c) => c.close()));
});

test("misuse errors carry codes", { timeout: 10_000 }, async () => {
  assert.throws(() => new TCPSocket({ MSS: "big" as never }), { code: "ERR_INVALID_ARG_TYPE" });
  assert.throws(() => new TCPSocket({ MSS: 1 }), { code: "ERR_OUT_OF_RANGE" });
  assert.throws(() => new TCPSocket({ MAX_RETRIES: 0 }), { code: "ERR_OUT_OF_RANGE" });
  assert.throws(() => new TCPSocket({ MSS: 8000, WINDOW_SIZE: 4096 }), { code: "ERR_OUT_OF_RANGE" });
  const s = new TCPSocket();
  assert.throws(() => s.bind(["127.0.0.1"] as never), { code: "ERR_INVALID_ARG_TYPE" });
  assert.throws(() => s.bind([HOST, 70_000]), { code: "ERR_OUT_OF_RANGE" });
  await assert.rejects(s.connect("localhost:1" as never), { code: "ERR_INVALID_ARG_TYPE" });
  await assert.rejects(s.send("x"), { code: "ERR_SOCKET_NOT_CONNECTED" });
  await assert.rejects(s.receive(1), { code: "ERR_SOCKET_NOT_CONNECTED" });
  await assert.rejects(s.accept(), { code: "ERR_SERVER_NOT_RUNNING" });
  assert.throws(() => s.stats(), { code: "ERR_SOCKET_NOT_CONNECTED" });
  assert.throws(() => s.getpeername(), { code: "ERR_SOCKET_NOT_CONNECTED" });
  s.bind([HOST, 0]);
  assert.throws(() => s.bind([HOST, 0]), { code: "ERR_SOCKET_ALREADY_BOUND" });
  await assert.rejects(s.listen(-1), { code: "ERR_OUT_OF_RANGE" });
  await s.listen();
  await assert.rejects(s.listen(), { code: "ERR_SERVER_ALREADY_LISTEN" });
  await assert.rejects(s.connect([HOST, 9]), { code: "ERR_INVALID_STATE" });

  const client = new TCPSocket();
  await client.connect([HOST, s.getsockname()[1]]);
  const [conn] = await s.accept();
  await assert.rejects(client.connect([HOST, 9]), { code: "EISCONN" });
  await assert.rejects(client.listen(), { code: "ERR_INVALID_STATE" });
  await assert.rejects(client.send(null as never), { code: "ERR_INVALID_ARG_TYPE" });
  await assert.rejects(client.receive(0), { code: "ERR_OUT_OF_RANGE" });
  await assert.rejects(client.receive(1.5), { code: "ERR_INVALID_ARG_TYPE" });
  await Promise.all([client.close(), conn.close()]);
  await assert.rejects(client.send("x"), { code: "ERR_SOCKET_CLOSED" });
  await assert.rejects(client.receive(1), { code: "ERR_SOCKET_CLOSED" });
  await assert.rejects(client.connect([HOST, 9]), { code: "ERR_SOCKET_CLOSED" });
  await s.close();
  await assert.rejects(s.listen(), { code: "ERR_SOCKET_CLOSED" });
  await s.close(); // idempotent

  const refused = new TCPSocket();
  await assert.rejects(within(refused.connect([HOST, await freeUdpPort()]), 3000), { code: "ECONNREFUSED" });
  await refused.close();
});
