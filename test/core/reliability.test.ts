import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import { decode, isData } from "../helpers/packets.js";
import { makePair, randomBytes, sameBytes } from "../helpers/pair.js";

function established(opts: Parameters<typeof makePair>[0] = {}, connectOpts = {}) {
  const pair = makePair(opts);
  const c = pair.client.connect(pair.server.address, connectOpts);
  assert.ok(pair.net.runUntil(() => pair.client.log(c).connected && pair.server.accepted.length === 1));
  return { ...pair, c, s: pair.server.accepted[0] };
}

describe("delivery", () => {
  test("sequence numbers wrap across 2^32 without loss of order or duplication (with loss and reordering)", () => {
    for (const isn of [0xffff_ff00, 0xffff_fff0, 0xffff_ffff]) {
      const { net, client, server, c, s } = established({ link: { loss: 0.05, jitter: 5 * MS } }, { isn });
      assert.equal(c.isn, isn);
      const up = randomBytes(net.rng, 600_000);
      c.write(up);
      c.end();
      assert.ok(net.runUntil(() => server.log(s).ended, { timeout: 120 * SECOND }));
      assert.ok(sameBytes(server.log(s).bytes(), up));
      assert.ok(c.stats().segmentsSent > 0x1_0000_0000 - isn, "the transfer crossed the wrap");
      assert.equal(client.log(c).error, undefined);
    }
  });

  test("duplicated datagrams are discarded and counted", () => {
    const { net, server, c, s } = established({ link: { duplicate: 0.3 } });
    const data = randomBytes(net.rng, 300_000);
    c.write(data);
    c.end();
    assert.ok(net.runUntil(() => server.log(s).ended, { timeout: 30 * SECOND }));
    assert.ok(sameBytes(server.log(s).bytes(), data));
    assert.ok(s.stats().duplicateSegments > 10);
  });

  test("corrupted datagrams are dropped and counted, never delivered", () => {
    const { net, client, server, c, s } = established({ link: { corrupt: 0.2 } });
    const data = randomBytes(net.rng, 300_000);
    c.write(data);
    c.end();
    assert.ok(net.runUntil(() => server.log(s).ended, { timeout: 60 * SECOND }));
    assert.ok(sameBytes(server.log(s).bytes(), data));
    const drops = server.endpoint.stats().corruptDrops + server.endpoint.stats().foreignDrops;
    assert.ok(drops > 20, `dropped ${drops}`);
    assert.ok(s.stats().corruptDrops > 0);
    assert.ok(client.endpoint.stats().corruptDrops > 0);
  });
});

