/** CLI arguments: --help on every command, exit code 2 with a readable message for bad arguments, and the pure helpers. */

import assert from "node:assert/strict";
import { after, test } from "node:test";
import { parseArgs, parseHostPort, parsePort, UsageError } from "../../src/cli/args.js";
import { flagNames, formatTraceLine } from "../../src/cli/trace.js";
import { Flag } from "../../src/core/wire/packet.js";
import { killAll, runRudp } from "./helpers.js";

after(killAll);

const COMMANDS = ["send", "recv", "echo-server", "echo", "proxy", "tunnel", "keygen", "demo", "bench"];

test("rudp --help lists every command; each command has --help with examples", { timeout: 60_000 }, async () => {
  const [top, ...each] = await Promise.all([runRudp(["--help"]), ...COMMANDS.map((c) => runRudp([c, "--help"]))]);
  assert.equal(top.code, 0);
  for (const c of COMMANDS) assert.match(String(top.stdout), new RegExp(`^  ${c} `, "m"));
  each.forEach((r, i) => {
    assert.equal(r.code, 0, `${COMMANDS[i]} --help: ${r.stderr}`);
    assert.match(String(r.stdout), new RegExp(`^Usage: rudp ${COMMANDS[i]}`));
    assert.match(String(r.stdout), /\nExamples:\n {2}rudp /);
  });
});

test("bad arguments exit with code 2 and say what is wrong", { timeout: 60_000 }, async () => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /unknown command "frobnicate"/],
    [["recv", "5000", "--bogus"], /unknown option "--bogus"/],
    [["recv", "70000"], /port 70000 is out of range/],
    [["send", "127.0.0.1", "70000"], /port 70000 is out of range/],
    [["send", "/no/such/file.bin", "127.0.0.1", "5000"], /no such file "\/no\/such\/file\.bin"/],
    [["send", "no-such-host.invalid", "5000"], /cannot resolve host "no-such-host\.invalid"/],
    [["send", "127.0.0.1"], /missing arguments/],
    [["echo", "127.0.0.1", "abc"], /invalid port "abc"/],
    [["proxy", "--listen", "6000"], /--to is required/],
    [["proxy", "--listen", "6000", "--to", "127.0.0.1:5000", "--loss", "150%"], /--loss: probability "150%"/],
    [["proxy", "--listen", "6000", "--to", "127.0.0.1:5000", "--delay", "soon"], /--delay: invalid duration/],
    [["tunnel", "sideways"], /unknown mode "sideways"/],
    [["demo", "--size", "lots"], /--size: invalid size/],
  ];
  const results = await Promise.all(cases.map(([args]) => runRudp(args)));
  results.forEach((r, i) => {
    const [args, re] = cases[i];
    assert.equal(r.code, 2, `rudp ${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, re, `rudp ${args.join(" ")}`);
    assert.match(r.stderr, /--help/, "points to --help");
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  });
});

test("option parsing", () => {
  const spec = { quiet: { short: "q" }, output: { short: "o", parse: String }, n: { parse: Number } };
  assert.deepEqual(parseArgs(["-q", "a", "--output=x", "-", "--n", "3"], spec), {
    options: { quiet: true, output: "x", n: 3 },
    positionals: ["a", "-"],
  });
  assert.deepEqual(parseArgs(["-o", "f", "--", "--n"], spec).positionals, ["--n"]);
  assert.throws(() => parseArgs(["--quiet=yes"], spec), UsageError);
  assert.throws(() => parseArgs(["--output"], spec), /needs a value/);
  assert.throws(() => parseArgs(["-x"], spec), /unknown option "-x"/);
  assert.equal(parsePort("0", true), 0);
  assert.throws(() => parsePort("0"), /out of range/);
  assert.deepEqual(parseHostPort("[::1]:5000"), { host: "::1", port: 5000 });
  assert.deepEqual(parseHostPort("example.org:80"), { host: "example.org", port: 80 });
  assert.deepEqual(parseHostPort("6000", ""), { host: "", port: 6000 });
  assert.throws(() => parseHostPort("6000"), /expected HOST:PORT/);
});

test("trace lines", () => {
  assert.equal(flagNames(Flag.SYN | Flag.ACK), "SYN|ACK");
  assert.equal(flagNames(0), "-");
  const peer = { address: "127.0.0.1", port: 1 };
  const base = { time: 0, conn: 0xab, peer, size: 100 };
  assert.equal(
    formatTraceLine({ ...base, event: "send", flags: Flag.ACK | Flag.DATA, seq: 7, ack: 9, retransmit: true }),
    "SEND 7 9 000000ab ACK|DATA DUP",
  );
  assert.equal(formatTraceLine({ ...base, event: "recv", flags: Flag.ACK, ack: 9 }), "RECV - 9 000000ab ACK");
  assert.equal(
    formatTraceLine({ ...base, event: "drop", flags: Flag.ACK | Flag.DATA, seq: 3, reason: "corrupt" }),
    "DROP 3 - 000000ab ACK|DATA corrupt",
  );
});
