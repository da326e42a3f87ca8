/**
 * Scenario 1: one-way bulk transfer over real sockets on 127.0.0.1. This
 * process sends; a forked child (bench/peer.ts) receives, verifies the byte
 * count and a CRC-32, and reports its CPU time. Each run first makes an
 * untimed warm-up transfer on its own connection. Transports: rudp with its
 * default 1200-byte datagrams, rudp with 64 KB datagrams, udx-native, kernel
 * TCP, and for reference a credit-flow-controlled node:dgram blast at both
 * datagram sizes (src/cli/bench-blast.ts, the one `rudp bench` runs). The data
 * is `rudp bench`'s too (src/cli/bench-data.ts). Runs are interleaved (run 1 of
 * each transport, then run 2...).
 */

import { type ChildProcess, fork } from "node:child_process";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import net from "node:net";
import { BLAST_SOCKET_BUFFER, blastSend, openBlastSocket } from "../src/cli/bench-blast.js";
import { benchChunks, expectedCrc, pump } from "../src/cli/bench-data.js";
import { ReportQueue } from "../src/cli/bench-reports.js";
import { connect, DEFAULT_CONFIG, NodeRuntime, type Socket } from "../src/index.js";
import { loadUdx } from "./udx.js";

/** Messages from the parent to bench/peer.ts. */
export type PeerCommand =
  | {
      cmd: "listen";
      transport: Kind;
      maxPacketSize?: number;
      encrypted?: boolean;
      datapath?: "dgram";
      offloads?: false;
    }
  /** udx: create stream `localId` in the receiver, connected to the sender's stream `remoteId` at `port`. */
  | { cmd: "udx-peer"; port: number; localId: number; remoteId: number };

/** Messages from bench/peer.ts to the parent. */
export type PeerReport =
  /** Listening; for the dgram blast, the credit window the sender starts with. */
  | { type: "ready"; port: number; window?: number }
  | { type: "udx-connected" }
  | { type: "error"; message: string }
  | {
      type: "done";
      bytes: number;
      crc: number;
      /** CPU seconds of the receiving process during the transfer. */
      cpuUser: number;
      cpuSystem: number;
      /** Seconds the receiver spent computing the checksum (excluded from its CPU figure). */
      checksumSeconds: number;
      /** udx: the stream's MTU. */
      mtu?: number;
      /** dgram blast: datagrams that never arrived. */
      lost?: number;
    };

type Kind = "rudp" | "udx" | "tcp" | "dgram";

/** One transport under test. */
export interface Transport {
  id:
    | "rudp-1200"
    | "rudp-64k"
    | "rudp-1200-dgram"
    | "rudp-1200-no-offload"
    | "rudp-64k-dgram"
    | "rudp-1200-enc"
    | "rudp-64k-enc"
    | "udx"
    | "tcp"
    | "dgram-1200"
    | "dgram-64k";
  label: string;
  kind: Kind;
  /** rudp's `maxPacketSize`; the dgram blast's datagram size (UDP payload, header included). */
  maxPacketSize?: number;
  /** rudp with a pre-shared key (Noise NNpsk0, ChaCha20-Poly1305). */
  encrypted?: boolean;
  /** rudp over node:dgram even when the native datapath is built (both ends). */
  datapath?: "dgram";
  /** The native datapath without UDP GSO and GRO (both ends). */
  offloads?: false;
}

/** The runtime of a transport's rudp sockets: the default one, a node:dgram one, or one without offloads. */
export function runtimeFor(t: { datapath?: "dgram"; offloads?: false }): { runtime?: NodeRuntime } {
  if (t.datapath === "dgram") {
    dgramRuntime ??= new NodeRuntime({ datapath: "dgram" });
    return { runtime: dgramRuntime };
  }
  if (t.offloads === false) {
    plainRuntime ??= new NodeRuntime({ offloads: false });
    return { runtime: plainRuntime };
  }
  return {};
}
let dgramRuntime: NodeRuntime | undefined;
let plainRuntime: NodeRuntime | undefined;

/** The pre-shared key of the encrypted runs (both processes know it). */
export const BENCH_PSK = new Uint8Array(32).fill(0x42);

/** The `encryption` option of an encrypted transport, for both sides. */
export function encryptionFor(t: { encrypted?: boolean }): { encryption?: { psk: Uint8Array } } {
  return t.encrypted ? { encryption: { psk: BENCH_PSK } } : {};
}

