#!/usr/bin/env node
/**
 * The `rudp` command line. Subcommands grow with the project; today: `demo`.
 */

import { readFileSync } from "node:fs";
import { runDemo } from "./demo.js";
import { parseDuration, parseProbability, parseRate, parseSize } from "./units.js";

const HELP = `Usage: rudp <command> [options]

Reliable, connection-oriented transport over UDP.

Commands:
  demo          Transfer data across a simulated lossy link and show what the protocol did

Options:
  -h, --help     Show help (also: rudp <command> --help)
  -v, --version  Show the version

Examples:
  rudp demo
  rudp demo --size 32MiB --loss 10% --delay 40ms
`;

const DEMO_HELP = `Usage: rudp demo [options]

Sends data between two rudp endpoints across a simulated link (virtual time,
seeded, so every run with the same options is identical), verifies it with
SHA-256 and prints a summary.

Options:
  --size SIZE      bytes to send            (default 8MiB)
  --loss P         random loss each way     (default 5%)
  --delay TIME     one-way delay            (default 20ms)
  --jitter TIME    delay variation          (default 5ms)
  --rate RATE      bottleneck rate          (default 100mbit)
  --seed N         simulation seed          (default 1)

Examples:
  rudp demo --size 64MiB --loss 1%
  rudp demo --loss 20% --delay 100ms --rate 10mbit
`;

/** A usage error: printed with a hint, exit code 2. */
class UsageError extends Error {}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

function parseOptions(args: string[], spec: Record<string, (v: string) => unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}"`);
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const parse = spec[name];
    if (!parse) throw new UsageError(`unknown option "--${name}"`);
    const value = eq < 0 ? args[++i] : arg.slice(eq + 1);
    if (value === undefined) throw new UsageError(`option "--${name}" needs a value`);
    try {
      out[name] = parse(value);
    } catch (err) {
      throw new UsageError(`--${name}: ${(err as Error).message}`);
    }
  }
  return out;
}

function main(argv: string[]): number {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    process.stdout.write(HELP);
    return 0;
  }
  if (command === "-v" || command === "--version") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (command === "demo") {
    if (rest.includes("--help") || rest.includes("-h")) {
      process.stdout.write(DEMO_HELP);
      return 0;
    }
    const o = parseOptions(rest, {
      size: parseSize,
      loss: parseProbability,
      delay: parseDuration,
      jitter: parseDuration,
      rate: parseRate,
      seed: (v) => {
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new RangeError(`invalid seed "${v}"`);
        return n;
      },
    });
    const result = runDemo({
      bytes: (o.size as number) ?? 8 * 1024 * 1024,
      loss: (o.loss as number) ?? 0.05,
      delayMs: (o.delay as number) ?? 20,
      jitterMs: (o.jitter as number) ?? 5,
      rateBitsPerSecond: (o.rate as number) ?? 100e6,
      seed: (o.seed as number) ?? 1,
      out: (line) => process.stdout.write(`${line}\n`),
    });
    return result.verified ? 0 : 1;
  }
  throw new UsageError(`unknown command "${command}"`);
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`rudp: ${err.message}\nRun "rudp --help" for usage.\n`);
    process.exitCode = 2;
  } else {
    throw err;
  }
}
