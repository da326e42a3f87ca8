/**
 * Resource limits (issue #6) on the simulator, in virtual time: the connection
 * limit and the handshake backlog, receive buffering bounded by each
 * connection's window and by the endpoint's maxBufferedBytes for peers that
 * read slowly or never, message size limits, silent peers reaped by the idle
 * timeout, and half-open handshakes that expire. Each test checks the limit's
 * effect and the counters that record it.
 */

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RudpArgumentError, wire } from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { connect, createServer, type Socket } from "../../src/index.js";
import { A, B, collect, listen, sha, shutdown, randomBytes as simBytes, world } from "../api-sim/helpers.js";
import { decode as decodePacket } from "../helpers/packets.js";
import { makePair, randomBytes, SimPeer, sameBytes } from "../helpers/pair.js";
import { seedFor, withSeed } from "../helpers/seed.js";

const { Flag, emitPacket } = wire;

/** Writes `data` in `chunk`-byte pieces, waiting for 'drain' whenever write() returns false, then ends; `offered` counts what was written so far. */
function writeWithBackpressure(socket: Socket, data: Uint8Array, chunk: number): { offered: number } {
  const state = { offered: 0 };
  const pump = () => {
    while (state.offered < data.length) {
      const ok = socket.write(data.subarray(state.offered, state.offered + chunk));
      state.offered += chunk;
      if (!ok) {
        socket.once("drain", pump);
        return;
      }
    }
    socket.end();
  };
  pump();
  return state;
}

function established(opts: Parameters<typeof makePair>[0] = {}) {
  const pair = makePair(opts);
  const c = pair.client.connect(pair.server.address);
  assert.ok(pair.net.runUntil(() => pair.client.log(c).connected && pair.server.accepted.length === 1));
  return { ...pair, c, s: pair.server.accepted[0] };
}

/** A SYN from `scid`, as a peer (or a spoofer) sends it. */
function syn(scid: number): Uint8Array {
  const out = new Uint8Array(128);
  const n = emitPacket(
    {
      flags: Flag.SYN,
      dcid: 0,
      scid,
      tsval: 1,
      tsecr: 0,
      handshake: { isn: 7, window: 65536, maxPacketSize: 1200, ext: new Uint8Array(0) },
      ack: undefined,
      seq: 0,
      payload: new Uint8Array(0),
    },
    out,
  );
  return out.slice(0, n);
}

describe("connection limit and backlog", () => {
  test(
    "handshakes beyond maxConnections are dropped and counted; the connections held are unaffected",
    withSeed(601, (seed) => {
      const { net, client, server } = makePair({
        seed,
        serverConfig: { maxConnections: 3 },
        clientConfig: { maxSynRetransmissions: 2 },
      });
      const conns = Array.from({ length: 5 }, () => client.connect(server.address));
      assert.ok(net.runUntil(() => conns.every((c) => client.log(c).connected || client.log(c).closed)));
      const held = conns.filter((c) => client.log(c).connected);
      const refused = conns.filter((c) => !client.log(c).connected);
      assert.equal(held.length, 3);
      assert.equal(server.accepted.length, 3);
      assert.equal(server.endpoint.connectionCount, 3);
      for (const c of refused) assert.equal(client.log(c).error?.code, "ETIMEDOUT");
      const st = server.endpoint.stats();
      // Each refused client sent its SYN three times (maxSynRetransmissions 2); every copy was dropped.
      assert.equal(st.droppedHandshakes, 2 * 3);
      assert.equal(st.connectionLimitDrops, 2 * 3, "counted as the connection limit");
      assert.equal(st.connectionsOpened, 3);

      // The three held connections still carry data both ways, byte-exact.
      const up = held.map(() => randomBytes(net.rng, 100_000));
      held.forEach((c, i) => {
        c.write(up[i]);
      });
      const down = server.accepted.map(() => randomBytes(net.rng, 50_000));
      server.accepted.forEach((s, i) => {
        s.write(down[i]);
      });
      assert.ok(
        net.runUntil(
          () =>
            server.accepted.every((s) => server.log(s).byteCount === 100_000) &&
            held.every((c) => client.log(c).byteCount === 50_000),
          { timeout: 30 * SECOND },
        ),
      );
      // Accepted in SYN order, so server.accepted[i] is held[i]'s peer.
      server.accepted.forEach((s, i) => {
        assert.ok(sameBytes(server.log(s).bytes(), up[i]));
        assert.ok(sameBytes(client.log(held[i]).bytes(), down[i]));
      });

      // Closing one frees a slot: the next handshake is accepted.
      held[0].end();
      server.accepted[0].end();
      assert.ok(net.runUntil(() => server.endpoint.connectionCount === 2, { timeout: 30 * SECOND }));
      const late = client.connect(server.address);
      assert.ok(net.runUntil(() => server.accepted.length === 4, { timeout: 10 * SECOND }));
      assert.ok(client.log(late).connected);
      assert.equal(server.accepted.length, 4);
      assert.equal(server.endpoint.stats().droppedHandshakes, 6, "no further drops");
    }),
  );

  test(
    "incoming handshakes beyond the backlog are dropped and counted (no address validation)",
    withSeed(602, (seed) => {
      const { net, server } = makePair({ seed, serverConfig: { addressValidation: "never", backlog: 16 } });
      for (let i = 0; i < 40; i++) net.inject({ address: `10.9.0.${i + 1}`, port: 5000 }, server.address, syn(100 + i));
      net.runFor(20 * MS);
      assert.equal(server.endpoint.halfOpenCount, 16);
      assert.equal(server.endpoint.connectionCount, 16);
      assert.equal(server.endpoint.stats().droppedHandshakes, 24);
      assert.equal(server.endpoint.stats().backlogDrops, 24, "counted as the backlog");
    }),
  );
});

