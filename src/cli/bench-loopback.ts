/**
 * `rudp bench`'s loopback scenario: real sockets on 127.0.0.1. For each variant a fresh receiver process
 * (`rudp bench --serve VARIANT`) starts, this process sends it an untimed warm-up transfer and then the
 * timed one, and the receiver reports the byte count, CRC-32 and its CPU time of each.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { connect } from "../api/connect.js";
import type { Socket } from "../api/socket.js";
import { BLAST_HEADER, blastSend, openBlastSocket } from "./bench-blast.js";
import { benchChunks, expectedCrc, pump } from "./bench-data.js";
import { ReportQueue } from "./bench-reports.js";
import { LOOPBACK_VARIANTS, type LoopbackVariant, type ServeReport } from "./bench-variants.js";
import { describeError } from "./command.js";

/** Bytes of the untimed transfer before each timed one, so that both processes run optimized code. */
export const WARMUP_BYTES = 8 * 2 ** 20;

const GIB = 2 ** 30;

/** The outcome of one loopback variant. */
export interface LoopbackResult {
  id: LoopbackVariant["id"];
  label: string;
  ok: boolean;
  /** Why the run failed. */
  error?: string;
  /** Bytes sent in the timed transfer. */
  bytes: number;
  /** The receiver counted `bytes` bytes with the CRC-32 of what was sent. */
  verified: boolean;
  /** From the first write to the receiver's report. */
  seconds: number;
  /** Goodput in 10^6 bytes per second. */
  goodputMBps: number;
  /** CPU seconds (user + system) per GiB moved: sender, receiver (checksum excluded), both. */
  cpuSecondsPerGiB: { sender: number; receiver: number; both: number };
  /** rudp: retransmissions per first transmission, %. */
  retransmitPercent?: number;
  /** Payload bytes per data packet at the end (rudp), or per datagram (the blast). */
  mss?: number;
}

/** Settings of the loopback scenario. */
export interface LoopbackOptions {
  bytes: number;
  /** The sender's congestion controller (undefined: rudp's default). */
  congestionControl: string | undefined;
  log: (line: string) => void;
}

/** Runs every loopback variant in turn. */
export async function runLoopback(o: LoopbackOptions): Promise<LoopbackResult[]> {
  const results: LoopbackResult[] = [];
  for (const v of LOOPBACK_VARIANTS) {
    o.log(`loopback: ${v.label}…`);
    const r = await runVariant(v, o);
    o.log(
      r.ok
        ? `loopback: ${v.label}: ${r.goodputMBps.toFixed(0)} MB/s, CPU ${r.cpuSecondsPerGiB.both.toFixed(2)} s/GiB`
        : `loopback: ${v.label}: FAILED: ${r.error}`,
    );
    results.push(r);
  }
  return results;
}

/** The receiving child process and the reports it printed. */
class Receiver {
  readonly child: ChildProcess;
  readonly reports = new ReportQueue<ServeReport>();