export const TRANSPORTS: readonly Transport[] = [
  { id: "rudp-1200", label: "rudp, 1200 B datagrams (PMTUD off)", kind: "rudp", maxPacketSize: 1200 },
  {
    id: "rudp-64k",
    label: "rudp, 64 KB datagrams (the size PMTUD reaches on loopback; fixed here)",
    kind: "rudp",
    maxPacketSize: 65000,
  },
  {
    id: "rudp-1200-dgram",
    label: "rudp over node:dgram (no native datapath), 1200 B datagrams",
    kind: "rudp",
    maxPacketSize: 1200,
    datapath: "dgram",
  },
  {
    id: "rudp-1200-no-offload",
    label: "rudp, 1200 B datagrams, native datapath without UDP GSO/GRO",
    kind: "rudp",
    maxPacketSize: 1200,
    offloads: false,
  },
  {
    id: "rudp-64k-dgram",
    label: "rudp over node:dgram (no native datapath), 64 KB datagrams",
    kind: "rudp",
    maxPacketSize: 65000,
    datapath: "dgram",
  },
  {
    id: "rudp-1200-enc",
    label: "rudp encrypted, 1200 B datagrams (PMTUD off)",
    kind: "rudp",
    maxPacketSize: 1200,
    encrypted: true,
  },
  {
    id: "rudp-64k-enc",
    label: "rudp encrypted, 64 KB datagrams",
    kind: "rudp",
    maxPacketSize: 65000,
    encrypted: true,
  },
  { id: "udx", label: "udx-native streams (default MTU)", kind: "udx" },
  { id: "tcp", label: "kernel TCP (node:net)", kind: "tcp" },
  { id: "dgram-1200", label: "Node dgram credit blast, 1200 B", kind: "dgram", maxPacketSize: 1200 },
  { id: "dgram-64k", label: "Node dgram credit blast, 64 KB", kind: "dgram", maxPacketSize: 65000 },
];

/**
 * Transport options that fix rudp's datagram size: `maxPacketSize`, plus `maxProbePacketSize` (path MTU
 * discovery off) when the core has that option. The API ignores options it does not know.
 */
export function pinnedPacketSize(size: number | undefined): Record<string, number> {
  if (size === undefined) return {};
  return "maxProbePacketSize" in DEFAULT_CONFIG
    ? { maxPacketSize: size, maxProbePacketSize: size }
    : { maxPacketSize: size };
}

/** The outcome of one run of one transport. */
export interface RunResult {
  ok: boolean;
  /** Why the run failed or was skipped. */
  error?: string;
  skipped?: boolean;
  seconds: number;
  /** Goodput, 10^6 bytes per second. */
  mbps: number;
  /** CPU seconds (user + system) of sender and receiver during the transfer (receiver without its checksum). */
  cpuSender: number;
  cpuReceiver: number;
  checksumSeconds: number;
  /** rudp only: the sender's retransmissions per first transmission (%) and timeouts. */
  retransmitPercent?: number;
  rtoCount?: number;
  /** rudp only: payload bytes per data packet at the end of the transfer. */
  mss?: number;
  /** udx only: the stream's MTU. */
  mtu?: number;
  /** Kernel UDP receive-buffer drops during the run (system-wide, Linux only). */
  rcvbufErrors?: number;
  /** dgram blast only: the receiver's credit window, in datagrams. */
  window?: number;
}

export interface LoopbackOptions {
  bytes: number;
  runs: number;
}

// ----- Child process -------------------------------------------------------------------------

/** The receiver process, with a queue of its reports. */
class Peer {
  readonly child: ChildProcess;
  readonly reports = new ReportQueue<PeerReport>();

  constructor() {
    this.child = fork(new URL("./peer.ts", import.meta.url), [], {
      // BENCH_PEER_NODE_ARGS adds node flags to the receiver, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
      execArgv: ["--import", "tsx", ...(process.env.BENCH_PEER_NODE_ARGS?.split(" ").filter(Boolean) ?? [])],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (m: PeerReport) => this.reports.push(m));
    this.child.on("exit", () => this.reports.end("receiver exited"));
  }

  send(cmd: PeerCommand): void {
    this.child.send(cmd);
  }

  /** The next report of `type` (an "error" report or the child's exit rejects). */
  next<T extends PeerReport["type"]>(type: T, signal: AbortSignal): Promise<Extract<PeerReport, { type: T }>> {
    return this.reports.next(type, signal);
  }

  /** Lets the child exit (or kills it after 3 s). */
  async stop(): Promise<void> {
    if (this.reports.ended) return;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 3000);
    await once(this.child, "exit").catch(() => {});
    clearTimeout(timer);
  }
}

