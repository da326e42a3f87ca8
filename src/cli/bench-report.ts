/** What `rudp bench` prints: the machine it ran on, and a table per scenario. */

import { readFileSync } from "node:fs";
import os from "node:os";
import { nodeRuntime } from "../api/defaults.js";
import { MS } from "../core/index.js";
import type { LoopbackResult } from "./bench-loopback.js";
import { LOSSY_PATH, LOSSY_RECEIVE_WINDOW, type LossyResult } from "./bench-lossy.js";
import { formatBytes } from "./units.js";

/** The machine and runtime a benchmark ran on. */
export interface Machine {
  cpu: string;
  cores: number;
  node: string;
  platform: string;
  arch: string;
  rudp: string;
  /** How rudp's sockets reach the network here: "native" (the addon) or "dgram". */
  datapath: string;
}

/** Describes this machine. */
export function describeMachine(): Machine {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
  return {
    cpu: os.cpus()[0]?.model.trim() ?? "unknown CPU",
    cores: os.availableParallelism(),
    node: process.version,
    platform: os.platform(),
    arch: os.arch(),
    rudp: pkg.version,
    datapath: nodeRuntime().datapath,
  };
}

/** What the numbers are, and where the comparison with other transports lives. */
export const BENCH_NOTE =
  'rudp alone, on this machine. "npm run bench" (in the rudp source repository) is the full comparison ' +
  "against udx-native and kernel TCP.";

/** The header lines: machine, runtime, and BENCH_NOTE. */
export function headerLines(m: Machine): string[] {
  return [
    `rudp bench (rudp ${m.rudp}): ${m.cpu}, ${m.cores} cores, node ${m.node} on ${m.platform} ${m.arch}, ${m.datapath} datapath`,
    BENCH_NOTE,
  ];
}

/** The loopback table, with a line saying whether every transfer arrived whole. */
export function loopbackLines(
  runs: readonly LoopbackResult[],
  bytes: number,
  warmupBytes: number,
  congestionControl: string,
): string[] {
  const width = Math.max(...runs.map((r) => r.label.length), 3);
  const num = (x: number | undefined, digits: number, w: number): string =>
    (x === undefined || !Number.isFinite(x) ? "-" : x.toFixed(digits)).padStart(w);
  const lines = [
    `Loopback (127.0.0.1, real sockets): ${formatBytes(bytes)} one way after an untimed ${formatBytes(warmupBytes)} ` +
      `warm-up, to a receiver in a child process that checks the byte count and CRC-32; rudp with ${congestionControl}`,
    `  ${"run".padEnd(width)}     goodput   CPU s/GiB: sender  receiver   both   retransmitted     MSS`,
  ];
  for (const r of runs) {
    if (!r.ok) {
      lines.push(`  ${r.label.padEnd(width)}  FAILED: ${r.error}`);
      continue;
    }
    const retx = r.retransmitPercent === undefined ? "-" : `${r.retransmitPercent.toFixed(2)}%`;
    lines.push(
      `  ${r.label.padEnd(width)}  ${num(r.goodputMBps, r.goodputMBps < 10 ? 1 : 0, 5)} MB/s  ${num(r.cpuSecondsPerGiB.sender, 2, 17)}` +
        `  ${num(r.cpuSecondsPerGiB.receiver, 2, 8)}  ${num(r.cpuSecondsPerGiB.both, 2, 5)}  ${retx.padStart(14)}  ${num(r.mss, 0, 6)}`,
    );
  }
  lines.push(
    runs.every((r) => r.verified)
      ? "  verified: every transfer arrived whole (byte count and CRC-32 match)"
      : "  FAILED: not every transfer arrived whole",
    "  goodput: 10^6 bytes/s from the first write to the receiver's report. The node:dgram blast has no",
    "  reliability or congestion control (only credit from the receiver): about the most a Node transport",
    "  on node:dgram can move with 1200-byte datagrams.",
  );
  return lines;
}

/** The lossy-path table. */
export function lossyLines(
  runs: readonly LossyResult[],
  congestionControl: string,
  seconds: number,
  seed: number,
): string[] {
  const lines = [
    `Lossy path (simulated, virtual time, seed ${seed}): ${LOSSY_PATH.rate / 1e6} Mbit/s, ` +
      `${(2 * LOSSY_PATH.delay) / MS} ms RTT, ${LOSSY_PATH.queueBytes / 1000} KB drop-tail queue, ${LOSSY_PATH.mtu} B MTU, ` +
      `${formatBytes(LOSSY_RECEIVE_WINDOW)} receive window; ${congestionControl} sends for ${seconds} s at each loss rate`,
    "  loss each way   goodput, % of link   retransmitted",
  ];
  for (const r of runs)
    lines.push(
      `  ${`${+(r.loss * 100).toFixed(2)}%`.padStart(13)}   ${r.goodputPercent.toFixed(1).padStart(18)}` +
        `   ${`${r.retransmitPercent.toFixed(2)}%`.padStart(13)}`,
    );
  lines.push("  goodput: bytes delivered in order, from the receiver's first byte to the end of the run.");
  return lines;
}
