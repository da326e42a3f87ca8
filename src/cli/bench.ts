/** `rudp bench`: rudp's throughput and CPU cost on loopback, and its goodput across a simulated lossy path. */

import { DEFAULT_CONFIG, MS } from "../core/index.js";
import { expectPositionals, parseArgs, UsageError } from "./args.js";
import { type LoopbackResult, runLoopback, WARMUP_BYTES } from "./bench-loopback.js";
import { LOSS_RATES, LOSSY_PATH, type LossyResult, runLossy } from "./bench-lossy.js";
import { BENCH_NOTE, describeMachine, headerLines, loopbackLines, lossyLines } from "./bench-report.js";
import { serveBench } from "./bench-serve.js";
import { type LoopbackVariant, parseVariant } from "./bench-variants.js";
import type { Command } from "./command.js";
import { parseController } from "./send.js";
import { parseSize } from "./units.js";

const USAGE = "rudp bench [--size 64MiB] [--only loopback,lossy] [--cc cubic|bbr|newreno] [--json]";

const HELP = `Usage: ${USAGE}

Measures rudp on this machine, in two scenarios:

  loopback  real sockets on 127.0.0.1: this process sends SIZE bytes with
            rudp's public API to a receiver it starts as a child process,
            which checks the byte count and CRC-32 (a mismatch exits 1).
            Twice: with rudp's defaults (path MTU discovery reaches 64 KB
            datagrams on loopback) and with 1200-byte datagrams. A raw
            node:dgram blast at 1200 bytes (no reliability) shows the most a
            Node transport can move at that size. Reports goodput (MB/s,
            10^6 bytes/s), CPU seconds per GiB of each process, the share of
            packets retransmitted and the final MSS.
  lossy     the simulator (virtual time, seeded: the same numbers every run):
            a 100 Mbit/s, 50 ms RTT path with a 625 KB drop-tail queue and a
            1472-byte MTU, at 0, 1, 5 and 10% random loss each way; reports
            goodput as a share of the link.

Prints a table on stdout and progress on stderr. "npm run bench" (in the
rudp source repository) is the full comparison against udx-native and kernel
TCP.

Options:
  --size SIZE        bytes per loopback transfer       (default 64MiB)
  --only LIST        scenarios to run, comma-separated: loopback, lossy
                     (default both)
  --cc NAME          congestion control: cubic, bbr, newreno
                     (default: bbr on the lossy path, rudp's default, cubic,
                     on loopback)
  --seconds N        virtual seconds of each lossy run (default 20)
  --json             print one JSON object instead of the tables
  -q, --quiet        no progress on stderr

Examples:
  rudp bench
  rudp bench --size 256MiB --only loopback
  rudp bench --only lossy --cc cubic      # a loss-based controller, for comparison
  rudp bench --json > bench.json
`;

const SCENARIOS = ["loopback", "lossy"] as const;
type Scenario = (typeof SCENARIOS)[number];

/** The seed of the lossy runs. */
const SEED = 1;

function parseScenarios(text: string): Scenario[] {
  const names = text.split(",").map((s) => s.trim());
  for (const n of names)
    if (!(SCENARIOS as readonly string[]).includes(n))
      throw new RangeError(`unknown scenario "${n}" (choose ${SCENARIOS.join(", ")})`);
  return names as Scenario[];
}

function parseBenchSize(text: string): number {
  const n = parseSize(text);
  if (n < 1) throw new RangeError(`size "${text}" must be at least 1 byte`);
  return n;
}

function parseSeconds(text: string): number {
  const n = Number(text);
  if (!/^[0-9]*\.?[0-9]+$/.test(text) || !(n > 0) || n > 3600)
    throw new RangeError(`invalid duration "${text}" (virtual seconds, more than 0 and at most 3600)`);
  return n;
}

/** Everything `rudp bench --json` prints. */
export interface BenchResult {
  machine: ReturnType<typeof describeMachine>;
  note: string;
  loopback?: { bytes: number; warmupBytes: number; congestionControl: string; runs: LoopbackResult[] };
  lossy?: {
    path: { rateBitsPerSecond: number; rttMs: number; queueBytes: number; mtu: number };
    congestionControl: string;
    seconds: number;
    seed: number;
    runs: LossyResult[];
  };
  /** Every loopback transfer arrived whole. */
  ok: boolean;
}

/** The `rudp bench` command. */
export const benchCommand: Command = {
  name: "bench",
  summary: "Measure rudp on this machine: loopback throughput and CPU, goodput on a simulated lossy path",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { options: o, positionals } = parseArgs(args, {
      size: { parse: parseBenchSize },
      only: { parse: parseScenarios },
      cc: { parse: parseController },
      seconds: { parse: parseSeconds },
      json: {},
      quiet: { short: "q" },
      serve: { parse: parseVariant },
    });
    expectPositionals(positionals, 0, 0, USAGE);
    if (o.serve !== undefined) return serveBench(o.serve as LoopbackVariant);
    const only = new Set((o.only as Scenario[] | undefined) ?? SCENARIOS);
    const bytes = (o.size as number | undefined) ?? 64 * 2 ** 20;
    const cc = o.cc as string | undefined;
    const seconds = (o.seconds as number | undefined) ?? 20;
    if (o.size !== undefined && !only.has("loopback"))
      throw new UsageError("--size applies to the loopback scenario, which --only leaves out");
    if (o.seconds !== undefined && !only.has("lossy"))
      throw new UsageError("--seconds applies to the lossy scenario, which --only leaves out");
    const json = o.json === true;
    const log = o.quiet === true ? () => {} : (line: string) => process.stderr.write(`${line}\n`);
    const print = json ? () => {} : (lines: string[]) => process.stdout.write(`${lines.join("\n")}\n\n`);

    const result: BenchResult = { machine: describeMachine(), note: BENCH_NOTE, ok: true };
    print(headerLines(result.machine));
    if (only.has("loopback")) {
      const congestionControl = cc ?? DEFAULT_CONFIG.congestionControl;
      const runs = await runLoopback({ bytes, congestionControl: cc, log });
      const warmupBytes = Math.min(WARMUP_BYTES, bytes);
      result.loopback = { bytes, warmupBytes, congestionControl, runs };
      result.ok = runs.every((r) => r.ok && r.verified);
      print(loopbackLines(runs, bytes, warmupBytes, cc ? congestionControl : `${congestionControl} (its default)`));
    }
    if (only.has("lossy")) {
      const congestionControl = cc ?? "bbr";
      const runs: LossyResult[] = [];
      for (const loss of LOSS_RATES) {
        const started = performance.now();
        const r = runLossy(congestionControl, loss, seconds, SEED);
        runs.push(r);
        log(
          `lossy: ${congestionControl} at ${loss * 100}% loss: ${r.goodputPercent.toFixed(1)}% of the link ` +
            `(${seconds} s virtual in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
        );
      }
      result.lossy = {
        path: {
          rateBitsPerSecond: LOSSY_PATH.rate,
          rttMs: (2 * LOSSY_PATH.delay) / MS,
          queueBytes: LOSSY_PATH.queueBytes,
          mtu: LOSSY_PATH.mtu,
        },
        congestionControl,
        seconds,
        seed: SEED,
        runs,
      };
      print(lossyLines(runs, congestionControl, seconds, SEED));
    }
    if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return result.ok ? 0 : 1;
  },
};