/** UDP RcvbufErrors from /proc/net/snmp (undefined off Linux). */
function rcvbufErrors(): number | undefined {
  try {
    const lines = readFileSync("/proc/net/snmp", "utf8")
      .split("\n")
      .filter((l) => l.startsWith("Udp:"));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    const v = Number(values[names.indexOf("RcvbufErrors")]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

// ----- Senders -----------------------------------------------------------------------------------

/**
 * Kernel buffers of udx's UDP sockets: the same as rudp's default (`udpRecvBufferSize`/`udpSendBufferSize`)
 * and the dgram blast's.
 */
export const UDX_SOCKET_BUFFER = BLAST_SOCKET_BUFFER;

/** A transfer under way, seen from the sender. */
interface Sending {
  started: number;
  cpu: NodeJS.CpuUsage;
  /** Settles once the sending side has fully closed. */
  closed: Promise<unknown>;
  /** Sender-side statistics (rudp; the dgram blast's credit window). */
  stats: () => Partial<RunResult>;
  /** Called once the receiver has reported: closes what does not close by itself (the dgram blast's socket). */
  finish?: () => void;
}

/** Opens the sending side and starts writing `total` bytes. */
async function startSender(
  t: Transport,
  peer: Peer,
  ready: Extract<PeerReport, { type: "ready" }>,
  total: number,
  udxIds: number,
  signal: AbortSignal,
  cleanup: (() => void)[],
): Promise<Sending> {
  const { port } = ready;
  if (t.kind === "rudp") {
    const socket: Socket = connect({
      port,
      host: "127.0.0.1",
      ...pinnedPacketSize(t.maxPacketSize),
      ...encryptionFor(t),
      ...runtimeFor(t),
    });
    cleanup.push(() => socket.destroy());
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    socket.on("error", () => {}); // reported through the receiver or the timeout
    const stats = (): Partial<RunResult> => {
      try {
        const s = socket.stats();
        return {
          retransmitPercent: s.segmentsSent > 0 ? (100 * s.retransmits) / s.segmentsSent : 0,
          rtoCount: s.rtoCount,
          mss: s.mss,
        };
      } catch {
        return {};
      }
    };
    const started = performance.now();
    const cpu = process.cpuUsage();
    pump(socket, total);
    return { started, cpu, closed, stats };
  }
  if (t.kind === "tcp") {
    const socket = net.connect({ port, host: "127.0.0.1" });
    cleanup.push(() => socket.destroy());
    socket.on("error", () => {});
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    await once(socket, "connect");
    socket.resume(); // nothing comes back, but read the FIN so the socket closes
    const started = performance.now();
    const cpu = process.cpuUsage();
    pump(socket, total);
    return { started, cpu, closed, stats: () => ({}) };
  }
  if (t.kind === "dgram") {
    // A new socket (port) per transfer: the receiver tells transfers apart by the sender's port.
    const socket = await openBlastSocket();
    socket.on("error", () => {}); // reported through the receiver or the timeout
    let open = true;
    const close = () => {
      if (open) socket.close();
      open = false;
    };
    cleanup.push(close);
    await new Promise<void>((resolve) => socket.connect(port, "127.0.0.1", resolve));
    const started = performance.now();
    const cpu = process.cpuUsage();
    blastSend(socket, total, t.maxPacketSize ?? 1200, ready.window ?? 4, benchChunks(total));
    // The blast has no close handshake: the socket closes once the receiver has reported.
    return { started, cpu, closed: Promise.resolve(), stats: () => ({ window: ready.window }), finish: close };
  }
  const UDX = await loadUdx();
  if (!UDX) throw new Error("udx-native not installed");
  const udx = new UDX();
  const socket = udx.createSocket();
  socket.bind(0, "127.0.0.1");
  socket.setRecvBufferSize(UDX_SOCKET_BUFFER);
  socket.setSendBufferSize(UDX_SOCKET_BUFFER);
  cleanup.push(() => void socket.close().catch(() => {}));
  // udx has no handshake: the receiver connects its stream to ours before any data is sent.
  const local = udxIds;
  const remote = udxIds + 1;
  peer.send({ cmd: "udx-peer", port: socket.address().port, localId: remote, remoteId: local });
  await peer.next("udx-connected", signal);
  const stream = udx.createStream(local);
  stream.on("error", () => {});
  stream.on("data", () => {});
  const closed = new Promise<void>((resolve) => stream.once("close", resolve)).then(() => socket.close());
  cleanup.push(() => stream.destroy());
  stream.connect(socket, remote, port, "127.0.0.1");
  const started = performance.now();
  const cpu = process.cpuUsage();
  pump(stream, total);
  return { started, cpu, closed, stats: () => ({}) };
}

/** Untimed transfer at the start of every run, so that both processes run JIT-compiled code when timing starts. */
export const WARMUP_BYTES = 8 * 2 ** 20;

/** One run of one transport: a fresh receiver process, a warm-up transfer, then the timed transfer, verified. */
export async function runOnce(t: Transport, total: number): Promise<RunResult> {
  const failed = (error: string): RunResult => ({
    ok: false,
    error,
    seconds: Number.NaN,
    mbps: Number.NaN,
    cpuSender: Number.NaN,
    cpuReceiver: Number.NaN,
    checksumSeconds: Number.NaN,
  });
  if (t.kind === "udx" && !(await loadUdx())) return { ...failed("skipped: udx-native not installed"), skipped: true };
  const peer = new Peer();
  const cleanup: (() => void)[] = [];
  // Generous: 20 s plus 1 s per MiB (1 MB/s would already be a failure worth reporting).
  const timeout = AbortSignal.timeout(20_000 + ((total + WARMUP_BYTES) / 2 ** 20) * 1000);
  try {
    peer.send({
      cmd: "listen",
      transport: t.kind,
      maxPacketSize: t.maxPacketSize,
      encrypted: t.encrypted,
      datapath: t.datapath,
      offloads: t.offloads,
    });
    const ready = await peer.next("ready", timeout);
    /** One transfer on a new connection: timed, checked against the expected size and CRC. */
    const transfer = async (bytes: number, udxIds: number) => {
      const drops = rcvbufErrors();
      const sender = await startSender(t, peer, ready, bytes, udxIds, timeout, cleanup);
      const done = await peer.next("done", timeout);
      const seconds = (performance.now() - sender.started) / 1000;
      const cpu = process.cpuUsage(sender.cpu);
      const dropsAfter = rcvbufErrors();
      const stats = sender.stats();
      sender.finish?.();
      // Let both ends finish closing before going on (not timed).
      await Promise.race([sender.closed, new Promise((r) => setTimeout(r, 5000))]);
      if (done.lost) throw new Error(`lost ${done.lost} datagrams (${done.bytes} of ${bytes} bytes received)`);
      if (done.bytes !== bytes) throw new Error(`received ${done.bytes} of ${bytes} bytes`);
      const expected = expectedCrc(bytes);
      if (done.crc !== expected) throw new Error(`checksum mismatch: ${done.crc} != ${expected}`);
      return {
        done,
        seconds,
        cpu,
        stats,
        drops: drops !== undefined && dropsAfter !== undefined ? dropsAfter - drops : undefined,
      };
    };
    await transfer(Math.min(WARMUP_BYTES, total), 1);
    const { done, seconds, cpu, stats, drops } = await transfer(total, 3);
    return {
      ok: true,
      seconds,
      mbps: total / seconds / 1e6,
      cpuSender: (cpu.user + cpu.system) / 1e6,
      cpuReceiver: done.cpuUser + done.cpuSystem - done.checksumSeconds,
      checksumSeconds: done.checksumSeconds,
      mtu: done.mtu,
      rcvbufErrors: drops,
      ...stats,
    };
  } catch (err) {
    return failed((err as Error).message);
  } finally {
    for (const c of cleanup) c();
    await peer.stop();
  }
}

/** All runs of all transports, interleaved; `log` gets one line per run. */
export async function loopbackScenario(
  o: LoopbackOptions,
  log: (line: string) => void,
): Promise<Map<Transport["id"], RunResult[]>> {
  const results = new Map<Transport["id"], RunResult[]>(TRANSPORTS.map((t) => [t.id, []]));
  for (let run = 1; run <= o.runs; run++) {
    for (const t of TRANSPORTS) {
      const r = await runOnce(t, o.bytes);
      results.get(t.id)?.push(r);
      log(
        r.ok
          ? `  run ${run} ${t.id}: ${r.mbps.toFixed(0)} MB/s, CPU ${r.cpuSender.toFixed(2)} + ${r.cpuReceiver.toFixed(2)} s` +
              (r.retransmitPercent !== undefined ? `, ${r.retransmitPercent.toFixed(2)}% retransmitted` : "")
          : `  run ${run} ${t.id}: ${r.error}`,
      );
    }
  }
  return results;
}
