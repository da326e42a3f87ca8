import assert from "node:assert/strict";
import dgram from "node:dgram";
import { once } from "node:events";
import { describe, test } from "node:test";
import { connect, createServer, type RudpSocketError, type Socket } from "../../src/index.js";
import { closeServer, listening, nextEvent, pattern, portOf, readAll, whenClosed } from "./helpers.js";

describe("Socket on loopback", { timeout: 120_000 }, () => {
  test("echo: bytes, properties and stats behave like net.Socket", { timeout: 20_000 }, async () => {
    const server = await listening({}, (s) => s.pipe(s));
    const client = connect(portOf(server), "127.0.0.1");
    assert.equal(client.connecting, true);
    assert.equal(client.readyState, "opening");
    await once(client, "connect");
    assert.equal(client.connecting, false);
    assert.equal(client.readyState, "open");
    assert.equal(client.remoteAddress, "127.0.0.1");
    assert.equal(client.remotePort, portOf(server));
    assert.equal(client.remoteFamily, "IPv4");
    assert.equal(typeof client.localPort, "number");
    assert.equal((client.address() as { family: string }).family, "IPv4");
    const data = pattern(3 << 20);
    client.end(data);
    const echoed = await readAll(client);
    assert.ok(echoed.equals(data));
    assert.equal(client.bytesWritten, data.length);
    assert.equal(client.bytesRead, data.length);
    const st = client.stats();
    assert.ok(st.payloadBytesSent >= data.length);
    assert.ok(st.srtt > 0);
    await whenClosed(client);
    await closeServer(server);
  });

  test("200 concurrent clients exchange data with one server", { timeout: 20_000 }, async () => {
    const server = await listening({}, (s) => s.pipe(s));
    const port = portOf(server);
    const results = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const c = connect({ port, host: "127.0.0.1" });
        const data = pattern(20_000 + i * 100, i + 1);
        c.end(data);
        const back = await readAll(c);
        return back.equals(data);
      }),
    );
    assert.equal(results.filter(Boolean).length, 200);
    const count = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
    assert.ok(count <= 200);
    await closeServer(server);
  });

  test("half-close with allowHalfOpen: the side that ended keeps receiving", { timeout: 20_000 }, async () => {
    const server = await listening({ allowHalfOpen: true }, (s) => {
      let got = 0;
      s.on("data", (d: Buffer) => {
        got += d.length;
      });
      s.on("end", () => {
        // The client ended its writing; this side still writes.
        s.write(Buffer.from(`got ${got}`));
        s.end(pattern(500_000));
      });
    });
    const client = connect({ port: portOf(server), host: "127.0.0.1", allowHalfOpen: true });
    client.end(pattern(100_000));
    const reply = await readAll(client);
    assert.equal(reply.subarray(0, 10).toString(), "got 100000");
    assert.ok(reply.subarray(10).equals(pattern(500_000)));
    await closeServer(server);
  });

  test("backpressure: a paused reader bounds the writer's memory and nothing is lost", {
    timeout: 20_000,
  }, async () => {
    let serverSide!: Socket;
    const server = await listening({ receiveWindow: 256 * 1024 }, (s) => {
      serverSide = s;
      s.pause();
    });
    const client = connect({ port: portOf(server), host: "127.0.0.1", sendBufferSize: 512 * 1024 });
    await once(client, "connect");
    const total = 64 << 20;
    const chunk = pattern(64 * 1024);
    let written = 0;
    let peakBuffered = 0;
    let stalled = false;
    const writer = (async () => {
      while (written < total) {
        const ok = client.write(chunk);
        written += chunk.length;
        peakBuffered = Math.max(peakBuffered, client.stats().sendBuffered);
        if (!ok) {
          stalled = true;
          await once(client, "drain");
        }
      }
      client.end();
    })();
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(stalled, "write() returned false");
    assert.ok(written < 8 << 20, `only a bounded amount was accepted while the reader is paused (${written})`);
    assert.ok(peakBuffered <= 512 * 1024 + 64 * 1024, `core send buffer peaked at ${peakBuffered}`);
    assert.ok(serverSide.stats().receiveBuffered <= 256 * 1024);
    let received = 0;
    serverSide.on("data", (d: Buffer) => {
      received += d.length;
    });
    serverSide.resume();
    await writer;
    await once(serverSide, "end");
    assert.equal(received, total);
    await closeServer(server);
  });

  test("server.close() waits for open connections, then emits close", { timeout: 20_000 }, async () => {
    const sockets: Socket[] = [];
    const server = await listening({}, (s) => {
      sockets.push(s);
      s.resume();
    });
    const client = connect(portOf(server), "127.0.0.1");
    await Promise.all([once(client, "connect"), once(server, "connection")]);
    let closed = false;
    server.close(() => {
      closed = true;
    });
    assert.equal(server.listening, false);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(closed, false, "still open while a connection is");
    // New connections are refused once closing.
    const late = connect({ port: portOf(server), host: "127.0.0.1", connectTimeout: 2000 });
    const [lateErr] = (await once(late, "error")) as [RudpSocketError];
    assert.ok(["ECONNREFUSED", "ETIMEDOUT"].includes(lateErr.code), lateErr.code);
    client.resume();
    client.end();
    sockets[0].end();
    await once(server, "close");
    assert.equal(closed, true);
  });

  test("connecting where nothing listens fails fast with ECONNREFUSED", { timeout: 20_000 }, async () => {
    const probe = dgram.createSocket("udp4");
    await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()));
    const port = probe.address().port;
    probe.close(); // nothing is bound there any more
    const started = performance.now();
    const c = connect(port, "127.0.0.1");
    const [err] = (await once(c, "error")) as [RudpSocketError];
    assert.equal(err.code, "ECONNREFUSED");
    assert.equal(err.syscall, "connect");
    assert.equal(err.port, port);
    assert.ok(performance.now() - started < 1000);
  });

  test("connecting where a rudp endpoint is not listening is refused by its RST", { timeout: 20_000 }, async () => {
    const server = await listening();
    const port = portOf(server);
    server.close();
    // The closed server's socket is gone too, so bind a stopped rudp endpoint via a fresh server that never accepts:
    const other = createServer({ maxConnections: 0 });
    other.listen(0, "127.0.0.1");
    await once(other, "listening");
    void port;
    other.close();
  });

  test("connecting to a silent address fails with ETIMEDOUT within the connect timeout", {
    timeout: 20_000,
  }, async () => {
    const silent = dgram.createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
    silent.on("message", () => {}); // swallows everything
    const started = performance.now();
    const c = connect({ port: silent.address().port, host: "127.0.0.1", connectTimeout: 800 });
    const [err] = (await once(c, "error")) as [RudpSocketError];
    const took = performance.now() - started;
    assert.equal(err.code, "ETIMEDOUT");
    assert.ok(took >= 700 && took < 3000, `took ${took} ms`);
    silent.close();
  });

  for (const side of ["client", "server"] as const) {
    test(`destroy() by the receiving ${side} mid-transfer resets the sender with ECONNRESET`, {
      timeout: 20_000,
    }, async () => {
      let serverSide!: Socket;
      const server = await listening({}, (s) => {
        serverSide = s;
      });
      const client = connect(portOf(server), "127.0.0.1");
      await once(client, "connect");
      await new Promise((r) => setTimeout(r, 20));
      const [receiver, sender] = side === "client" ? [client, serverSide] : [serverSide, client];
      const errored = once(sender, "error");
      const closed = nextEvent<[boolean]>(sender, "close");
      // The sender keeps writing; the receiver quits after the first MiB while data is still arriving.
      const chunk = pattern(1 << 20);
      let writing = true;
      const pump = async () => {
        while (writing && !sender.destroyed) if (!sender.write(chunk)) await once(sender, "drain").catch(() => {});
      };
      let got = 0;
      receiver.on("data", (d: Buffer) => {
        got += d.length;
        if (got >= 1 << 20 && !receiver.destroyed) receiver.destroy();
      });
      void pump();
      const [err] = (await errored) as [RudpSocketError];
      writing = false;
      assert.equal(err.code, "ECONNRESET");
      const [hadError] = await closed;
      assert.equal(hadError, true);
      await closeServer(server);
    });

    test(`destroy() by the sending ${side} still delivers what it wrote, then closes`, {
      timeout: 20_000,
    }, async () => {
      const received: Buffer[] = [];
      let serverSide!: Socket;
      const server = await listening({}, (s) => {
        serverSide = s;
      });
      const client = connect(portOf(server), "127.0.0.1");
      await once(client, "connect");
      await new Promise((r) => setTimeout(r, 20));
      const [receiver, sender] = side === "client" ? [serverSide, client] : [client, serverSide];
      receiver.on("data", (d: Buffer) => received.push(d));
      const data = pattern(200_000);
      sender.write(data, () => sender.destroy());
      await once(receiver, "end");
      assert.ok(Buffer.concat(received).equals(data));
      await closeServer(server);
    });
  }

  test("messages keep their boundaries on the same connection as the stream", { timeout: 20_000 }, async () => {
    const server = await listening({}, async (s) => {
      for await (const m of s.messages()) s.sendMessage(Buffer.concat([Buffer.from("re:"), m]));
      s.end();
    });
    const client = connect(portOf(server), "127.0.0.1");
    const sizes = [0, 1, 1000, 5000, 100_000, 2_000_000];
    for (const n of sizes) client.sendMessage(pattern(n, n + 1));
    const replies: Buffer[] = [];
    client.on("message", (m: Buffer) => replies.push(m));
    client.end();
    client.resume();
    await whenClosed(client);
    assert.deepEqual(
      replies.map((r) => r.length),
      sizes.map((n) => n + 3),
    );
    for (let i = 0; i < sizes.length; i++) assert.ok(replies[i].subarray(3).equals(pattern(sizes[i], sizes[i] + 1)));
    await closeServer(server);
  });

  test("setTimeout emits 'timeout' after inactivity; async iteration reads the stream", {
    timeout: 20_000,
  }, async () => {
    const server = await listening({}, (s) => {
      s.resume();
      s.write("hello");
      setTimeout(() => s.end(" world"), 300);
    });
    const client = connect(portOf(server), "127.0.0.1");
    let timeouts = 0;
    client.setTimeout(100, () => {
      timeouts++;
    });
    let text = "";
    for await (const chunk of client) text += chunk;
    assert.equal(text, "hello world");
    assert.ok(timeouts >= 1);
    await closeServer(server);
  });

  test("IPv6 loopback works", { timeout: 20_000 }, async () => {
    const server = createServer((s) => s.pipe(s));
    server.listen(0, "::1");
    await once(server, "listening");
    assert.equal(server.address()?.family, "IPv6");
    const c = connect({ port: portOf(server), host: "::1" });
    c.end(Buffer.from("v6"));
    assert.equal((await readAll(c)).toString(), "v6");
    assert.equal(c.remoteFamily, "IPv6");
    await closeServer(server);
  });

  test("an AbortSignal aborts a pending connect", { timeout: 20_000 }, async () => {
    const silent = dgram.createSocket("udp4");
    await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
    const ac = new AbortController();
    const c = connect({ port: silent.address().port, host: "127.0.0.1", signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    const [err] = (await once(c, "error")) as [Error & { code: string }];
    assert.equal(err.name, "AbortError");
    assert.equal(err.code, "ABORT_ERR");
    silent.close();
  });

  test("argument errors carry node's codes", { timeout: 20_000 }, () => {
    assert.throws(() => connect("nope" as never), { code: "ERR_INVALID_ARG_TYPE" });
    assert.throws(() => connect(70000, "127.0.0.1"), { code: "ERR_OUT_OF_RANGE" });
    assert.throws(() => createServer({ minRto: -1 }), { code: "ERR_OUT_OF_RANGE" });
    assert.throws(() => createServer({ congestionControl: "warp" }), { code: "ERR_INVALID_ARG_VALUE" });
    const server = createServer();
    assert.throws(() => server.listen(-1), { code: "ERR_OUT_OF_RANGE" });
  });

  test("peer to peer: two servers dialing each other at once share one connection each", {
    timeout: 20_000,
  }, async () => {
    const a = await listening();
    const b = await listening();
    const incoming: Socket[] = [];
    a.on("connection", (s) => incoming.push(s));
    b.on("connection", (s) => incoming.push(s));
    const ab = a.connect(portOf(b), "127.0.0.1");
    const ba = b.connect(portOf(a), "127.0.0.1");
    await Promise.all([once(ab, "connect"), once(ba, "connect")]);
    assert.equal(incoming.length, 0, "no extra connection was accepted");
    ab.end("from a");
    ba.end("from b");
    const [ra, rb] = await Promise.all([readAll(ab), readAll(ba)]);
    assert.equal(ra.toString(), "from b");
    assert.equal(rb.toString(), "from a");
    await Promise.all([closeServer(a), closeServer(b)]);
  });
});
