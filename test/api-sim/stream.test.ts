/**
 * The public stream API (createServer / connect / Socket) on virtual time over
 * lossy simulated links: bulk echo, replay, half-close and messages.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import { connect, createServer, type Socket } from "../../src/index.js";
import { withSeed } from "../helpers/seed.js";
import { A, B, collect, listen, randomBytes, sha, shutdown, world } from "./helpers.js";

const LOSSY = { delay: 20 * MS, jitter: 5 * MS, loss: 0.05, rate: 20_000_000 };

/** Echoes `size` bytes over a lossy path; returns what the run looked like. */
async function echo(seed: number, size: number) {
  const { net, loop, a, b } = world(seed, LOSSY);
  const server = createServer({ runtime: b }, (s) => s.pipe(s));
  const port = await listen(loop, server, 7000);
  const payload = randomBytes(net, size);
  const start = loop.now;
  const realStart = performance.now();
  const client = connect({ port, host: B, runtime: a });
  const got = collect(client, loop);
  client.end(payload);
  const done = await loop.run(() => got.closed, { timeout: 600 * SECOND });
  const virtual = loop.now - start;
  const real = performance.now() - realStart;
  assert.ok(done, `echo did not finish within 600 virtual s (received ${got.length()} of ${size} bytes)`);
  assert.equal(got.error, undefined);
  assert.equal(got.length(), size);
  assert.equal(sha(got.bytes()), sha(payload));
  const stats = net.stats().total;
  await shutdown(loop, [a, b], { servers: [server] });
  return { virtual, real, stats, steps: loop.stats.steps, yields: loop.stats.yields };
}

test(
  "4 MiB echo over a path with 5% loss and jitter",
  { timeout: 30_000 },
  withSeed(1, async (seed, t) => {
    const r = await echo(seed, 4 * 1024 * 1024);
    t.diagnostic(
      `virtual ${(r.virtual / SECOND).toFixed(2)} s, real ${r.real.toFixed(0)} ms, ${r.stats.sent} datagrams (${r.stats.lost} lost), ${r.steps} events, ${r.yields} yields`,
    );
    assert.ok(r.stats.lost > 100, "the link should have lost datagrams");
    assert.ok(r.virtual > 1 * SECOND, "4 MiB at 20 Mbit/s takes virtual seconds");
  }),
);

test(
  "the same seed replays the same run",
  { timeout: 30_000 },
  withSeed(2, async (seed) => {
    const first = await echo(seed, 256 * 1024);
    const second = await echo(seed, 256 * 1024);
    assert.equal(second.virtual, first.virtual);
    assert.deepEqual(second.stats, first.stats);
    assert.equal(second.steps, first.steps);
  }),
);

test(
  "half-close: the server answers after the client ended its side",
  { timeout: 10_000 },
  withSeed(3, async (seed) => {
    const { net, loop, a, b } = world(seed, LOSSY);
    const server = createServer({ runtime: b, allowHalfOpen: true }, (s) => {
      let n = 0;
      s.on("data", (d: Buffer) => {
        n += d.length;
      });
      s.on("end", () => {
        // Our writable side is still open after the peer's FIN.
        assert.equal(s.writable, true);
        s.write(`got ${n} bytes`);
        s.end(" bye");
      });
    });
    const port = await listen(loop, server);
    const payload = randomBytes(net, 300_000);
    const client = connect({ port, host: B, runtime: a, allowHalfOpen: true });
    const got = collect(client, loop);
    let finishedAt = -1;
    client.on("finish", () => {
      finishedAt = loop.now;
    });
    client.end(payload);
    assert.ok(await loop.run(() => got.closed, { timeout: 120 * SECOND }));
    assert.equal(got.error, undefined);
    assert.equal(got.bytes().toString(), "got 300000 bytes bye");
    assert.ok(finishedAt >= 0 && got.at.end !== undefined && finishedAt <= got.at.end);
    await shutdown(loop, [a, b], { servers: [server] });
  }),
);

