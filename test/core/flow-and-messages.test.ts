import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RudpArgumentError, wire } from "../../src/core/index.js";
import { socketBufferWindow } from "../../src/core/socket-buffer.js";
import { MS, SECOND } from "../../src/core/time.js";
import { decode } from "../helpers/packets.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";

function established(opts: Parameters<typeof makePair>[0] = {}) {
  const pair = makePair(opts);
  const c = pair.client.connect(pair.server.address);
  assert.ok(pair.net.runUntil(() => pair.client.log(c).connected && pair.server.accepted.length === 1));
  return { ...pair, c, s: pair.server.accepted[0] };
}

describe("flow control", () => {
  test("a receiver that does not read stops the sender at its window; reading reopens it", () => {
    const window = 64 * 1024;
    const { net, server, c, s } = established({ serverConfig: { receiveWindow: window } });
    server.autoRead = false;
    const data = randomBytes(net.rng, 1 << 20);
    c.write(data);
    net.runFor(5 * SECOND);
    assert.ok(s.readableLength <= window, `receiver holds ${s.readableLength}`);
    assert.ok(s.readableLength > window - 2 * c.mss);
    assert.equal(c.stats().peerWindow < c.mss, true, "the sender saw the window close");
    assert.ok(c.bufferedAmount >= data.length - window - 2 * c.mss, "the rest waits at the sender");
    server.autoRead = true;
    server.readAll(s);
    assert.ok(net.runUntil(() => server.log(s).byteCount === data.length, { timeout: 30 * SECOND }));
    assert.ok(sameBytes(server.log(s).bytes(), data));
  });

  test("a lost window update is recovered by the zero-window probe", () => {
    const { net, client, server, c, s } = established({ serverConfig: { receiveWindow: 16 * 1024 } });
    server.autoRead = false;
    c.write(randomBytes(net.rng, 200_000));
    net.runFor(2 * SECOND);
    assert.equal(c.stats().peerWindow < c.mss, true);
    // Drop every packet from the receiver for a while, so its window update is lost.
    net.link("10.0.0.2", "10.0.0.1").setDown(true);
    server.autoRead = true;
    server.readAll(s);
    net.runFor(200 * MS);
    net.link("10.0.0.2", "10.0.0.1").setDown(false);
    let pings = 0;
    net.intercept = (f, _t, d) => {
      if (f.port === 1000 && (decode(d)?.flags ?? 0) & 0x20) pings++;
      return true;
    };
    assert.ok(net.runUntil(() => server.log(s).byteCount === 200_000, { timeout: 60 * SECOND }));
    assert.ok(pings >= 1, "the sender probed the zero window");
    assert.equal(client.log(c).error, undefined);
  });
});

describe("socket receive buffer", () => {
  test("the advertised window never asks for more datagrams than the receiver's socket buffer holds", () => {
    const run = (socketBuffer: number) => {
      // A queue that never overflows: no segment is held out of order, which would widen the window.
      const { net, server, c, s } = established({ link: { delay: 5 * MS, rate: 200e6, queueBytes: 16 << 20 } });
      if (socketBuffer > 0) server.endpoint.setSocketReceiveBuffer(socketBuffer);
      const data = randomBytes(net.rng, 8 << 20);
      c.write(data);
      let largest = 0;
      assert.ok(
        net.runUntil(
          () => {
            if (c.stats().packetsReceived > 3) largest = Math.max(largest, c.stats().peerWindow);
            return server.log(s).byteCount === data.length;
          },
          { timeout: 60 * SECOND },
        ),
      );
      assert.ok(sameBytes(server.log(s).bytes(), data));
      return largest;
    };
    // 1 MiB of kernel buffer at 2304 bytes per 1200-byte datagram: 341 datagrams, 75% of them for the window.
    const cap = socketBufferWindow(1 << 20, 1200, 1172);
    assert.equal(cap, 341 * 1172);
    const capped = run(1 << 20);
    assert.ok(capped <= cap && capped > cap / 2, `window ${capped}, cap ${cap}`);
    assert.ok(run(0) > 2 * cap, "without a known socket buffer the window is the receive buffer's");
  });

  test("segments held out of order do not count against the socket cap: a lasting hole does not close the window", () => {
    // Regression: at 10 % loss a head lost four times in a row closed the window on a sender whose
    // every later segment had arrived (read from the socket already), and the link went idle.
    const { net, server, c, s } = established({ link: { delay: 25 * MS, rate: 100e6, queueBytes: 16 << 20 } });
    server.endpoint.setSocketReceiveBuffer(1 << 20);
    const cap = socketBufferWindow(1 << 20, 1200, 1172);
    let first: number | undefined;
    let drops = 0;
    net.intercept = (from, _to, d) => {
      if (from.port !== 1000) return true;
      const p = decode(d);
      if (!p || !(p.flags & wire.Flag.DATA) || p.payload.length === 0) return true;
      first ??= p.seq;
      // Segment 500 loses its first four transmissions.
      if ((p.seq - first) >>> 0 === 500 && drops < 4) {
        drops++;
        return false;
      }
      return true;
    };
    const data = randomBytes(net.rng, 8 << 20);
    c.write(data);
    let largest = 0;
    assert.ok(
      net.runUntil(
        () => {
          if (drops > 0) largest = Math.max(largest, c.stats().peerWindow); // the hole exists
          return server.log(s).byteCount === data.length;
        },
        { timeout: 60 * SECOND },
      ),
    );
    assert.equal(drops, 4);
    assert.ok(sameBytes(server.log(s).bytes(), data));
    assert.ok(largest > 2 * cap, `window ${largest}, socket cap ${cap}`);
  });
});

