/**
 * Property: for random link impairments and random application writes in both
 * directions, each side receives exactly what the other sent (bytes and
 * messages, in order, exactly once) and both sides reach CLOSED without error.
 * `npm test` runs 300 scenarios; `npm run test:long` (RUDP_LONG=1) runs 10,000.
 * Replay a failure with RUDP_SEED=<seed printed by fast-check>.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { Connection } from "../../src/core/index.js";
import { SeededRng } from "../../src/core/rng.js";
import { MS, SECOND } from "../../src/core/time.js";
import type { LinkConfig } from "../../src/sim/index.js";
import { concat, makePair, randomBytes, type SimPeer, sameBytes } from "../helpers/pair.js";

const LONG = process.env.RUDP_LONG === "1";
const RUNS = LONG ? 10_000 : 300;
const SEED = process.env.RUDP_SEED ? Number(process.env.RUDP_SEED) : LONG ? (Date.now() ^ 0x5eed) >>> 0 : 20261121;

const linkArb: fc.Arbitrary<Partial<LinkConfig>> = fc
  .record({
    delayMs: fc.integer({ min: 1, max: 50 }),
    jitterFactor: fc.double({ min: 0, max: 4, noNaN: true }),
    loss: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.3, noNaN: true })),
    burst: fc.option(
      fc.record({
        p: fc.double({ min: 0.001, max: 0.05, noNaN: true }),
        r: fc.double({ min: 0.2, max: 0.8, noNaN: true }),
      }),
      { freq: 4 },
    ),
    corrupt: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.1, noNaN: true })),
    duplicate: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.1, noNaN: true })),
    rateMbit: fc.option(fc.integer({ min: 1, max: 100 }), { freq: 3 }),
    partition: fc.option(
      fc.record({ startMs: fc.integer({ min: 0, max: 3000 }), lengthMs: fc.integer({ min: 10, max: 2000 }) }),
      { freq: 4 },
    ),
  })
  .map((l) => ({
    delay: l.delayMs * MS,
    jitter: l.delayMs * l.jitterFactor * MS,
    loss: l.loss,
    burstLoss: l.burst ?? undefined,
    corrupt: l.corrupt,
    duplicate: l.duplicate,
    rate: l.rateMbit ? l.rateMbit * 1e6 : 0,
    queueBytes: 256 * 1024,
    partitions: l.partition
      ? [{ start: l.partition.startMs * MS, end: (l.partition.startMs + l.partition.lengthMs) * MS }]
      : [],
  }));

type Op = { kind: "stream" | "message"; size: number };
const opsArb: fc.Arbitrary<Op[]> = fc.array(
  fc.record({
    kind: fc.constantFrom("stream", "message"),
    size: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 40_000 })),
  }),
  { maxLength: 12 },
);

const scenarioArb = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  up: linkArb,
  down: linkArb,
  clientOps: opsArb,
  serverOps: opsArb,
  pmtu: fc.constantFrom(0, 1500, 9000, 65507),
});

interface Sent {
  stream: Uint8Array[];
  messages: Uint8Array[];
}

function perform(conn: Connection, ops: Op[], rng: SeededRng): Sent {
  const sent: Sent = { stream: [], messages: [] };
  for (const op of ops) {
    const data = randomBytes(rng, op.size);
    if (op.kind === "stream") {
      conn.write(data);
      if (data.length > 0) sent.stream.push(data);
    } else {
      conn.sendMessage(data);
      sent.messages.push(data);
    }
  }
  conn.end();
  return sent;
}

function checkReceived(peer: SimPeer, conn: Connection, sent: Sent, who: string): void {
  const log = peer.log(conn);
  assert.ok(sameBytes(log.bytes(), concat(sent.stream)), `${who}: stream bytes differ`);
  assert.equal(log.messages.length, sent.messages.length, `${who}: message count`);
  for (let i = 0; i < sent.messages.length; i++)
    assert.ok(sameBytes(log.messages[i], sent.messages[i]), `${who}: message ${i} differs`);
  assert.ok(log.ended, `${who}: end of stream not seen`);
}

/** A generated scenario. */
export type Scenario = {
  seed: number;
  up: Partial<LinkConfig>;
  down: Partial<LinkConfig>;
  clientOps: Op[];
  serverOps: Op[];
  /** Path MTU discovery off (0 or absent), or on over a path of this MTU. */
  pmtu?: number;
};

/** Runs one scenario and asserts the property; throws on violation. */
export function runScenario(sc: Scenario): void {
  const { net, client, server } = makePair({
    seed: sc.seed,
    up: sc.pmtu ? { ...sc.up, mtu: sc.pmtu } : sc.up,
    down: sc.pmtu ? { ...sc.down, mtu: sc.pmtu } : sc.down,
    // Long TIME-WAIT and a capped RTO so that even 30% loss never outlasts TIME-WAIT or the retry budget.
    config: {
      timeWait: 60 * SECOND,
      maxRto: 4 * SECOND,
      maxRetransmissions: 40,
      maxSynRetransmissions: 40,
      idleTimeout: 0,
      minRto: 50 * MS,
      maxProbePacketSize: sc.pmtu ? 65507 : 0,
    },
  });
  const rng = new SeededRng(sc.seed);
  const c = client.connect(server.address);
  const clientSent = perform(c, sc.clientOps, rng);
  let serverSent: Sent | undefined;
  let s: Connection | undefined;
  const done = net.runUntil(
    () => {
      if (!s && server.accepted.length > 0) {
        s = server.accepted[0];
        serverSent = perform(s, sc.serverOps, rng);
      }
      return s !== undefined && client.log(c).closed && server.log(s).closed;
    },
    { timeout: 3600 * SECOND },
  );
  const diag = `sim seed ${sc.seed}; client ${JSON.stringify(c.stats())}`;
  assert.ok(done, `did not finish: ${diag}`);
  assert.equal(client.log(c).error, undefined, `client error ${client.log(c).error?.message}; ${diag}`);
  assert.equal(server.log(s!).error, undefined, `server error ${server.log(s!).error?.message}; ${diag}`);
  checkReceived(server, s!, clientSent, "server");
  checkReceived(client, c, serverSent!, "client");
  assert.equal(client.endpoint.stats().internalErrors + server.endpoint.stats().internalErrors, 0);
  assert.equal(client.endpoint.connectionCount + server.endpoint.connectionCount, 0, "connections were forgotten");
}

test(`random transfers over random impaired links deliver exactly what was sent (${RUNS} scenarios, fast-check seed ${SEED})`, () => {
  fc.assert(fc.property(scenarioArb, runScenario), { numRuns: RUNS, seed: SEED });
});
