import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RudpStateError } from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { decode, hasFlags } from "../helpers/packets.js";
import { makePair } from "../helpers/pair.js";

function established(opts: Parameters<typeof makePair>[0] = {}) {
  const pair = makePair(opts);
  const c = pair.client.connect(pair.server.address);
  assert.ok(pair.net.runUntil(() => pair.client.log(c).connected && pair.server.accepted.length === 1));
  return { ...pair, c, s: pair.server.accepted[0] };
}

describe("ESTABLISHED → CLOSED: graceful close", () => {
  test("active closer goes FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED; passive closer CLOSE-WAIT → LAST-ACK → CLOSED", () => {
    const { net, client, server, c, s } = established({ config: { timeWait: 2 * SECOND } });
    c.end();
    assert.ok(net.runUntil(() => server.log(s).ended));
    assert.equal(s.state, "CLOSE-WAIT");
    s.end();
    assert.ok(net.runUntil(() => server.log(s).closed && client.log(c).closed, { timeout: 10 * SECOND }));
    assert.deepEqual(client.log(c).states, [
      "SYN-SENT",
      "ESTABLISHED",
      "FIN-WAIT-1",
      "FIN-WAIT-2",
      "TIME-WAIT",
      "CLOSED",
    ]);
    assert.deepEqual(server.log(s).states.slice(2), ["ESTABLISHED", "CLOSE-WAIT", "LAST-ACK", "CLOSED"]);
    assert.equal(client.log(c).error, undefined);
    assert.equal(server.log(s).error, undefined);
    // TIME-WAIT lasted the configured time after the peer's FIN arrived.
    assert.ok(client.log(c).closedAt - server.log(s).closedAt >= 2 * SECOND - 20 * MS);
    assert.equal(client.endpoint.connectionCount, 0);
    assert.equal(server.endpoint.connectionCount, 0);
  });

  test("half-close: the side that ended its writing keeps receiving", () => {
    const { net, client, server, c, s } = established({ link: { loss: 0.02 } });
    c.write(new Uint8Array(10_000).fill(1));
    c.end();
    assert.ok(net.runUntil(() => server.log(s).ended, { timeout: 30 * SECOND }));
    const reply = new Uint8Array(1 << 20).fill(2);
    s.write(reply);
    assert.ok(net.runUntil(() => client.log(c).byteCount === reply.length, { timeout: 60 * SECOND }));
    assert.equal(c.state, "FIN-WAIT-2");
    s.end();
    assert.ok(net.runUntil(() => client.log(c).closed && server.log(s).closed, { timeout: 60 * SECOND }));
    assert.equal(server.log(s).byteCount, 10_000);
    assert.equal(client.log(c).error, undefined);
  });

  test("simultaneous close: both sides pass through CLOSING and TIME-WAIT", () => {
    const { net, client, server, c, s } = established({});
    c.end();
    s.end();
    assert.ok(net.runUntil(() => client.log(c).closed && server.log(s).closed, { timeout: 20 * SECOND }));
    for (const log of [client.log(c), server.log(s)]) {
      assert.deepEqual(log.states.slice(-4), ["FIN-WAIT-1", "CLOSING", "TIME-WAIT", "CLOSED"]);
      assert.equal(log.error, undefined);
    }
  });

  test("a lost final ACK: the FIN is retransmitted and TIME-WAIT acknowledges it again", () => {
    const { net, client, server, c, s } = established({ config: { minRto: 50 * MS } });
    c.end();
    assert.ok(net.runUntil(() => c.state === "FIN-WAIT-2"));
    s.end();
    let dropped = 0;
    net.intercept = (f, _t, data) =>
      !(f.port === 1000 && hasFlags(data, "ACK") && c.state === "TIME-WAIT" && ++dropped === 1);
    assert.ok(net.runUntil(() => server.log(s).closed && client.log(c).closed, { timeout: 20 * SECOND }));
    assert.ok(dropped >= 2, "the first final ACK was dropped and another was sent");
    assert.ok(c.stats().duplicateSegments >= 1, "TIME-WAIT saw the retransmitted FIN");
    assert.ok(s.stats().retransmits >= 1);
    assert.equal(server.log(s).error, undefined);
  });

  test("write after end() raises ERR_STREAM_WRITE_AFTER_END", () => {
    const { c } = established({});
    c.end();
    assert.throws(
      () => c.write(new Uint8Array(1)),
      (e: unknown) => e instanceof RudpStateError && e.code === "ERR_STREAM_WRITE_AFTER_END",
    );
  });
});

