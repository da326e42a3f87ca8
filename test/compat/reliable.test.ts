// ReliableServer / ClientConnection / ReliableSocket over real loopback UDP: round trips, big streams, EOF, accept queueing, misuse.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type ClientConnection, ReliableServer, ReliableSocket } from "../../src/compat/index.js";
import { freeUdpPort, payload, receiveAll, receiveExactly, within } from "./helpers.js";

const HOST = "127.0.0.1";

async function startServer(): Promise<[ReliableServer, number]> {
  const server = new ReliableServer(HOST, 0);
  await server.listen();
  return [server, server.address()[1]];
}

test("round trip: request, response, EOF both ways", { timeout: 10_000 }, async () => {
  const [server, port] = await startServer();
  const client = new ReliableSocket(HOST, port);
  await client.connect();
  const conn = await server.accept();
  assert.equal(conn.address[1], client.address()[1]);
  assert.equal(await client.send("ping"), 4);
  assert.equal((await conn.receive(1024)).toString(), "ping");
  await conn.send(Buffer.from("pong"));
  assert.equal((await client.receive(1024)).toString(), "pong");
  const clientClosed = client.close(); // FIN: the server reads EOF
  assert.equal((await conn.receive(1024)).length, 0);
  assert.equal((await conn.receive(1024)).length, 0, "EOF repeats, as recv() returning b''");
  await conn.close();
  await clientClosed;
  await server.shutdown();
});

test("receive(bufsize) returns at most bufsize bytes, in order, and concurrent receives queue", {
  timeout: 10_000,
}, async () => {
  const [server, port] = await startServer();
  const client = new ReliableSocket(HOST, port);
  await client.connect();
  const conn = await server.accept();
  const data = payload(1000);
  await client.send(data);
  const parts: Buffer[] = [];
  let got = 0;
  while (got < data.length) {
    const chunk = await conn.receive(7);
    assert.ok(chunk.length >= 1 && chunk.length <= 7, `chunk of ${chunk.length}`);
    parts.push(chunk);
    got += chunk.length;
  }
  assert.ok(Buffer.concat(parts).equals(data));
  const pending = [client.receive(3), client.receive(3), client.receive(3)];
  await conn.send("abcdefghi");
  assert.deepEqual((await Promise.all(pending)).map(String), ["abc", "def", "ghi"]);
  await Promise.all([client.close(), conn.close()]);
  await server.shutdown();
});

test("a few MiB each way through receive loops", { timeout: 30_000 }, async () => {
  const [server, port] = await startServer();
  const up = payload(4 * 1024 * 1024);
  const down = payload(3 * 1024 * 1024 + 17);
  const serverSide = (async () => {
    const conn = await server.accept();
    const got = await receiveExactly((n) => conn.receive(n), up.length);
    for (let off = 0; off < down.length; off += 100_000) await conn.send(down.subarray(off, off + 100_000));
    assert.equal((await conn.receive(100)).length, 0, "the client closes after reading the reply");
    await conn.close();
    return got;
  })();
  const client = new ReliableSocket(HOST, port);
  await client.connect();
  for (let off = 0; off < up.length; off += 256 * 1024) await client.send(up.subarray(off, off + 256 * 1024));
  const reply = await receiveExactly((n) => client.receive(n), down.length);
  await client.close();
  assert.ok((await serverSide).equals(up));
  assert.ok(reply.equals(down));
  await server.shutdown();
});

test("receiving until EOF collects everything the peer sent before closing", { timeout: 10_000 }, async () => {
  const [server, port] = await startServer();
  const data = payload(1024 * 1024);
  const serverSide = (async () => {
    const conn = await server.accept();
    await conn.send(data);
    await conn.close(); // resolves once the client closed too
  })();
  const client = new ReliableSocket(HOST, port);
  await client.connect();
  const got = await receiveAll((n) => client.receive(n));
  assert.ok(got.equals(data));
  await client.close();
  await serverSide;
  await server.shutdown();
});