describe("message mode", () => {
  test("messages of random sizes arrive whole and in order, interleaved with stream bytes, over a lossy link", () => {
    const { net, server, c, s } = established({ link: { loss: 0.05, jitter: 5 * MS } });
    const rng = net.rng;
    const messages: Uint8Array[] = [];
    const stream: Uint8Array[] = [];
    for (let i = 0; i < 400; i++) {
      const m = randomBytes(rng, rng.nextInt(4) === 0 ? 0 : rng.nextInt(5000));
      messages.push(m);
      c.sendMessage(m);
      if (i % 7 === 0) {
        const b = randomBytes(rng, rng.nextInt(3000) + 1);
        stream.push(b);
        c.write(b);
      }
    }
    c.end();
    assert.ok(net.runUntil(() => server.log(s).ended, { timeout: 120 * SECOND }));
    const got = server.log(s).messages;
    assert.equal(got.length, messages.length);
    for (let i = 0; i < messages.length; i++) assert.ok(sameBytes(got[i], messages[i]), `message ${i}`);
    let total = 0;
    for (const b of stream) total += b.length;
    assert.equal(server.log(s).byteCount, total);
  });

  test("a 16 MiB message arrives whole through a 4 MiB window", () => {
    const { net, server, c, s } = established({ link: { loss: 0.01, delay: 5 * MS } });
    const big = randomBytes(net.rng, 16 * 1024 * 1024);
    c.sendMessage(big);
    c.sendMessage(new Uint8Array([1, 2, 3]));
    assert.ok(net.runUntil(() => server.log(s).messages.length === 2, { timeout: 600 * SECOND }));
    assert.ok(sameBytes(server.log(s).messages[0], big));
    assert.deepEqual([...server.log(s).messages[1]], [1, 2, 3]);
  });

  test("the peer's message limit is learned in the handshake and enforced by the sender", () => {
    const { c, s } = established({ serverConfig: { maxMessageSize: 10_000 } });
    assert.throws(
      () => c.sendMessage(new Uint8Array(10_001)),
      (e: unknown) => e instanceof RudpArgumentError && e.code === "ERR_OUT_OF_RANGE" && /peer/.test(e.message),
    );
    c.sendMessage(new Uint8Array(10_000));
    assert.throws(() => s.sendMessage(new Uint8Array(16 * 1024 * 1024 + 1)), { code: "ERR_OUT_OF_RANGE" });
  });

  test("a message above the receiver's limit, sent before the limit was known, resets with EPROTO", () => {
    const { net, client, server } = makePair({ serverConfig: { maxMessageSize: 10_000 } });
    const c = client.connect(server.address);
    c.sendMessage(new Uint8Array(20_000)); // before the handshake: only our own limit applies
    assert.ok(net.runUntil(() => server.accepted.length === 1 && client.log(c).closed, { timeout: 10 * SECOND }));
    assert.equal(server.log(server.accepted[0]).error?.code, "EPROTO");
    assert.equal(client.log(c).error?.code, "ECONNRESET");
  });
});