describe("RST", () => {
  test("abort() resets the peer with ECONNRESET and discards queued data", () => {
    const { net, client, server, c, s } = established({});
    s.write(new Uint8Array(1 << 20));
    s.abort();
    assert.equal(s.state, "CLOSED");
    assert.ok(net.runUntil(() => client.log(c).closed, { timeout: 5 * SECOND }));
    assert.equal(client.log(c).error?.code, "ECONNRESET");
    assert.equal(server.log(s).error, undefined);
  });

  test("FIN/RST race: a FIN crossing an RST ends with both sides CLOSED", () => {
    const { net, client, server, c, s } = established({});
    c.end();
    s.abort();
    assert.ok(net.runUntil(() => client.log(c).closed && server.log(s).closed, { timeout: 30 * SECOND }));
    assert.equal(client.log(c).error?.code, "ECONNRESET");
    assert.ok(server.endpoint.stats().rstsSent >= 1, "the FIN to the forgotten connection was answered with RST");
  });

  test("segments to a connection that no longer exists are answered with a (rate-limited) RST", () => {
    const { net, client, server, c, s } = established({ config: { rstRateLimit: 5 } });
    // The server forgets the connection without telling the client.
    net.intercept = (f, _t, data) => !(f.port === 2000 && decode(data)?.flags === 0x10);
    s.abort();
    net.runFor(100 * MS);
    net.intercept = undefined;
    for (let i = 0; i < 50; i++) c.write(new Uint8Array(100));
    assert.ok(net.runUntil(() => client.log(c).closed, { timeout: 5 * SECOND }));
    assert.equal(client.log(c).error?.code, "ECONNRESET");
    const st = server.endpoint.stats();
    assert.ok(st.unknownConnectionDrops >= 1);
    assert.ok(st.rstsSent <= 5);
  });

  test("an RST with the wrong source cid is ignored; RST is ignored in TIME-WAIT (RFC 1337)", () => {
    const { net, client, server, c, s } = established({ config: { timeWait: 3 * SECOND } });
    let forged = false;
    net.intercept = (f, t, data) => {
      const p = decode(data);
      if (!forged && p && f.port === 2000) {
        forged = true;
        // Forge an RST with the right destination but a wrong source cid.
        const rst = new Uint8Array(24);
        rst.set(data.subarray(0, 12));
        rst[3] = 0x10;
        rst[11] ^= 1;
        net.inject(f, t, resign(rst));
      }
      return true;
    };
    s.write(new Uint8Array(1000));
    net.runFor(200 * MS);
    assert.equal(c.state, "ESTABLISHED");
    c.end();
    s.end();
    assert.ok(net.runUntil(() => (c.state as string) === "TIME-WAIT" || (s.state as string) === "TIME-WAIT"));
    const tw = (c.state as string) === "TIME-WAIT" ? c : s;
    const other = tw === c ? s : c;
    other.abort();
    net.runFor(100 * MS);
    assert.equal(tw.state, "TIME-WAIT");
    assert.ok(net.runUntil(() => client.log(c).closed && server.log(s).closed, { timeout: 10 * SECOND }));
  });
});

import { wire } from "../../src/core/index.js";

function resign(data: Uint8Array): Uint8Array {
  const end = data.length - 4;
  new DataView(data.buffer, data.byteOffset).setUint32(end, wire.crc32(data, 0, end));
  return data;
}
