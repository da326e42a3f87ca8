/**
 * Lossy links across the real impaired link: ../shared/tools/netem (a userspace netem over TUN devices in
 * two network namespaces; root only). For each loss rate it runs rudp (the built CLI with BBR and with its
 * default CUBIC, and BBR through the API with 1500-byte IP packets), udx-native and kernel TCP (BBR, CUBIC)
 * across the same emulated link: 25 ms each way, 100 Mbit/s, random loss each way, the same seed for every
 * transport. Skipped, with the reason, when the tool, root or a working `netem-link up` is missing.
 *
 * This module also holds what bench/proxy.ts shares: child processes, the transports and one transfer.
 *
 *   node --import tsx bench/netem.ts [--quick] [--runs N] [--size MiB] [--cap S] [--losses 0,1,5,10]
 */

import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { BBR_TARGETS } from "./lossy.js";
import { linkTables } from "./report.js";
import { loadUdx } from "./udx.js";

/** The project root, and the paths the scenarios run. */
export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const CLI = join(ROOT, "dist/cli/main.js");
const PEER = join(ROOT, "bench/link-peer.ts");

/** Loss rates each way, as fractions. */
export const LINK_LOSSES = [0, 0.01, 0.05, 0.1] as const;
/** The emulated link: 25 ms each way, 100 Mbit/s. */
export const LINK_DELAY_MS = 25;
export const LINK_MBIT = 100;
/** UDP payload of a 1500-byte IPv4 packet: the datagram size of the pinned rudp transport. */
export const PINNED_PACKET_SIZE = 1472;

/** One transport under test. */
export interface LinkTransport {
  id: "rudp-bbr" | "rudp-cubic" | "rudp-bbr-1472" | "udx" | "tcp-bbr" | "tcp-cubic";
  /** Short column heading. */
  label: string;
  /** What runs, for the notes. */
  description: string;
  kind: "rudp-cli" | "rudp-api" | "udx" | "tcp";
  cc?: string;
  packetSize?: number;
}

export const RUDP_BBR: LinkTransport = {
  id: "rudp-bbr",
  label: "rudp BBR (CLI)",
  description: "`rudp send --cc bbr` → `rudp recv` (the built CLI: path MTU discovery on, SHA-256 verified)",
  kind: "rudp-cli",
  cc: "bbr",
};
export const RUDP_CUBIC: LinkTransport = {
  id: "rudp-cubic",
  label: "rudp CUBIC (CLI)",
  description: "`rudp send` → `rudp recv` with the default congestion control (CUBIC)",
  kind: "rudp-cli",
};
export const RUDP_BBR_PINNED: LinkTransport = {
  id: "rudp-bbr-1472",
  label: `rudp BBR ${PINNED_PACKET_SIZE} B`,
  description: `rudp's built API (dist/) with BBR and ${PINNED_PACKET_SIZE}-byte datagrams, path MTU discovery off (bench/link-peer.ts; the CLI cannot pin the size)`,
  kind: "rudp-api",
  cc: "bbr",
  packetSize: PINNED_PACKET_SIZE,
};
export const UDX: LinkTransport = {
  id: "udx",
  label: "udx-native",
  description: "udx-native streams with their defaults, 4 MiB socket buffers (bench/link-peer.ts)",
  kind: "udx",
};
export const TCP_BBR: LinkTransport = {
  id: "tcp-bbr",
  label: "TCP BBR",
  description: "kernel TCP: the netem tool's `tcpxfer.py client --cc bbr` sending to a node:net receiver",
  kind: "tcp",
  cc: "bbr",
};
export const TCP_CUBIC: LinkTransport = {
  ...TCP_BBR,
  id: "tcp-cubic",
  label: "TCP CUBIC",
  description: "kernel TCP: `tcpxfer.py client --cc cubic` sending to a node:net receiver",
  cc: "cubic",
};

