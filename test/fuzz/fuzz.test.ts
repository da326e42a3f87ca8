/**
 * The fuzz engine (fuzzer.ts) against the endpoint and its connections:
 * 100,000 hostile datagrams over five seeds, mixed into real transfers. Each
 * seed must finish with every transfer byte-exact, no invariant broken and no
 * state left behind. A failure names its seed; replay it with
 * `npm run fuzz -- --seed <seed> --verbose` (or RUDP_SEED=<seed> for this file).
 * `npm run fuzz -- --seconds N` keeps going with fresh seeds.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { seedFor } from "../helpers/seed.js";
import { type FuzzResult, runFuzz } from "./fuzzer.js";

const SEEDS = 5;
const PER_SEED = 20_000;
const results: FuzzResult[] = [];

for (let i = 0; i < SEEDS; i++) {
  const seed = (seedFor(0x5eed0000) + i) >>> 0;
  test(`fuzz seed ${seed}: ${PER_SEED} hostile datagrams leave every transfer exact and no state behind`, () => {
    const r = runFuzz({ seed, datagrams: PER_SEED });
    results.push(r);
    assert.equal(
      r.failure,
      undefined,
      r.failure &&
        `${r.failure.invariant}: ${r.failure.detail} (seed ${seed} after ${r.failure.injected} datagrams at t=${r.failure.time} µs; replay with npm run fuzz -- --seed ${seed} --verbose)`,
    );
    assert.ok(r.injected >= PER_SEED, `${r.injected} injected`);
    assert.ok(r.transfers >= 1 && r.bytesDelivered > 0, `transfers ran: ${JSON.stringify(r)}`);
  });
}

test("the seeds together injected ≥ 100,000 datagrams of every kind, and each kind of drop happened", () => {
  assert.equal(results.length, SEEDS, "every seed ran");
  const sum = (pick: (r: FuzzResult) => Record<string, number>) => {
    const out: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(pick(r))) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const injected = results.reduce((n, r) => n + r.injected, 0);
  assert.ok(injected >= 100_000, `${injected} injected`);
  const kinds = sum((r) => r.byKind);
  for (const k of [
    "random",
    "syn-flood",
    "bit-flip",
    "bit-flip-resealed",
    "truncated",
    "extended",
    "field-extreme",
    "flags",
    "replay",
    "cid-swap",
    "forged-ack",
    "forged-data",
    "forged-rst",
    "path",
    "pad",
    "syn-extensions",
  ])
    assert.ok((kinds[k] ?? 0) > 500, `kind ${k}: ${kinds[k] ?? 0} (${JSON.stringify(kinds)})`);
  // The datagrams reached every stage of the receive path, not just the first check.
  const drops = sum((r) => r.drops);
  for (const k of [
    "foreign",
    "corrupt",
    "malformed",
    "unknown connection",
    "forged token",
    "unvalidated path",
    "wrong source cid or malformed (connection)",
    "out of window",
    "duplicate segment",
    "invalid ack",
  ])
    assert.ok((drops[k] ?? 0) > 0, `drop ${k}: ${JSON.stringify(drops)}`);
  assert.ok(
    results.some((r) => r.aborted > 0),
    "some connections were aborted on purpose",
  );
});

test("the oracle notices damage: forgeries it normally holds back make runs fail", () => {
  // Data at the right sequence number with the right ids (what an on-path attacker can do to an
  // unencrypted transport) must be caught as injected bytes; an RST with the right ids as a teardown.
  const cases = [
    { allow: ["in-window-data"], expect: /no injected byte|messages are delivered exactly/, from: 27 },
    { allow: ["valid-rst", "reflected-rst"], expect: /never torn down/, from: 1 },
  ];
  for (const { allow, expect, from } of cases) {
    const failures: string[] = [];
    for (let seed = from; seed < from + 12 && failures.length === 0; seed++) {
      const r = runFuzz({ seed, datagrams: 4000, allow });
      if (r.failure) failures.push(r.failure.invariant);
    }
    assert.ok(
      failures.length > 0 && expect.test(failures[0]),
      `allowing ${allow.join(", ")} was noticed: ${failures[0]}`,
    );
  }
});
