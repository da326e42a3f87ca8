/** `rudp bench`: the loopback runs verify their transfers, the lossy runs cover every loss rate, bad options exit 2. */

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { killAll, runRudp } from "./helpers.js";

after(killAll);

test("rudp bench --only loopback --json sends over real sockets and verifies every transfer", {
  timeout: 120_000,
}, async () => {
  const r = await runRudp(["bench", "--size", "4MiB", "--only", "loopback", "--json", "--quiet"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "", "--quiet prints nothing on stderr");
  const out = JSON.parse(r.stdout.toString());
  assert.equal(out.ok, true);
  assert.equal(out.lossy, undefined);
  assert.equal(out.machine.node, process.version);
  assert.ok(out.machine.cores > 0);
  assert.match(out.note, /npm run bench.*udx-native and kernel TCP/);
  assert.equal(out.loopback.bytes, 4 * 2 ** 20);
  assert.deepEqual(
    out.loopback.runs.map((run: { id: string }) => run.id),
    ["rudp", "rudp-1200", "dgram-1200"],
  );
  for (const run of out.loopback.runs) {
    assert.equal(run.ok, true, `${run.id}: ${run.error}`);
    assert.equal(run.verified, true, run.id);
    assert.equal(run.bytes, 4 * 2 ** 20, run.id);
    assert.ok(run.goodputMBps > 0, `${run.id} goodput ${run.goodputMBps}`);
    for (const side of ["sender", "receiver", "both"])
      assert.ok(Number.isFinite(run.cpuSecondsPerGiB[side]), `${run.id} CPU ${side}`);
    assert.ok(run.mss > 0, `${run.id} MSS`);
  }
  const [defaults, small] = out.loopback.runs;
  assert.ok(defaults.retransmitPercent >= 0 && small.retransmitPercent >= 0);
  assert.ok(small.mss < 1200, "the 1200-byte run keeps its datagrams at 1200 bytes");
});

test("rudp bench --only lossy reports goodput at 0, 1, 5 and 10% loss", { timeout: 60_000 }, async () => {
  const r = await runRudp(["bench", "--only", "lossy", "--seconds", "3", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /lossy: bbr at 10% loss/, "progress on stderr");
  const out = JSON.parse(r.stdout.toString());
  assert.equal(out.loopback, undefined);
  assert.equal(out.lossy.congestionControl, "bbr");
  assert.equal(out.lossy.seconds, 3);
  const runs = out.lossy.runs as { loss: number; goodputPercent: number }[];
  assert.deepEqual(
    runs.map((run) => run.loss),
    [0, 0.01, 0.05, 0.1],
  );
  for (const run of runs) assert.ok(run.goodputPercent > 0 && run.goodputPercent < 100, JSON.stringify(run));
  assert.ok(runs[0].goodputPercent > runs[3].goodputPercent, "0% loss beats 10%");
});

test("rudp bench prints a table naming the machine, and --cc picks the controller", { timeout: 60_000 }, async () => {
  const r = await runRudp(["bench", "--only", "lossy", "--seconds", "1", "--cc", "cubic", "-q"]);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.toString();
  assert.match(out, /^rudp bench \(rudp [^)]+\): .+, \d+ cores, node v\d+/);
  assert.match(out, /"npm run bench" .* udx-native and kernel TCP/);
  assert.match(out, /cubic sends for 1 s at each loss rate/);
  assert.equal(out.match(/^ +\d+% +\d+\.\d +\d+\.\d\d%$/gm)?.length, 4, out);
});

test("rudp bench: bad options exit 2 and say what is wrong", { timeout: 60_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [["--only", "wan"], /--only: unknown scenario "wan" \(choose loopback, lossy\)/],
    [["--size", "0"], /--size: size "0" must be at least 1 byte/],
    [["--size", "lots"], /--size: invalid size "lots"/],
    [["--cc", "vegas"], /--cc: unknown congestion control "vegas"/],
    [["--seconds", "0"], /--seconds: invalid duration "0"/],
    [["--only", "lossy", "--size", "4MiB"], /--size applies to the loopback scenario/],
    [["--json=yes"], /option "--json" takes no value/],
    [["now"], /unexpected argument "now"/],
  ];
  const results = await Promise.all(cases.map(([args]) => runRudp(["bench", ...args])));
  results.forEach((r, i) => {
    const [args, re] = cases[i];
    assert.equal(r.code, 2, `rudp bench ${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, `rudp bench ${args.join(" ")}`);
    assert.match(r.stderr, /Run "rudp bench --help" for usage/);
    assert.equal(r.stdout.length, 0, "nothing on stdout");
  });
});
