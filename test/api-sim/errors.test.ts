/**
 * Connection failures through the public API on virtual time: a vanished
 * server (ETIMEDOUT after virtual minutes, in real milliseconds), connect
 * timeouts, ECONNREFUSED from an emulated ICMP port unreachable, and soft ICMP errors that change nothing.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import { connect, createServer, type Socket, type UdpHandle } from "../../src/index.js";
import { withSeed } from "../helpers/seed.js";
import { B, collect, listen, shutdown, world } from "./helpers.js";

const LOSSY = { delay: 15 * MS, jitter: 3 * MS, loss: 0.05 };

test(
  "a client whose server vanished mid-transfer fails with ETIMEDOUT",
  { timeout: 10_000 },
  withSeed(11, async (seed, t) => {
    const { loop, a, b } = world(seed, LOSSY);
    const accepted: Socket[] = [];
    const server = createServer({ runtime: b }, (s) => {
      accepted.push(s);
      s.resume();
    });
    const port = await listen(loop, server);
    const client = connect({ port, host: B, runtime: a });
    const got = collect(client, loop);
    client.write(Buffer.alloc(50_000));
    assert.ok(await loop.run(() => accepted.length === 1 && accepted[0].bytesRead > 20_000, { timeout: 30 * SECOND }));
    b.crash();
    const crashedAt = loop.now;
    const realStart = performance.now();
    client.write(Buffer.alloc(10_000));
    assert.ok(await loop.run(() => got.closed, { timeout: 3600 * SECOND }));
    const real = performance.now() - realStart;
    t.diagnostic(
      `ETIMEDOUT after ${((loop.now - crashedAt) / SECOND).toFixed(1)} virtual s, ${real.toFixed(1)} ms real`,
    );
    assert.equal(got.error?.code, "ETIMEDOUT");
    assert.ok(loop.now - crashedAt > 10 * SECOND, "gives up only after retransmissions back off");
    assert.ok(real < 2000);
    b.restart();
    await shutdown(loop, [a, b], { servers: [server], sockets: accepted });
  }),
);

test(
  "connectTimeout fails the connect with ETIMEDOUT at the virtual deadline",
  { timeout: 5_000 },
  withSeed(12, async (seed) => {
    const { loop, a, b } = world(seed, LOSSY);
    b.crash(); // nobody answers, and no ICMP either
    const start = loop.now;
    const client = connect({ port: 4000, host: B, runtime: a, connectTimeout: 2500 });
    const got = collect(client, loop);
    assert.ok(await loop.run(() => got.closed, { timeout: 60 * SECOND }));
    assert.equal(got.error?.code, "ETIMEDOUT");
    assert.equal((got.error as { syscall?: string }).syscall, "connect");
    assert.equal(got.connected, false);
    assert.equal(loop.now - start, 2500 * MS);
    await shutdown(loop, [a]);
  }),
);

test(
  "without connectTimeout the handshake gives up after its SYN retries",
  { timeout: 5_000 },
  withSeed(13, async (seed, t) => {
    const { loop, a, b } = world(seed);
    b.crash();
    const start = loop.now;
    const client = connect({ port: 4000, host: B, runtime: a, connectTimeout: 0 });
    const got = collect(client, loop);
    assert.ok(await loop.run(() => got.closed, { timeout: 3600 * SECOND }));
    t.diagnostic(`gave up after ${((loop.now - start) / SECOND).toFixed(1)} virtual s`);
    assert.equal(got.error?.code, "ETIMEDOUT");
    assert.ok(loop.now - start > 30 * SECOND);
    await shutdown(loop, [a]);
  }),
);

test(
  "ECONNREFUSED when nothing is bound at the port",
  { timeout: 5_000 },
  withSeed(14, async (seed) => {
    const { loop, a, b } = world(seed, { delay: 15 * MS });
    const start = loop.now;
    const client = connect({ port: 4000, host: B, runtime: a });
    const got = collect(client, loop);
    assert.ok(await loop.run(() => got.closed, { timeout: 10 * SECOND }));
    assert.equal(got.error?.code, "ECONNREFUSED");
    assert.equal((got.error as { syscall?: string }).syscall, "connect");
    // One way for the SYN, one way back for the ICMP error.
    assert.equal(loop.now - start, 30 * MS);
    assert.equal(loop.stats.unreachables, 1);
    await shutdown(loop, [a, b]);
  }),
);

test(
  "a server socket dialing an unbound port is not refused (unconnected UDP ignores ICMP)",
  { timeout: 5_000 },
  withSeed(15, async (seed) => {
    const { loop, a, b } = world(seed);
    const server = createServer({ runtime: a });
    await listen(loop, server);
    const out = server.connect(4000, B);
    const got = collect(out, loop);
    assert.ok(await loop.run(() => got.closed, { timeout: 3600 * SECOND }));
    assert.equal(got.error?.code, "ETIMEDOUT");
    assert.equal(loop.stats.unreachables, 0);
    await shutdown(loop, [a, b], { servers: [server] });
  }),
);

test(
  "a closed server keeps serving its accepted connections, then its port refuses",
  { timeout: 5_000 },
  withSeed(16, async (seed) => {
    const { loop, a, b } = world(seed, LOSSY);
    const accepted: Socket[] = [];
    const server = createServer({ runtime: b }, (s) => {
      accepted.push(s);
      s.pipe(s);
    });
    const port = await listen(loop, server);
    const first = connect({ port, host: B, runtime: a });
    const got = collect(first, loop);
    // (A connection not yet accepted would be reset by the close, as a TCP listener's backlog is.)
    assert.ok(await loop.run(() => got.connected && accepted.length === 1, { timeout: 30 * SECOND }));
    let serverClosed = false;
    server.close(() => {
      serverClosed = true;
    });
    first.write("ping");
    assert.ok(await loop.run(() => got.length() === 4, { timeout: 30 * SECOND }));
    assert.equal(serverClosed, false);
    first.end();
    assert.ok(await loop.run(() => serverClosed && got.closed, { timeout: 60 * SECOND }));
    assert.equal(got.error, undefined);
    // Now the port is gone: a new connection is refused.
    const second = connect({ port, host: B, runtime: a });
    const refused = collect(second, loop);
    assert.ok(await loop.run(() => refused.closed, { timeout: 30 * SECOND }));
    assert.equal(refused.error?.code, "ECONNREFUSED");
    await shutdown(loop, [a, b]);
  }),
);

/** An asynchronous socket error as node:dgram (or the native datapath) reports it. */
function socketError(code: string): Error & { code: string; syscall: string } {
  return Object.assign(new Error(`recvmsg ${code}`), { code, syscall: "recvmsg" });
}