  constructor(variant: LoopbackVariant) {
    this.child = spawn(process.execPath, [...process.execArgv, process.argv[1], "bench", "--serve", variant.id], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    this.child.stdin?.on("error", () => {});
    if (this.child.stdout)
      createInterface({ input: this.child.stdout }).on("line", (line) => {
        let report: ServeReport;
        try {
          report = JSON.parse(line) as ServeReport;
        } catch {
          return;
        }
        this.reports.push(report);
      });
    this.child.on("exit", (code) => this.reports.end(`receiver exited (code ${code})`));
  }

  /** The next report of `type`; an "error" report, the child's exit or `signal` rejects. */
  next<T extends ServeReport["type"]>(type: T, signal: AbortSignal): Promise<Extract<ServeReport, { type: T }>> {
    return this.reports.next(type, signal);
  }

  /** Closes its stdin, which ends it; kills it if it is still there after 3 s. */
  async stop(): Promise<void> {
    if (this.reports.ended) return;
    const exited = once(this.child, "exit").catch(() => {});
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await exited;
    clearTimeout(timer);
  }
}

/** One transfer as the sender saw it, with the receiver's report. */
interface Transfer {
  seconds: number;
  cpuSeconds: number;
  done: Extract<ServeReport, { type: "done" }>;
  retransmitPercent?: number;
  mss?: number;
}

type Ready = Extract<ServeReport, { type: "ready" }>;

async function runVariant(v: LoopbackVariant, o: LoopbackOptions): Promise<LoopbackResult> {
  const result: LoopbackResult = {
    id: v.id,
    label: v.label,
    ok: false,
    bytes: o.bytes,
    verified: false,
    seconds: Number.NaN,
    goodputMBps: Number.NaN,
    cpuSecondsPerGiB: { sender: Number.NaN, receiver: Number.NaN, both: Number.NaN },
  };
  // Generous: 30 s plus 1 s per MiB (1 MB/s would already be a failure worth reporting).
  const signal = AbortSignal.timeout(Math.ceil(30_000 + ((o.bytes + WARMUP_BYTES) / 2 ** 20) * 1000));
  const receiver = new Receiver(v);
  try {
    const ready = await receiver.next("ready", signal);
    const transfer = async (bytes: number): Promise<Transfer> => {
      const t =
        v.kind === "rudp"
          ? await rudpTransfer(v, o.congestionControl, ready, bytes, receiver, signal)
          : await blastTransfer(v, ready, bytes, receiver, signal);
      if (t.done.lost) throw new Error(`${t.done.lost} datagrams lost (${t.done.bytes} of ${bytes} bytes received)`);
      if (t.done.bytes !== bytes) throw new Error(`the receiver counted ${t.done.bytes} of ${bytes} bytes`);
      if (t.done.crc !== expectedCrc(bytes)) throw new Error("CRC-32 mismatch: the data arrived corrupted");
      return t;
    };
    await transfer(Math.min(WARMUP_BYTES, o.bytes));
    const t = await transfer(o.bytes);
    const gib = o.bytes / GIB;
    return {
      ...result,
      ok: true,
      verified: true,
      seconds: t.seconds,
      goodputMBps: o.bytes / t.seconds / 1e6,
      cpuSecondsPerGiB: {
        sender: t.cpuSeconds / gib,
        receiver: t.done.cpuSeconds / gib,
        both: (t.cpuSeconds + t.done.cpuSeconds) / gib,
      },
      ...(t.retransmitPercent === undefined ? {} : { retransmitPercent: t.retransmitPercent }),
      ...(t.mss === undefined ? {} : { mss: t.mss }),
    };
  } catch (err) {
    return { ...result, error: describeError(err) };
  } finally {
    await receiver.stop();
  }
}

/** Sends `bytes` over a new rudp connection (connect from the public API) and waits for the receiver's report. */
async function rudpTransfer(
  v: LoopbackVariant,
  congestionControl: string | undefined,
  ready: Ready,
  bytes: number,
  receiver: Receiver,
  signal: AbortSignal,
): Promise<Transfer> {
  const socket = connect({
    port: ready.port,
    host: "127.0.0.1",
    ...v.options,
    ...(congestionControl === undefined ? {} : { congestionControl }),
  });
  const closed = once(socket, "close").catch(() => {});
  const broken = new Promise<never>((_, reject) => socket.once("error", reject));
  broken.catch(() => {});
  try {
    await Promise.race([once(socket, "connect"), broken]);
    const started = performance.now();
    const cpu = process.cpuUsage();
    pump(socket, bytes);
    const done = await Promise.race([receiver.next("done", signal), broken]);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    const s = statsOf(socket);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
    return {
      seconds,
      cpuSeconds: (used.user + used.system) / 1e6,
      done,
      ...(s && {
        retransmitPercent: s.segmentsSent > 0 ? (100 * s.retransmits) / s.segmentsSent : 0,
        mss: s.mss,
      }),
    };
  } finally {
    socket.destroy();
  }
}

/** The connection's statistics, or undefined once it has closed. */
function statsOf(socket: Socket): ReturnType<Socket["stats"]> | undefined {
  try {
    return socket.stats();
  } catch {
    return undefined;
  }
}

/** Blasts `bytes` over node:dgram at the variant's datagram size and waits for the receiver's report. */
async function blastTransfer(
  v: LoopbackVariant,
  ready: Ready,
  bytes: number,
  receiver: Receiver,
  signal: AbortSignal,
): Promise<Transfer> {
  const size = v.datagramSize ?? 1200;
  const socket = await openBlastSocket();
  socket.on("error", () => {});
  try {
    await new Promise<void>((resolve) => socket.connect(ready.port, "127.0.0.1", resolve));
    const started = performance.now();
    const cpu = process.cpuUsage();
    blastSend(socket, bytes, size, ready.window ?? 4, benchChunks(bytes));
    const done = await receiver.next("done", signal);
    const seconds = (performance.now() - started) / 1000;
    const used = process.cpuUsage(cpu);
    return { seconds, cpuSeconds: (used.user + used.system) / 1e6, done, mss: size - BLAST_HEADER };
  } finally {
    socket.close();
  }
}