/** The outcome of one transfer. */
export interface LinkRun {
  transport: LinkTransport["id"];
  loss: number;
  /** 1-based repetition, and the link seed it used. */
  run: number;
  seed: number;
  ok: boolean;
  /** The time cap ended the transfer: goodput is what arrived until then. */
  capped: boolean;
  /** Bytes received, and the receiver's seconds from the first byte to the last (to the cap when capped). */
  bytes: number;
  seconds: number;
  mbit: number;
  /** Sender counters, when the transport reports them. */
  retransmits?: number;
  segments?: number;
  /** rudp: payload bytes per data segment (the CLI: bytes / first transmissions, derived from its summary). */
  payloadSize?: number;
  /** The link's counters for the data direction: packets in, random-loss drops, queue drops. */
  link?: LinkCounters;
  error?: string;
}

/** Counters of the emulated link in the data direction. */
export interface LinkCounters {
  packets: number;
  lossDrops: number;
  queueDrops: number;
}

/** Everything a real-link scenario measured, or why it was skipped. */
export interface LinkScenarioResult {
  skipped?: string;
  transports: LinkTransport[];
  losses: number[];
  bytes: number;
  runs: number;
  capSeconds: number;
  results: LinkRun[];
  /** Transports not run, with the reason. */
  missing: string[];
  /** Wall-clock seconds the scenario took. */
  seconds: number;
}

/** Transfer size, repetitions, time cap and base seed of a real-link scenario. */
export interface LinkOptions {
  bytes: number;
  runs: number;
  /** Seconds a transfer may take from the sender's start; what arrived by then is reported. */
  capSeconds: number;
  /** Run r uses seed + r - 1, the same for every transport at that loss rate. */
  seed: number;
  losses?: readonly number[];
  /** Only these transports (ids), for a standalone run; all by default. */
  only?: readonly string[];
}

// ----- Child processes ------------------------------------------------------------------------------

/** One output line of a child, with the time it arrived. */
interface Line {
  t: number;
  err: boolean;
  text: string;
}

/** Children still running: killed when this process exits. */
const running = new Set<ChildProcess>();
let killOnExit = false;

/** A child process whose stdout and stderr lines are collected. */
export class Proc {
  readonly child: ChildProcess;
  readonly lines: Line[] = [];
  readonly exited: Promise<void>;
  #wake: (() => void) | undefined;
  #done = false;

  constructor(cmd: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    running.add(this.child);
    if (!killOnExit) {
      killOnExit = true;
      process.on("exit", () => {
        for (const c of running) c.kill("SIGKILL");
      });
    }
    for (const [stream, err] of [
      [this.child.stdout, false],
      [this.child.stderr, true],
    ] as const) {
      if (!stream) continue;
      createInterface({ input: stream }).on("line", (text) => {
        this.lines.push({ t: performance.now(), err, text });
        this.#wake?.();
      });
    }
    this.exited = new Promise((resolve) => {
      const end = () => {
        running.delete(this.child);
        this.#done = true;
        this.#wake?.();
        resolve();
      };
      this.child.once("close", end);
      this.child.once("error", (e) => {
        this.lines.push({ t: performance.now(), err: true, text: e.message });
        end();
      });
    });
  }