describe("loss recovery", () => {
  test("one lost segment is resent once by fast retransmit (selective repeat, no timeout)", () => {
    const { net, server, c, s } = established({});
    let n = 0;
    net.intercept = (f, _t, data) => !(f.port === 1000 && isData(data) && ++n === 10);
    const data = randomBytes(net.rng, 200_000);
    c.write(data);
    assert.ok(net.runUntil(() => server.log(s).byteCount === data.length, { timeout: 10 * SECOND }));
    const st = c.stats();
    assert.equal(st.retransmits, 1);
    assert.equal(st.fastRetransmits, 1);
    assert.equal(st.rtoCount, 0);
    assert.equal(st.congestionEvents, 1);
    assert.ok(st.ssthresh < Number.POSITIVE_INFINITY);
  });

  test("a burst of losses is repaired by retransmitting only the lost segments", () => {
    const { net, server, c, s } = established({});
    const lost = new Set([20, 22, 24, 25, 26, 40]);
    let n = 0;
    net.intercept = (f, _t, data) => !(f.port === 1000 && isData(data) && lost.has(++n));
    const data = randomBytes(net.rng, 300_000);
    c.write(data);
    assert.ok(net.runUntil(() => server.log(s).byteCount === data.length, { timeout: 10 * SECOND }));
    assert.ok(sameBytes(server.log(s).bytes(), data));
    assert.equal(c.stats().retransmits, lost.size);
    assert.equal(c.stats().rtoCount, 0);
    assert.equal(s.stats().duplicateSegments, 0);
  });

  test("a lost last segment is recovered by the tail-loss probe, not the RTO", () => {
    const { net, server, c, s } = established({});
    const data = randomBytes(net.rng, 20 * 1135);
    let n = 0;
    net.intercept = (f, _t, d) => !(f.port === 1000 && isData(d) && ++n === 20);
    c.write(data);
    assert.ok(net.runUntil(() => server.log(s).byteCount === data.length, { timeout: 10 * SECOND }));
    assert.equal(c.stats().tailLossProbes, 1);
    assert.equal(c.stats().rtoCount, 0);
  });

  test("a partition is survived through RTO backoff; data arrives once the link is back", () => {
    const { net, server, c, s } = established({ config: { minRto: 100 * MS } });
    const data = randomBytes(net.rng, 500_000);
    c.write(data);
    net.runFor(30 * MS);
    net.link("10.0.0.1", "10.0.0.2").setDown(true);
    net.runFor(3 * SECOND);
    const during = c.stats();
    assert.ok(during.rtoCount >= 3, `rto fired ${during.rtoCount} times`);
    assert.ok(during.rto >= 800 * MS, "the RTO backed off");
    net.link("10.0.0.1", "10.0.0.2").setDown(false);
    assert.ok(net.runUntil(() => server.log(s).byteCount === data.length, { timeout: 30 * SECOND }));
    assert.ok(sameBytes(server.log(s).bytes(), data));
    assert.ok(c.stats().timeoutRetransmits > 0);
  });

  test("RTT estimate tracks the path and many packets are in flight at once", () => {
    const { net, server, c, s } = established({ link: { delay: 40 * MS } });
    let maxInFlight = 0;
    const data = randomBytes(net.rng, 4 << 20);
    c.write(data);
    assert.ok(
      net.runUntil(
        () => {
          maxInFlight = Math.max(maxInFlight, c.stats().bytesInFlight);
          return server.log(s).byteCount === data.length;
        },
        { timeout: 60 * SECOND },
      ),
    );
    const st = c.stats();
    assert.ok(Math.abs(st.srtt - 80 * MS) < 8 * MS, `srtt ${st.srtt}`);
    assert.equal(st.minRtt, 80 * MS);
    assert.ok(st.rto >= 200 * MS);
    assert.ok(maxInFlight > 100 * c.mss, `max in flight ${maxInFlight}`);
  });

  test("ACKs are coalesced: about one ACK per two data packets on a clean link", () => {
    const { net, server, c, s } = established({});
    let acks = 0;
    let datas = 0;
    net.intercept = (f, _t, d) => {
      const p = decode(d);
      if (p && f.port === 2000 && p.flags === 0x02) acks++;
      if (p && f.port === 1000 && p.flags & 0x04) datas++;
      return true;
    };
    c.write(randomBytes(net.rng, 1 << 20));
    assert.ok(net.runUntil(() => server.log(s).byteCount === 1 << 20, { timeout: 20 * SECOND }));
    assert.ok(acks <= datas * 0.6, `${acks} ACKs for ${datas} data packets`);
  });
});

describe("liveness", () => {
  test("a peer that vanishes mid-transfer makes the sender fail with ETIMEDOUT within its bound", () => {
    const config = { minRto: 100 * MS, maxRto: 2 * SECOND, maxRetransmissions: 6 };
    const { net, client, c } = established({ config });
    c.write(randomBytes(net.rng, 1 << 20));
    net.runFor(100 * MS);
    net.detach("10.0.0.2", 2000);
    const vanishedAt = net.now;
    assert.ok(net.runUntil(() => client.log(c).closed, { timeout: 120 * SECOND }));
    assert.equal(client.log(c).error?.code, "ETIMEDOUT");
    // Bound: the sum of the backed-off RTOs, each at most maxRto, plus one RTO of slack.
    let bound = 0;
    for (let i = 0; i <= config.maxRetransmissions + 1; i++) bound += Math.min(config.maxRto, c.stats().rto * 2 ** i);
    const took = client.log(c).closedAt - vanishedAt;
    assert.ok(took <= bound, `took ${took} µs, bound ${bound}`);
  });

  test("an idle connection whose peer vanished fails with ETIMEDOUT at the idle timeout, after keepalive probes", () => {
    const { net, client, c } = established({ config: { keepaliveInterval: 1 * SECOND, idleTimeout: 5 * SECOND } });
    let pings = 0;
    net.intercept = (f, _t, d) => {
      if (f.port === 1000 && (decode(d)?.flags ?? 0) & 0x20) pings++;
      return true;
    };
    const start = net.now;
    net.detach("10.0.0.2", 2000);
    assert.ok(net.runUntil(() => client.log(c).closed, { timeout: 60 * SECOND }));
    assert.equal(client.log(c).error?.code, "ETIMEDOUT");
    assert.ok(pings >= 3, `${pings} keepalive probes`);
    assert.ok(Math.abs(client.log(c).closedAt - start - 5 * SECOND) <= 100 * MS);
  });

  test("keepalives hold an idle connection open indefinitely while the peer answers", () => {
    const { net, c, s } = established({ config: { keepaliveInterval: 2 * SECOND, idleTimeout: 5 * SECOND } });
    net.runFor(600 * SECOND);
    assert.equal(c.state, "ESTABLISHED");
    assert.equal(s.state, "ESTABLISHED");
  });
});