describe("half-open handshakes", () => {
  test(
    "SYN-RECEIVED entries are reclaimed once their SYN-ACK retries run out, freeing the backlog",
    withSeed(603, (seed) => {
      // SYN-ACKs at 0, 1, 3, 7 s (initial RTO 1 s, doubling); the handshake gives up at 15 s.
      const { net, client, server } = makePair({
        seed,
        serverConfig: { addressValidation: "never", backlog: 16, maxSynRetransmissions: 3 },
      });
      const start = net.now;
      for (let i = 0; i < 16; i++) net.inject({ address: `10.9.1.${i + 1}`, port: 5000 }, server.address, syn(200 + i));
      net.runFor(20 * MS);
      assert.equal(server.endpoint.halfOpenCount, 16);
      // A real client is turned away while the backlog is full.
      const c = client.connect(server.address, { maxSynRetransmissions: 0, initialRto: 500 * MS });
      net.runFor(14 * SECOND);
      assert.equal(client.log(c).error?.code, "ETIMEDOUT");
      assert.equal(server.endpoint.stats().droppedHandshakes, 1);
      assert.equal(server.endpoint.halfOpenCount, 16, "still half-open at 14 s");
      net.runUntil(() => false, { maxTime: start + 15 * SECOND + 30 * MS });
      assert.equal(server.endpoint.halfOpenCount, 0, "all reclaimed at 15 s");
      assert.equal(server.endpoint.connectionCount, 0);
      const st = server.endpoint.stats();
      assert.equal(st.connectionsOpened, 16);
      assert.equal(st.connectionsClosed, 16);
      assert.equal(st.handshakeTimeouts, 16, "each expiry counted");
      assert.equal(server.accepted.length, 0, "never offered to the application");
      // The backlog has room again.
      const c2 = client.connect(server.address);
      assert.ok(net.runUntil(() => client.log(c2).connected && server.accepted.length === 1, { timeout: 5 * SECOND }));
    }),
  );

  test(
    "a client whose final ACK never arrives leaves a half-open entry that expires with ETIMEDOUT",
    withSeed(604, (seed) => {
      const { net, client, server } = makePair({ seed, config: { maxSynRetransmissions: 2 } });
      let fromClient = 0;
      net.intercept = (from) => from.port !== 1000 || ++fromClient === 1; // only the SYN gets through
      const c = client.connect(server.address);
      assert.ok(net.runUntil(() => client.log(c).connected, { timeout: 5 * SECOND }));
      assert.equal(server.endpoint.halfOpenCount, 1);
      const half = [...server.endpoint.connections()][0];
      assert.equal(half.state, "SYN-RECEIVED");
      assert.ok(net.runUntil(() => server.endpoint.halfOpenCount === 0, { timeout: 60 * SECOND }));
      assert.equal(server.log(half).error?.code, "ETIMEDOUT");
      assert.equal(server.endpoint.connectionCount, 0);
      assert.equal(server.accepted.length, 0);
    }),
  );
});