// Regression: a connected UDP socket reports ICMP "fragmentation needed" (EMSGSIZE) and host or network
// unreachable as socket errors, and the driver made every one of them fatal ('error' on the socket). They are
// soft errors (RFC 1122 §4.2.3.9): retransmission, path MTU discovery and the timeouts decide.
test(
  "soft ICMP errors on the socket (EMSGSIZE, EHOSTUNREACH, ENETUNREACH) do not fail a transfer; others still do",
  { timeout: 10_000 },
  withSeed(14, async (seed) => {
    const { loop, a, b } = world(seed, LOSSY);
    const handles: UdpHandle[] = [];
    const bind = a.bindUdp.bind(a);
    a.bindUdp = async (o) => {
      const h = await bind(o);
      handles.push(h);
      return h;
    };
    const accepted: Socket[] = [];
    const received: Buffer[] = [];
    const server = createServer({ runtime: b }, (s) => {
      accepted.push(s);
      s.on("data", (d: Buffer) => received.push(d));
    });
    const port = await listen(loop, server);
    const client = connect({ port, host: B, runtime: a });
    const got = collect(client, loop);
    const data = Buffer.alloc(200_000, 7);
    client.write(data);
    assert.ok(await loop.run(() => received.reduce((n, d) => n + d.length, 0) > 50_000, { timeout: 30 * SECOND }));
    assert.equal(handles.length, 1);
    for (const code of ["EMSGSIZE", "EHOSTUNREACH", "ENETUNREACH"]) handles[0].onError(socketError(code));
    client.end();
    assert.ok(
      await loop.run(() => received.reduce((n, d) => n + d.length, 0) === data.length, { timeout: 60 * SECOND }),
    );
    assert.equal(got.error, undefined);
    assert.ok(Buffer.concat(received).equals(data));
    // Anything else is still the socket's failure.
    const second = connect({ port, host: B, runtime: a });
    const failed = collect(second, loop);
    assert.ok(await loop.run(() => failed.connected, { timeout: 30 * SECOND }));
    handles[1].onError(socketError("EACCES"));
    assert.ok(await loop.run(() => failed.closed, { timeout: 30 * SECOND }));
    assert.equal(failed.error?.code, "EACCES");
    await shutdown(loop, [a, b], { servers: [server], sockets: [...accepted, client, second] });
  }),
);
