/**
 * Long-running fuzzing of the endpoint (test/fuzz/fuzzer.ts).
 *
 *   npm run fuzz -- --seconds 600            fresh seeds until the time is up
 *   npm run fuzz -- --seed 1234 [--verbose]  replay one seed (--verbose lists every datagram)
 *
 * Options: --datagrams N per seed (default 20000), --from S first seed of a
 * long run (default: random), --allow reason[,reason] to also inject forgeries
 * of those skip reasons (e.g. the KNOWN_ISSUES). Prints progress (seeds done,
 * datagrams/s) and, on failure, the seed and the invariant that broke; exits 1.
 */

import { randomInt } from "node:crypto";
import { parseArgs } from "node:util";
import { type FuzzResult, KNOWN_ISSUES, runFuzz, SKIP_REASONS } from "../test/fuzz/fuzzer.js";

const { values } = parseArgs({
  options: {
    seconds: { type: "string" },
    seed: { type: "string" },
    from: { type: "string" },
    datagrams: { type: "string", default: "20000" },
    allow: { type: "string" },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

function usage(code: number): never {
  console.log(
    "usage: npm run fuzz -- --seconds N [--from SEED] | --seed SEED [--verbose]  [--datagrams N] [--allow reason,...]",
  );
  console.log("forgeries held back unless --allow names their reason:");
  for (const [reason, why] of Object.entries(SKIP_REASONS)) console.log(`  ${reason}: ${KNOWN_ISSUES[reason] ?? why}`);
  process.exit(code);
}

function integer(name: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}; got ${JSON.stringify(text)}`);
    usage(2);
  }
  return n;
}

if (values.help) usage(0);
const seconds = integer("seconds", values.seconds, 1);
const only = integer("seed", values.seed, 0);
const datagrams = integer("datagrams", values.datagrams, 1) as number;
const allow = values.allow ? values.allow.split(",").filter(Boolean) : undefined;
if ((seconds === undefined) === (only === undefined)) usage(2);

function report(r: FuzzResult): void {
  const f = r.failure;
  if (!f) return;
  console.log(`\nFAILED at seed ${r.seed}: ${f.invariant}`);
  console.log(`  ${f.detail}`);
  console.log(`  after ${f.injected} injected datagrams, at t=${(f.time / 1e6).toFixed(6)} s of virtual time`);
  const extra = allow ? ` --allow ${allow.join(",")}` : "";
  console.log(`  replay: npm run fuzz -- --seed ${r.seed} --datagrams ${datagrams}${extra} --verbose`);
}

if (only !== undefined) {
  const log = values.verbose ? (line: string) => console.log(line) : undefined;
  const started = performance.now();
  const r = runFuzz({ seed: only, datagrams, allow, log });
  const ms = performance.now() - started;
  console.log(
    `seed ${r.seed}: ${r.injected} datagrams injected in ${(ms / 1000).toFixed(1)} s, ${r.transfers} transfers exact, ${r.aborted} aborted, ${r.bytesDelivered} bytes and ${r.messagesDelivered} messages delivered`,
  );
  console.log(`  by kind: ${JSON.stringify(r.byKind)}`);
  console.log(`  drops:   ${JSON.stringify(r.drops)}`);
  console.log(`  skipped: ${JSON.stringify(r.skipped)}`);
  report(r);
  process.exit(r.failure ? 1 : 0);
}

const first = integer("from", values.from, 0) ?? randomInt(0, 2 ** 32 - 1);
const deadline = performance.now() + (seconds as number) * 1000;
const started = performance.now();
let seeds = 0;
let injected = 0;
let lastPrint = started;
console.log(`fuzzing for ${seconds} s from seed ${first}, ${datagrams} datagrams per seed`);
for (let seed = first >>> 0; performance.now() < deadline; seed = (seed + 1) >>> 0) {
  const r = runFuzz({ seed, datagrams, allow });
  seeds++;
  injected += r.injected;
  if (r.failure) {
    report(r);
    process.exit(1);
  }
  const now = performance.now();
  if (now - lastPrint >= 2000 || now >= deadline) {
    lastPrint = now;
    const rate = Math.round(injected / ((now - started) / 1000));
    console.log(`${seeds} seeds (last ${seed}), ${injected} datagrams, ${rate} datagrams/s`);
  }
}
console.log(`ok: ${seeds} seeds from ${first}, ${injected} datagrams, no failure`);