test(
  "messages keep their boundaries and order over a lossy path",
  { timeout: 10_000 },
  withSeed(4, async (seed) => {
    const { net, loop, a, b } = world(seed, LOSSY);
    const server = createServer({ runtime: b }, async (s: Socket) => {
      s.resume(); // no stream data, but the readable side must be consumed to see 'end' (as node:net)
      for await (const m of s.messages()) s.sendMessage(m);
      s.end();
    });
    const port = await listen(loop, server);
    const client = connect({ port, host: B, runtime: a });
    const sent = Array.from({ length: 200 }, (_, i) => randomBytes(net, 1 + ((i * 7919) % 6000)));
    const received: Buffer[] = [];
    let readerDone = false;
    client.once("connect", () => {
      for (const m of sent) client.sendMessage(m);
      (async () => {
        for await (const m of client.messages()) {
          received.push(m);
          if (received.length === sent.length) client.end();
        }
        readerDone = true;
      })();
    });
    const got = collect(client, loop);
    assert.ok(await loop.run(() => readerDone && got.closed, { timeout: 120 * SECOND }));
    assert.equal(got.error, undefined);
    assert.equal(received.length, sent.length);
    for (let i = 0; i < sent.length; i++) assert.ok(received[i].equals(sent[i]), `message ${i} differs`);
    await shutdown(loop, [a, b], { servers: [server] });
  }),
);

test(
  "an idle connection with keepalives: ten virtual minutes in real milliseconds",
  { timeout: 10_000 },
  withSeed(5, async (seed, t) => {
    const { loop, a, b } = world(seed, { delay: 30 * MS });
    const accepted: Socket[] = [];
    const server = createServer({ runtime: b }, (s) => accepted.push(s));
    const port = await listen(loop, server);
    const client = connect({ port, host: B, runtime: a });
    const got = collect(client, loop);
    assert.ok(await loop.run(() => got.connected && accepted.length === 1, { timeout: 10 * SECOND }));
    const start = loop.now;
    const realStart = performance.now();
    const steps = loop.stats.steps;
    await loop.runFor(600 * SECOND);
    const real = performance.now() - realStart;
    t.diagnostic(`600 virtual s in ${real.toFixed(1)} ms real, ${loop.stats.steps - steps} events`);
    assert.equal(loop.now - start, 600 * SECOND);
    assert.equal(got.closed, false, "keepalives keep the idle connection open");
    assert.ok(real < 1000, `took ${real} ms of real time`);
    client.write("still there?");
    const echoed = collect(accepted[0], loop);
    assert.ok(await loop.run(() => echoed.length() === 12, { timeout: 1 * SECOND }));
    await shutdown(loop, [a, b], { servers: [server], sockets: [client, ...accepted] });
  }),
);

test(
  "pumping an API-free network returns at once: nothing is scheduled",
  { timeout: 5_000 },
  withSeed(6, async (seed) => {
    const { loop, a } = world(seed);
    assert.equal(await loop.run(() => false, { timeout: 10 * SECOND }), false);
    assert.equal(loop.now, 0);
    void a;
    void A;
  }),
);

test(
  "bufferSize counts each written byte once",
  {
    timeout: 5_000,
  },
  withSeed(7, async (seed) => {
    const { loop, a, b } = world(seed, { delay: 20 * MS });
    const accepted: Socket[] = [];
    const server = createServer({ runtime: b }, (s) => accepted.push(s.pause()));
    const port = await listen(loop, server);
    const client = connect({ port, host: B, runtime: a });
    const size = 8 * 1024 * 1024; // twice the receive window: the peer cannot take it all
    client.write(Buffer.alloc(size));
    const got = collect(client, loop);
    assert.ok(await loop.run(() => got.connected, { timeout: 10 * SECOND }));
    await loop.runFor(1 * SECOND);
    assert.ok(client.bufferSize <= size, `bufferSize ${client.bufferSize} > ${size} bytes written`);
    await shutdown(loop, [a, b], { servers: [server], sockets: [client, ...accepted] });
  }),
);