describe("receive buffering", () => {
  test(
    "a peer that never reads holds at most receiveWindow; the sender persists for minutes and loses nothing",
    withSeed(605, (seed) => {
      const window = 64 * 1024;
      const { net, client, server, c, s } = established({ seed, serverConfig: { receiveWindow: window } });
      server.autoRead = false;
      const data = randomBytes(net.rng, 1 << 20);
      c.write(data);
      let maxHeld = 0;
      const sample = () => {
        maxHeld = Math.max(maxHeld, s.stats().receiveBuffered);
        return false;
      };
      net.runUntil(sample, { timeout: 10 * SECOND });
      assert.ok(maxHeld <= window, `receiver held ${maxHeld}`);
      assert.ok(s.readableLength > window - 2 * c.mss, `receiver holds ${s.readableLength}`);
      const st = c.stats();
      assert.ok(st.peerWindow < c.mss, "the window closed");
      assert.equal(st.bytesInFlight, 0, "nothing in flight while blocked");
      assert.ok(c.bufferedAmount >= data.length - window - 2 * c.mss, "the rest waits at the sender");

      // Ten virtual minutes blocked: the zero-window probes back off, and neither side gives up.
      const before = c.stats().packetsSent;
      net.runUntil(sample, { timeout: 600 * SECOND });
      const probes = c.stats().packetsSent - before;
      // Keepalives (every 15 s) and backed-off window probes: a bounded trickle, no spinning.
      assert.ok(probes >= 5 && probes <= 80, `${probes} packets from the blocked sender in 10 minutes`);
      assert.equal(c.state, "ESTABLISHED");
      assert.equal(s.state, "ESTABLISHED");
      assert.ok(maxHeld <= window);
      assert.equal(client.log(c).error, undefined);

      server.autoRead = true;
      server.readAll(s);
      assert.ok(net.runUntil(() => server.log(s).byteCount === data.length, { timeout: 60 * SECOND }));
      assert.ok(sameBytes(server.log(s).bytes(), data));
      assert.equal(c.stats().outOfWindowDrops, 0);
    }),
  );

  test(
    "a slow reader paces the sender: buffering stays within the window and the transfer completes intact",
    withSeed(606, (seed) => {
      const window = 32 * 1024;
      const { net, server, c, s } = established({ seed, serverConfig: { receiveWindow: window } });
      server.autoRead = false;
      const data = randomBytes(net.rng, 512 * 1024);
      c.write(data);
      c.end();
      const got: Uint8Array[] = [];
      let total = 0;
      let maxHeld = 0;
      const start = net.now;
      // Reads 8 KiB every 100 ms: 80 KiB/s, far below what the link could carry.
      while (!s.peerEnded || s.readableLength > 0) {
        assert.ok(net.now - start < 60 * SECOND, "transfer stalled");
        net.runUntil(
          () => {
            maxHeld = Math.max(maxHeld, s.readableLength);
            return false;
          },
          { timeout: 100 * MS },
        );
        for (let n = 0; n < 8192; ) {
          const chunk = s.read();
          if (!chunk) break;
          got.push(chunk);
          n += chunk.length;
          total += chunk.length;
        }
      }
      const took = net.now - start;
      assert.equal(total, data.length);
      assert.ok(sameBytes(Buffer.concat(got), data));
      assert.ok(maxHeld <= window, `held ${maxHeld}`);
      // The reader sets the pace: each 100 ms read takes at most 8 KiB plus one segment.
      const fastest = ((data.length - window) / (8192 + c.mss)) * 100 * MS;
      assert.ok(took >= fastest, `took ${took / SECOND} s, reading allows ${fastest / SECOND} s at best`);
      assert.ok(took <= 8 * SECOND, `took ${took / SECOND} s`);
    }),
  );

  test(
    "maxBufferedBytes bounds what all connections together buffer; drops are counted and nothing is lost",
    withSeed(615, (seed) => {
      const budget = 128 * 1024;
      const { net, client, server } = makePair({
        seed,
        serverConfig: { receiveWindow: 64 * 1024, maxBufferedBytes: budget },
      });
      server.autoRead = false;
      const conns = Array.from({ length: 4 }, () => client.connect(server.address));
      const data = conns.map(() => randomBytes(net.rng, 256 * 1024));
      conns.forEach((c, i) => {
        c.write(data[i]);
      });
      let maxBuffered = 0;
      const sample = () => {
        maxBuffered = Math.max(maxBuffered, server.endpoint.stats().bufferedBytes);
        return false;
      };
      net.runUntil(sample, { timeout: 10 * SECOND });
      assert.equal(server.accepted.length, 4);
      const held = server.accepted.reduce((n, s) => n + s.readableLength, 0);
      // Four 64 KiB windows would hold 256 KiB; the endpoint's budget holds them to 128 KiB together.
      assert.ok(maxBuffered <= budget, `buffered up to ${maxBuffered}`);
      assert.ok(held <= budget && held > budget - 4 * conns[0].mss, `the readers hold ${held}`);
      const st = server.endpoint.stats();
      const perConn = server.accepted.reduce((n, s) => n + s.stats().bufferLimitDrops, 0);
      assert.equal(st.bufferLimitDrops, perConn, "the endpoint counts what its connections dropped");
      assert.ok(st.bufferLimitDrops > 0, "the four senders overran the shared budget at first");
      for (const c of conns) assert.equal(c.state, "ESTABLISHED");

      server.autoRead = true;
      for (const s of server.accepted) server.readAll(s);
      assert.ok(
        net.runUntil(
          () => {
            sample();
            return server.accepted.every((s) => server.log(s).byteCount === 256 * 1024);
          },
          { timeout: 120 * SECOND },
        ),
      );
      assert.ok(maxBuffered <= budget);
      // Accepted in SYN order.
      server.accepted.forEach((s, i) => {
        assert.ok(sameBytes(server.log(s).bytes(), data[i]));
      });
      assert.equal(server.endpoint.stats().bufferedBytes, 0);
    }),
  );

  test(
    "write() backpressure does not count selectively acknowledged bytes: a lasting hole does not stall the writer",
    { timeout: 20_000 },
    withSeed(611, async (seed) => {
      // Regression: at 10 % loss a segment lost four times in a row held every later byte in the
      // sender's buffer, the writer stopped and the link went idle until the hole was filled.
      const { net, loop, a, b } = world(seed, { delay: 25 * MS, rate: 100e6, queueBytes: 625_000 });
      const sendBufferSize = 1 << 20;
      const accepted: Socket[] = [];
      const server = createServer({ runtime: b }, (s) => accepted.push(s));
      const port = await listen(loop, server);
      const client = connect({ port, host: B, runtime: a, sendBufferSize, congestionControl: "bbr" });
      const data = simBytes(net, 24 << 20);
      const chunk = 64 * 1024;
      const writer = writeWithBackpressure(client, data, chunk);
      // Segment 3000 (the pipe is full by then) loses its first four transmissions.
      let first: number | undefined;
      let sends = 0;
      const offeredAt: number[] = [];
      net.intercept = (from, _to, d) => {
        if (from.address !== A) return true;
        const p = decodePacket(d);
        if (!p || !(p.flags & Flag.DATA) || p.payload.length === 0) return true;
        first ??= p.seq;
        if ((p.seq - first) >>> 0 !== 3000) return true;
        offeredAt.push(writer.offered);
        return ++sends > 4;
      };
      let received: ReturnType<typeof collect> | undefined;
      assert.ok(
        await loop.run(
          () => {
            if (!received && accepted[0]) received = collect(accepted[0], loop);
            return received?.ended === true;
          },
          { timeout: 120 * SECOND },
        ),
      );
      assert.equal(sends, 5, "the segment went out five times");
      assert.equal(sha((received as ReturnType<typeof collect>).bytes()), sha(data));
      const during = offeredAt[4] - offeredAt[0];
      assert.ok(during > 2 * sendBufferSize, `the writer moved ${during} bytes while the hole lasted`);
      await shutdown(loop, [a, b], { servers: [server], sockets: [client, ...accepted] });
    }),
  );

  test(
    "through the API, a reader that never reads bounds both ends: write() backpressure and the receive window",
    { timeout: 20_000 },
    withSeed(607, async (seed) => {
      const { net, loop, a, b } = world(seed);
      const window = 64 * 1024;
      const sendBufferSize = 256 * 1024;
      const accepted: Socket[] = [];
      const server = createServer({ runtime: b, receiveWindow: window }, (s) => accepted.push(s));
      const port = await listen(loop, server);
      const client = connect({ port, host: B, runtime: a, sendBufferSize });
      const data = simBytes(net, 4 << 20);
      const chunk = 64 * 1024;
      const writer = writeWithBackpressure(client, data, chunk);
      let maxClientBuffered = 0;
      let maxServerHeld = 0;
      await loop.run(
        () => {
          maxClientBuffered = Math.max(maxClientBuffered, client.bufferSize);
          if (accepted[0]) maxServerHeld = Math.max(maxServerHeld, accepted[0].stats().receiveBuffered);
          return false;
        },
        { timeout: 60 * SECOND },
      );
      assert.equal(accepted.length, 1);
      assert.ok(writer.offered < data.length, "the writer was held back");
      assert.ok(
        maxClientBuffered <= sendBufferSize + 2 * chunk,
        `client buffered up to ${maxClientBuffered} (sendBufferSize ${sendBufferSize})`,
      );
      assert.ok(maxServerHeld <= window, `server held ${maxServerHeld}`);
      assert.ok(maxServerHeld > window / 2);

      const got = collect(accepted[0], loop);
      assert.ok(await loop.run(() => got.ended, { timeout: 120 * SECOND }));
      assert.equal(got.length(), data.length);
      assert.equal(sha(got.bytes()), sha(data));
      assert.equal(got.error, undefined);
      await shutdown(loop, [a, b], { servers: [server], sockets: [client, ...accepted] });
    }),
  );
});