  /** The first value `find` returns for a line (from the first line on), or undefined at exit or `deadline`. */
  async until<T>(find: (line: Line) => T | undefined, deadline: number): Promise<T | undefined> {
    for (let i = 0; ; ) {
      for (; i < this.lines.length; i++) {
        const v = find(this.lines[i]);
        if (v !== undefined) return v;
      }
      const left = deadline - performance.now();
      if (this.#done || left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = undefined;
    }
  }

  /** JSON objects printed on stdout. */
  json(): Record<string, unknown>[] {
    return this.lines.flatMap((l) => {
      if (l.err || !l.text.startsWith("{")) return [];
      try {
        return [JSON.parse(l.text) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** The last lines, for error messages. */
  tail(n = 3): string {
    return this.lines
      .slice(-n)
      .map((l) => l.text.trim())
      .join(" | ");
  }

  /** SIGTERM, then SIGKILL after 2 s; resolves once the process has exited. */
  async stop(): Promise<void> {
    if (this.#done) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 2000);
    await this.exited;
    clearTimeout(timer);
  }
}

// ----- One transfer ------------------------------------------------------------------------------

/** Where the two ends run and how the link is set up around each transfer. */
export interface LinkEnv {
  /** Address the receiver binds. */
  recvHost: string;
  /** Starts a process on the sending (a) or receiving (b) side. */
  spawn(side: "a" | "b", cmd: string, args: string[]): Proc;
  /** Sets the link up for one transfer. */
  before(loss: number, seed: number): Promise<void>;
  /** Once the receiver listens on `port`: where the sender must send. */
  route(port: number): Promise<{ host: string; port: number }>;
  /** After the transfer: the link's counters (and any cleanup). */
  after(): Promise<LinkCounters | undefined>;
}

/** Shared inputs of the transfers: the payload file of the CLI sender. */
export interface TransferInput {
  bytes: number;
  capSeconds: number;
  file: string;
}

const UNITS: Record<string, number> = { B: 1, KiB: 2 ** 10, MiB: 2 ** 20, GiB: 2 ** 30 };

function receiverCommand(t: LinkTransport, host: string): [string, string[]] {
  if (t.kind === "rudp-cli")
    return [
      "node",
      [CLI, "recv", "0", "--host", host, "-o", "/dev/null", "--progress", "plain", "--interval", "500ms"],
    ];
  const proto = t.kind === "rudp-api" ? "rudp" : t.kind;
  const size = t.packetSize ? ["--packet-size", String(t.packetSize)] : [];
  return ["node", ["--import", "tsx", PEER, "recv", "--proto", proto, "--host", host, ...size]];
}

function senderCommand(
  t: LinkTransport,
  to: { host: string; port: number },
  o: TransferInput,
  tcpxfer: string,
): [string, string[]] {
  const cc = t.cc ? ["--cc", t.cc] : [];
  if (t.kind === "rudp-cli")
    return ["node", [CLI, "send", o.file, to.host, String(to.port), ...cc, "--progress", "none"]];
  if (t.kind === "tcp")
    return [
      "python3",
      [
        tcpxfer,
        "client",
        to.host,
        "--port",
        String(to.port),
        "--bytes",
        String(o.bytes),
        ...cc,
        "--timeout",
        String(o.capSeconds),
      ],
    ];
  const proto = t.kind === "rudp-api" ? "rudp" : t.kind;
  const size = t.packetSize ? ["--packet-size", String(t.packetSize)] : [];
  return [
    "node",
    [
      "--import",
      "tsx",
      PEER,
      "send",
      "--proto",
      proto,
      "--host",
      to.host,
      "--port",
      String(to.port),
      "--bytes",
      String(o.bytes),
      ...cc,
      ...size,
    ],
  ];
}

/** Receiver's port from its first output. */
function readyPort(t: LinkTransport) {
  return (l: Line): number | undefined => {
    if (t.kind === "rudp-cli") {
      const m = /listening on .*:(\d+)$/.exec(l.text);
      return m ? Number(m[1]) : undefined;
    }
    if (l.err || !l.text.startsWith("{")) return undefined;
    const j = JSON.parse(l.text) as { type: string; port?: number };
    return j.type === "ready" ? j.port : undefined;
  };
}

/** The CLI receiver's result: its summary, or when capped its last progress line. */
function cliResult(recv: Proc, capped: boolean): Partial<LinkRun> {
  const text = recv.lines.map((l) => l.text).join("\n");
  const failed = /FAILED: (.*)/.exec(text);
  const summary = /received .*\((\d+) bytes\) in ([\d.]+) s/.exec(text);
  const counts = /loss seen\s+[\d.]+% \((\d+) retransmits \/ (\d+) segments\)/.exec(text);
  const sender = counts ? { retransmits: Number(counts[1]), segments: Number(counts[2]) } : {};
  if (summary && !capped) {
    const bytes = Number(summary[1]);
    const seconds = Number(summary[2]);
    return {
      ok: true,
      bytes,
      seconds,
      ...sender,
      payloadSize: sender.segments ? Math.round(bytes / (sender.segments - (sender.retransmits ?? 0))) : undefined,
    };
  }
  // Capped (or failed): what the periodic progress lines say arrived, over the time since the first byte.
  const start = recv.lines.find((l) => / receiving /.test(l.text))?.t;
  let last: { t: number; bytes: number } | undefined;
  for (const l of recv.lines) {
    const m = /^rudp recv: ([\d.]+) (B|KiB|MiB|GiB) of /.exec(l.text);
    if (m) last = { t: l.t, bytes: Number(m[1]) * UNITS[m[2]] };
  }
  if (start === undefined || !last || last.t <= start)
    return { ok: false, bytes: 0, seconds: 0, error: failed?.[1] ?? "nothing arrived" };
  return {
    ok: capped && last.bytes > 0,
    bytes: last.bytes,
    seconds: (last.t - start) / 1000,
    error: capped ? undefined : failed?.[1],
  };
}

/** The peer receiver's result: its done line, or when capped its last progress line. */
function peerResult(recv: Proc, capped: boolean): Partial<LinkRun> {
  const msgs = recv.json();
  const done = msgs.find((m) => m.type === "done");
  const error = msgs.find((m) => m.type === "error")?.message as string | undefined;
  if (done && !capped)
    return {
      ok: true,
      bytes: done.bytes as number,
      seconds: done.seconds as number,
    };
  const last = msgs.filter((m) => m.type === "progress").pop();
  if (!last) return { ok: false, bytes: 0, seconds: 0, error: error ?? "nothing arrived" };
  return {
    ok: capped && (last.bytes as number) > 0,
    bytes: last.bytes as number,
    seconds: last.seconds as number,
    error,
  };
}

/** One transfer of `t` across `env`: starts the receiver and the sender, waits for the end or the cap. */
export async function transfer(
  t: LinkTransport,
  env: LinkEnv,
  o: TransferInput,
  tcpxfer = "",
): Promise<
  Pick<LinkRun, "ok" | "capped" | "bytes" | "seconds" | "retransmits" | "segments" | "payloadSize" | "error">
> {
  const procs: Proc[] = [];
  try {
    const recv = env.spawn("b", ...receiverCommand(t, env.recvHost));
    procs.push(recv);
    const port = await recv.until(readyPort(t), performance.now() + 20_000);
    if (port === undefined) throw new Error(`the receiver did not start: ${recv.tail()}`);
    const to = await env.route(port);
    const sender = env.spawn("a", ...senderCommand(t, to, o, tcpxfer));
    procs.push(sender);
    const deadline = performance.now() + o.capSeconds * 1000;
    const finished =
      t.kind === "rudp-cli"
        ? (l: Line) => (/verified|FAILED/.test(l.text) ? true : undefined)
        : (l: Line) => (!l.err && /"type":"(done|error)"/.test(l.text) ? true : undefined);
    const capped = (await recv.until(finished, deadline)) === undefined && performance.now() >= deadline;
    const r = t.kind === "rudp-cli" ? cliResult(recv, capped) : peerResult(recv, capped);
    // Sender counters: its last report (rudp prints its statistics when stopped; tcpxfer once the receiver closed).
    if (t.kind === "rudp-api" || t.kind === "tcp") {
      if (capped) await sender.stop();
      else await sender.until((l) => (l.text.startsWith("{") ? true : undefined), performance.now() + 3000);
      const s = sender.json().pop();
      if (s && t.kind === "rudp-api") {
        r.retransmits = s.retransmits as number | undefined;
        r.segments = s.segments as number | undefined;
        r.payloadSize = s.mss as number | undefined;
      } else if (s && !capped) r.retransmits = s.total_retrans as number | undefined;
    }
    if (!r.ok) r.error = `${r.error ?? "failed"} (receiver: ${recv.tail()}; sender: ${sender.tail()})`;
    // A transfer in which nothing arrived failed; it was not merely slow.
    return { ok: false, bytes: 0, seconds: 0, ...r, capped: capped && r.ok === true };
  } catch (err) {
    return { ok: false, capped: false, bytes: 0, seconds: 0, error: (err as Error).message };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

/** Every transport at every loss rate, `o.runs` times; a transfer the cap ended is not repeated. */
export async function runLinkScenario(
  transports: readonly LinkTransport[],
  env: LinkEnv,
  o: LinkOptions & { file: string; tcpxfer?: string },
  log: (line: string) => void,
): Promise<LinkRun[]> {
  const results: LinkRun[] = [];
  for (const loss of o.losses ?? LINK_LOSSES) {
    const capped = new Set<string>();
    for (let run = 1; run <= o.runs; run++) {
      const seed = o.seed + run - 1;
      for (const t of transports) {
        if (capped.has(t.id)) continue;
        const r = await env.before(loss, seed).then(
          () => transfer(t, env, o, o.tcpxfer),
          (err: Error) => ({ ok: false, capped: false, bytes: 0, seconds: 0, error: err.message }),
        );
        const link = await env.after();
        const mbit = r.seconds > 0 ? (r.bytes * 8) / r.seconds / 1e6 : 0;
        results.push({ transport: t.id, loss, run, seed, ...r, mbit, link });
        if (r.capped) capped.add(t.id);
        log(
          `  ${t.id} at ${loss * 100}% loss, run ${run}: ` +
            (r.ok
              ? `${mbit.toFixed(1)} Mbit/s (${(r.bytes / 2 ** 20).toFixed(1)} MiB in ${r.seconds.toFixed(2)} s${r.capped ? ", time cap" : ""})`
              : `failed: ${r.error}`),
        );
      }
    }
  }
  return results;
}

/** A file of `bytes` random bytes for the CLI sender, and a function that deletes it. */
export function payloadFile(bytes: number): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "rudp-bench-"));
  const file = join(dir, "payload.bin");
  writeFileSync(file, Buffer.alloc(0));
  for (let off = 0; off < bytes; off += 2 ** 20)
    writeFileSync(file, randomBytes(Math.min(2 ** 20, bytes - off)), { flag: "a" });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Reasons why transports cannot run here (the CLI not built, udx-native or python3 missing). */
export async function missingPieces(transports: readonly LinkTransport[]): Promise<Map<LinkTransport["id"], string>> {
  const missing = new Map<LinkTransport["id"], string>();
  const udx = await loadUdx();
  const python = spawnSync("python3", ["--version"]).status === 0;
  for (const t of transports) {
    if (t.kind.startsWith("rudp") && !existsSync(CLI))
      missing.set(t.id, "dist/cli/main.js is missing (run `npm run build`)");
    if (t.kind === "udx" && !udx) missing.set(t.id, "udx-native is not installed");
    if (t.kind === "tcp" && !python) missing.set(t.id, "python3 is missing");
  }
  return missing;
}

// ----- The netem scenario ---------------------------------------------------------------------------

/** Namespaces, devices and state directory of the benchmark's own link, so it never touches another user's. */
const NETEM_ENV: Record<string, string> = {
  NETEM_NS_A: "rudpbench-a",
  NETEM_NS_B: "rudpbench-b",
  NETEM_STATE: "/run/rudp-bench-netem",
};
const ADDR_B = "10.77.0.2";
/** Holds the pid of the benchmark run that owns the link. */
const LOCK = `${NETEM_ENV.NETEM_STATE}.lock`;

/** Takes the link's lock: undefined when taken, else the pid of the live process holding it. */
function lockLink(): number | undefined {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(LOCK, String(process.pid), { flag: "wx" });
      return undefined;
    } catch {
      let pid = 0;
      try {
        pid = Number(readFileSync(LOCK, "utf8"));
      } catch {
        // Released meanwhile.
      }
      if (pid > 0 && alive(pid)) return pid;
      rmSync(LOCK, { force: true });
    }
  }
  return -1;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The netem tool's directory: $RUDP_NETEM, else ../shared/tools/netem from the project root. */
export function netemDir(): string {
  return resolve(process.env.RUDP_NETEM ?? join(ROOT, "../shared/tools/netem"));
}

function netemArgs(loss: number, seed: number): string[] {
  return [
    "--delay-ms",
    String(LINK_DELAY_MS),
    "--rate-mbit",
    String(LINK_MBIT),
    "--loss",
    String(loss * 100),
    "--seed",
    String(seed),
  ];
}

/** Runs netem-link synchronously; throws with its output when it fails. */
function netemLink(tool: string, args: string[]): string {
  const r = spawnSync(tool, args, { env: { ...process.env, ...NETEM_ENV }, encoding: "utf8" });
  if (r.status !== 0)
    throw new Error(`netem-link ${args[0]} failed: ${(r.stderr || r.stdout || String(r.error)).trim()}`);
  return r.stdout;
}

/** The lossy-link comparison across the emulated link; skipped (with the reason) when it cannot run here. */
export async function netemScenario(o: LinkOptions, log: (line: string) => void): Promise<LinkScenarioResult> {
  const started = performance.now();
  const transports = [RUDP_BBR, RUDP_CUBIC, RUDP_BBR_PINNED, UDX, TCP_BBR, TCP_CUBIC].filter(
    (t) => !o.only || o.only.includes(t.id),
  );
  const result: LinkScenarioResult = {
    transports,
    losses: [...(o.losses ?? LINK_LOSSES)],
    bytes: o.bytes,
    runs: o.runs,
    capSeconds: o.capSeconds,
    results: [],
    missing: [],
    seconds: 0,
  };
  const dir = netemDir();
  const tool = join(dir, "netem-link");
  const skip = (why: string) => {
    log(`  skipped: ${why}`);
    return { ...result, skipped: why, seconds: (performance.now() - started) / 1000 };
  };
  if (!existsSync(tool)) return skip(`${tool} not found (set RUDP_NETEM to the netem tool's directory)`);
  if (process.getuid?.() !== 0) return skip("netem-link needs root");
  const missing = await missingPieces(transports);
  result.missing = [...missing].map(([id, why]) => `${id}: ${why}`);
  const run = transports.filter((t) => !missing.has(t.id));
  if (missing.has("rudp-bbr")) return skip([...new Set(missing.values())].join("; "));

  // One run at a time owns the link; whatever is left of a run that died holding it is taken down first.
  const owner = lockLink();
  if (owner !== undefined)
    return skip(`the benchmark's link (${NETEM_ENV.NETEM_NS_A}/${NETEM_ENV.NETEM_NS_B}) is in use by process ${owner}`);
  const down = () => spawnSync(tool, ["down"], { env: { ...process.env, ...NETEM_ENV }, stdio: "ignore" });
  let released = false;
  let payload: ReturnType<typeof payloadFile> | undefined;
  const release = () => {
    if (released) return;
    released = true;
    payload?.remove();
    down();
    rmSync(LOCK, { force: true });
  };
  const onSignal = () => {
    release();
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", release);
  down();
  try {
    netemLink(tool, ["up", ...netemArgs(0, o.seed)]);
  } catch (err) {
    release();
    return skip((err as Error).message);
  }
  payload = payloadFile(o.bytes);
  try {
    const env: LinkEnv = {
      recvHost: ADDR_B,
      spawn: (side, cmd, args) => new Proc(tool, ["exec", side, "--", cmd, ...args], NETEM_ENV),
      before: async (loss, seed) => void netemLink(tool, ["set", ...netemArgs(loss, seed)]),
      route: async (port) => ({ host: ADDR_B, port }),
      after: async () => {
        try {
          const s = JSON.parse(netemLink(tool, ["stats", "--json"])) as {
            a_to_b: { rx_pkts: number; drop_loss: number; drop_queue: number };
          };
          return { packets: s.a_to_b.rx_pkts, lossDrops: s.a_to_b.drop_loss, queueDrops: s.a_to_b.drop_queue };
        } catch {
          return undefined;
        }
      },
    };
    result.results = await runLinkScenario(
      run,
      env,
      { ...o, file: payload.file, tcpxfer: join(dir, "tcpxfer.py") },
      log,
    );
  } finally {
    release();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    process.off("exit", release);
  }
  result.seconds = (performance.now() - started) / 1000;
  return result;
}

/** The scenario's Markdown section. */
export function netemSection(
  r: LinkScenarioResult,
  head = "## 5. Goodput across the real impaired link (netem over TUN, kernel network stack)",
  note = "",
): string {
  if (r.skipped) return `${head}\n\nSkipped: ${r.skipped}.`;
  return [
    head,
    "",
    ...(note ? [note, ""] : []),
    `\`${join(netemDir(), "netem-link")}\` (the shared userspace netem; root only) joins two network namespaces through TUN devices and a relay that applies ` +
      `${LINK_DELAY_MS} ms of delay each way (50 ms RTT), a ${LINK_MBIT} Mbit/s bottleneck (counting IP bytes) with its default 1000-packet drop-tail queue, ` +
      "and random loss each way, to real packets of the kernel's network stack (1500-byte MTU). The sender runs in one namespace, the receiver in the other. " +
      `Each transfer moves ${+(r.bytes / 2 ** 20).toFixed(1)} MiB on a fresh connection (startup included); the relay restarts before each one, ` +
      "so every transport at a loss rate sees the same seeded random draws (run r uses seed r). " +
      `Goodput = bytes received / the receiver's time from the first to the last byte; a transfer still running after ${r.capSeconds} s is stopped ` +
      "and reports what arrived by then (marked ⏱, not repeated). Median of the runs shown. " +
      "Two cores are shared by the relay, both ends and other engineers' jobs: the numbers are noisy, compare the ratios.",
    "",
    ...r.transports
      .filter((t) => r.results.some((x) => x.transport === t.id))
      .map((t) => `- **${t.label}**: ${t.description}`),
    ...(r.missing.length ? [`- Not run: ${r.missing.join("; ")}`] : []),
    "",
    linkTables(r, LINK_MBIT, BBR_TARGETS),
    "",
    "Kernel TCP for scale (the netem tool's README, 64 MiB transfers): BBR 90.9% of the link at 1% loss and 81.5% at 5%; CUBIC 2.5% and 0.8%.",
  ].join("\n");
}

// ----- Standalone ----------------------------------------------------------------------------------

/** Options of a standalone real-link run: `--quick`, `--runs N`, `--size MiB`, `--cap S`, `--losses 0,1,5,10`, `--only id,id`. */
export function parseLinkArgs(argv: string[]): LinkOptions {
  const quick = argv.includes("--quick");
  const o: LinkOptions = { ...linkDefaults(quick), seed: 1 };
  for (let i = 0; i < argv.length; i++) {
    const v = () => Number(argv[++i]);
    if (argv[i] === "--runs") o.runs = v();
    else if (argv[i] === "--size") o.bytes = Math.round(v() * 2 ** 20);
    else if (argv[i] === "--cap") o.capSeconds = v();
    else if (argv[i] === "--losses") o.losses = (argv[++i] ?? "").split(",").map((x) => Number(x) / 100);
    else if (argv[i] === "--only") o.only = (argv[++i] ?? "").split(",");
    else if (argv[i] !== "--quick") throw new Error(`unknown argument "${argv[i]}"`);
  }
  return o;
}

/**
 * The long transfers across the real link that judge the absolute targets: 128 MiB (about 12 s,
 * so startup weighs about 2%), three runs, BBR transports only, at the loss rates that have targets.
 */
export const LONG_LINK: Omit<LinkOptions, "seed"> = {
  bytes: 128 * 2 ** 20,
  runs: 3,
  capSeconds: 40,
  losses: [0.01, 0.05, 0.1],
  only: [RUDP_BBR_PINNED.id, UDX.id, TCP_BBR.id],
};

/** Sizes of the real-link scenarios: 32 MiB, 3 runs, a 10 s cap; quick: 8 MiB, 1 run, 8 s. */
export function linkDefaults(quick: boolean): Omit<LinkOptions, "seed"> {
  return quick ? { bytes: 8 * 2 ** 20, runs: 1, capSeconds: 8 } : { bytes: 32 * 2 ** 20, runs: 3, capSeconds: 10 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const log = (line: string) => process.stderr.write(`${line}\n`);
  netemScenario(parseLinkArgs(process.argv.slice(2)), log)
    .then((r) => console.log(netemSection(r)))
    .catch((err: Error) => {
      console.error(err.stack ?? err.message);
      process.exitCode = 1;
    });
}