test("accept() queues connections that arrive first and resolves waiting accepts in order", {
  timeout: 15_000,
}, async () => {
  const [server, port] = await startServer();
  const waiting = [server.accept(), server.accept()];
  const clients: ReliableSocket[] = [];
  for (let i = 0; i < 6; i++) {
    const c = new ReliableSocket(HOST, port);
    await c.connect();
    await c.send(`client ${i}`);
    clients.push(c);
  }
  await sleep(50); // all six handshakes are done: four wait in the queue
  const conns: ClientConnection[] = [...(await Promise.all(waiting))];
  for (let i = 2; i < 6; i++) conns.push(await within(server.accept(), 2000));
  const names = await Promise.all(conns.map(async (c) => (await c.receive(100)).toString()));
  assert.deepEqual(
    names.sort(),
    Array.from({ length: 6 }, (_, i) => `client ${i}`),
  );
  for (const [i, c] of conns.entries()) await c.send(`hello ${names[i]}`);
  for (const [i, c] of clients.entries()) assert.equal((await c.receive(100)).toString(), `hello client ${i}`);
  await Promise.all([...clients.map((c) => c.close()), ...conns.map((c) => c.close())]);
  await server.shutdown();
});

test("shutdown() fails waiting accepts and resets connections never accepted", { timeout: 10_000 }, async () => {
  const [server, port] = await startServer();
  const client = new ReliableSocket(HOST, port);
  await client.connect();
  await sleep(20); // queued, never accepted
  const shutdown = server.shutdown();
  await assert.rejects(server.accept(), { code: "ERR_SERVER_NOT_RUNNING" });
  await shutdown;
  await assert.rejects(within(client.receive(10), 2000), { code: "ECONNRESET" });
  await client.close();
  const idle = new ReliableServer(HOST, 0);
  await idle.listen();
  const pending = idle.accept();
  await idle.shutdown();
  await assert.rejects(pending, { code: "ERR_SERVER_NOT_RUNNING" });
});

test("misuse errors carry codes", { timeout: 10_000 }, async () => {
  assert.throws(() => new ReliableServer(42 as never, 0), { code: "ERR_INVALID_ARG_TYPE" });
  assert.throws(() => new ReliableServer(HOST, -1), { code: "ERR_OUT_OF_RANGE" });
  assert.throws(() => new ReliableSocket(HOST, "x" as never), { code: "ERR_INVALID_ARG_TYPE" });
  const unlistened = new ReliableServer(HOST, 0);
  await assert.rejects(unlistened.accept(), { code: "ERR_SERVER_NOT_RUNNING" });
  await unlistened.shutdown();

  const [server, port] = await startServer();
  const client = new ReliableSocket(HOST, port);
  await assert.rejects(client.send("early"), { code: "ERR_SOCKET_NOT_CONNECTED" });
  await assert.rejects(client.receive(10), { code: "ERR_SOCKET_NOT_CONNECTED" });
  assert.throws(() => client.stats(), { code: "ERR_SOCKET_NOT_CONNECTED" });
  await client.connect();
  const conn = await server.accept();
  await assert.rejects(client.send(123 as never), { code: "ERR_INVALID_ARG_TYPE" });
  await assert.rejects(client.receive(0), { code: "ERR_OUT_OF_RANGE" });
  await assert.rejects(client.receive("10" as never), { code: "ERR_INVALID_ARG_TYPE" });
  assert.equal(client.stats().state, "ESTABLISHED");
  assert.equal(conn.stats().state, "ESTABLISHED");
  await Promise.all([client.close(), conn.close()]);
  await assert.rejects(client.send("late"), { code: "ERR_SOCKET_CLOSED" });
  await assert.rejects(client.receive(10), { code: "ERR_SOCKET_CLOSED" });
  await assert.rejects(conn.receive(10), { code: "ERR_SOCKET_CLOSED" });
  await assert.rejects(conn.send("late"), { code: "ERR_SOCKET_CLOSED" });
  await assert.rejects(client.connect(), { code: "ERR_SOCKET_CLOSED" });
  await server.shutdown();
  await assert.rejects(server.listen(), { code: "ERR_SOCKET_CLOSED" });
});

test("connect() to a port nobody listens on is refused", { timeout: 5000 }, async () => {
  const port = await freeUdpPort();
  const client = new ReliableSocket(HOST, port);
  await assert.rejects(within(client.connect(), 3000), { code: "ECONNREFUSED" });
  await client.close();
});

test("listen() on a port in use rejects with EADDRINUSE", { timeout: 5000 }, async () => {
  const [server, port] = await startServer();
  const clash = new ReliableServer(HOST, port);
  await assert.rejects(clash.listen(), { code: "EADDRINUSE" });
  await clash.shutdown();
  await server.shutdown();
});