describe("message size", () => {
  test(
    "a message above the local maxMessageSize is rejected on send with a typed error; one at the limit arrives",
    withSeed(608, (seed) => {
      const { net, server, c, s } = established({ seed, clientConfig: { maxMessageSize: 1000 } });
      assert.throws(
        () => c.sendMessage(new Uint8Array(1001)),
        (e: unknown) => e instanceof RudpArgumentError && e.code === "ERR_OUT_OF_RANGE" && !/peer/.test(e.message),
      );
      const m = randomBytes(net.rng, 1000);
      c.sendMessage(m);
      assert.ok(net.runUntil(() => server.log(s).messages.length === 1, { timeout: 5 * SECOND }));
      assert.ok(sameBytes(server.log(s).messages[0], m));
      assert.equal(c.state, "ESTABLISHED", "the rejected send did not hurt the connection");
    }),
  );

  test(
    "the peer's smaller limit, announced in the handshake, is enforced by the sender",
    withSeed(609, (seed) => {
      const { net, client, server, c, s } = established({ seed, serverConfig: { maxMessageSize: 4096 } });
      assert.throws(
        () => c.sendMessage(new Uint8Array(4097)),
        (e: unknown) => e instanceof RudpArgumentError && e.code === "ERR_OUT_OF_RANGE" && /peer/.test(e.message),
      );
      const m = randomBytes(net.rng, 4096);
      c.sendMessage(m);
      // The limit is the server's own for sending as well.
      assert.throws(
        () => s.sendMessage(new Uint8Array(4097)),
        (e: unknown) => e instanceof RudpArgumentError && e.code === "ERR_OUT_OF_RANGE" && !/peer/.test(e.message),
      );
      const big = randomBytes(net.rng, 4096);
      s.sendMessage(big);
      assert.ok(
        net.runUntil(() => server.log(s).messages.length === 1 && client.log(c).messages.length === 1, {
          timeout: 10 * SECOND,
        }),
      );
      assert.ok(sameBytes(server.log(s).messages[0], m));
      assert.ok(sameBytes(client.log(c).messages[0], big));
    }),
  );

  test(
    "Socket.sendMessage throws the typed error synchronously and the socket stays usable",
    { timeout: 10_000 },
    withSeed(610, async (seed) => {
      const { net, loop, a, b } = world(seed);
      const received: Buffer[] = [];
      const accepted: Socket[] = [];
      const server = createServer({ runtime: b, maxMessageSize: 2048 }, (s) => {
        accepted.push(s);
        s.on("message", (m: Buffer) => received.push(m));
      });
      const port = await listen(loop, server);
      const client = connect({ port, host: B, runtime: a });
      const got = collect(client, loop);
      assert.ok(await loop.run(() => got.connected && accepted.length === 1, { timeout: 5 * SECOND }));
      assert.throws(() => client.sendMessage(Buffer.alloc(2049)), {
        name: "RudpArgumentError",
        code: "ERR_OUT_OF_RANGE",
      });
      const m = simBytes(net, 2048);
      client.sendMessage(m);
      assert.ok(await loop.run(() => received.length === 1, { timeout: 5 * SECOND }));
      assert.ok(received[0].equals(m));
      assert.equal(got.error, undefined);
      await shutdown(loop, [a, b], { servers: [server], sockets: [client, ...accepted] });
    }),
  );
});

describe("idle timeout", () => {
  test(
    "a peer that connects and goes silent is reaped at the idle timeout and removed from the endpoint",
    withSeed(611, (seed) => {
      const { net, server, s } = established({
        seed,
        serverConfig: { idleTimeout: 5 * SECOND, keepaliveInterval: 1 * SECOND },
      });
      let probes = 0;
      net.intercept = (from, _to, d) => {
        if (from.port === 2000 && (wire.decodeDatagram(d).flags & Flag.PING) !== 0) probes++;
        return true;
      };
      const silentAt = net.now;
      net.detach("10.0.0.1", 1000); // the client's host vanishes without a word
      assert.ok(net.runUntil(() => server.log(s).closed, { timeout: 60 * SECOND }));
      assert.equal(server.log(s).error?.code, "ETIMEDOUT");
      const after = server.log(s).closedAt - silentAt;
      assert.ok(after >= 5 * SECOND && after <= 5 * SECOND + 50 * MS, `reaped after ${after / SECOND} s`);
      assert.ok(probes >= 3, `${probes} unanswered keepalive probes`);
      assert.equal(server.endpoint.connectionCount, 0);
      const st = server.endpoint.stats();
      assert.equal(st.connectionsClosed, 1);
      assert.equal(st.timeouts, 1, "the reaping is counted");
      assert.equal(st.connections, 0);
    }),
  );

  test(
    "with keepalives off, a live but idle connection is reaped on both ends; with them on it is kept",
    withSeed(612, (seed) => {
      const off = established({ seed, config: { idleTimeout: 10 * SECOND, keepaliveInterval: 0 } });
      assert.ok(
        off.net.runUntil(() => off.client.log(off.c).closed && off.server.log(off.s).closed, {
          timeout: 30 * SECOND,
        }),
      );
      // The client heard last from the server first (the SYN-ACK), so its timer runs out first; its
      // RST then resets the server end at once.
      assert.equal(off.client.log(off.c).error?.code, "ETIMEDOUT");
      assert.equal(off.server.log(off.s).error?.code, "ECONNRESET");
      assert.ok(off.client.log(off.c).closedAt >= 10 * SECOND);
      assert.equal(off.client.endpoint.connectionCount, 0);
      assert.equal(off.server.endpoint.connectionCount, 0);

      const on = established({
        seed: seedFor(613),
        config: { idleTimeout: 10 * SECOND, keepaliveInterval: 4 * SECOND },
      });
      on.net.runFor(600 * SECOND);
      assert.equal(on.c.state, "ESTABLISHED");
      assert.equal(on.s.state, "ESTABLISHED");
      on.c.write(new Uint8Array(10_000).fill(7));
      assert.ok(on.net.runUntil(() => on.server.log(on.s).byteCount === 10_000, { timeout: 5 * SECOND }));
    }),
  );

  test(
    "many silent peers are all reaped: the endpoint returns to zero connections",
    withSeed(614, (seed) => {
      const { net, server } = makePair({ seed, serverConfig: { idleTimeout: 20 * SECOND } });
      const peers = Array.from(
        { length: 20 },
        (_, i) => new SimPeer(net, { address: `10.0.1.${i + 1}`, port: 3000 }, { maxProbePacketSize: 0 }, seed + i),
      );
      const conns = peers.map((p) => p.connect(server.address));
      assert.ok(net.runUntil(() => server.accepted.length === 20 && conns.every((c, i) => peers[i].log(c).connected)));
      assert.equal(server.endpoint.connectionCount, 20);
      const silentAt = net.now;
      for (const p of peers) net.detach(p.address.address, p.address.port);
      net.runFor(19 * SECOND);
      assert.equal(server.endpoint.connectionCount, 20, "kept until the idle timeout");
      net.runFor(2 * SECOND);
      assert.equal(server.endpoint.connectionCount, 0);
      for (const s of server.accepted) {
        assert.equal(server.log(s).error?.code, "ETIMEDOUT");
        assert.ok(server.log(s).closedAt - silentAt <= 20 * SECOND + 50 * MS);
      }
      assert.equal(server.endpoint.stats().connectionsClosed, 20);
    }),
  );
});
