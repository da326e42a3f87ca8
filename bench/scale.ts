/**
 * Scale benchmark: N connections to one rudp server on 127.0.0.1.
 *
 *   node --import tsx bench/scale.ts [--connections 10000] [--client-sockets 10] [--concurrency 256]
 *                                    [--bytes 16384] [--idle 30] [--settle 5] [--keepalive MS] [--pmtud on|off]
 *                                    [--json]
 *
 * This process runs the server; a forked child (this file with `--role clients`) opens the
 * connections from a few shared UDP sockets, so each process's memory is its own side's. Reports:
 * handshakes per second; memory per connection (RSS and heap deltas over the empty server, divided
 * by N, after a forced GC) when idle and at the peak while every connection echoes `--bytes`;
 * and the CPU an idle connection costs per second (keepalives and timers), measured over `--idle`
 * seconds. Every echo is verified byte for byte.
 */

import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { createServer, MS, type Server, type Socket } from "../src/index.js";

/** Settings of one run. */
export interface ScaleOptions {
  connections: number;
  /** UDP sockets the client connections share. */
  clientSockets: number;
  /** Handshakes in progress at once. */
  concurrency: number;
  /** Bytes each connection sends and gets echoed in the transfer phase. */
  bytes: number;
  /** Seconds of the idle CPU measurement. */
  idleSeconds: number;
  /** Seconds to wait after opening before measuring (path MTU discovery probes each new connection). */
  settleSeconds: number;
  /** Keepalive interval in ms (undefined: the library default). */
  keepaliveMs: number | undefined;
  /** Path MTU discovery (the library default is on; on loopback it probes every connection up to 64 KB). */
  pmtud: boolean;
}

/** Memory of one process, bytes. */
export interface Memory {
  rss: number;
  heapUsed: number;
  /** Memory outside the JS heap, ArrayBuffers (datagram and stream buffers) included. */
  external: number;
}

/** What one run measured. Per-connection figures are in bytes, CPU in µs per connection per second. */
export interface ScaleResult {
  options: ScaleOptions;
  handshakeSeconds: number;
  handshakesPerSecond: number;
  server: { idle: Memory; transfer: Memory; idleCpu: number; idleDatagramsPerSecond: number };
  client: { idle: Memory; transfer: Memory; idleCpu: number };
  transferSeconds: number;
  verified: number;
  /** Server-side retransmissions and retransmission timeouts during the transfer, and kernel drops on its socket. */
  transferRetransmits: number;
  transferRtos: number;
  serverKernelDrops: number | undefined;
  closeSeconds: number;
  /** Server connections still open a minute after every client closed (must be 0). */
  stuckServerConnections: number;
  droppedHandshakes: number;
  retriesSent: number;
}

/** Messages from the parent to the client process. */
type Command =
  | { cmd: "open"; port: number; options: ScaleOptions }
  | { cmd: "measure" }
  | { cmd: "idle-start" }
  | { cmd: "idle-stop" }
  | { cmd: "transfer"; bytes: number }
  | { cmd: "close" };

/** Messages from the client process to the parent. */
type Report =
  | { type: "ready"; baseline: Memory }
  | { type: "opened"; seconds: number }
  | { type: "memory"; memory: Memory }
  | { type: "idle"; cpuMicros: number }
  | { type: "transferred"; seconds: number; verified: number; peak: Memory }
  /** `lingering`: connections the client endpoints still held 10 s after the last socket closed. */
  | { type: "closed"; lingering: number }
  | { type: "error"; message: string };

const LOCAL = "127.0.0.1";

/** Forces a full GC (exposing it at runtime if node was started without --expose-gc). */
const gc: () => void = (() => {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
})();

function memory(): Memory {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

async function settledMemory(): Promise<Memory> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
  return memory();
}

function minus(a: Memory, b: Memory): Memory {
  return { rss: a.rss - b.rss, heapUsed: a.heapUsed - b.heapUsed, external: a.external - b.external };
}

function max(a: Memory, b: Memory): Memory {
  return {
    rss: Math.max(a.rss, b.rss),
    heapUsed: Math.max(a.heapUsed, b.heapUsed),
    external: Math.max(a.external, b.external),
  };
}

function perConnection(m: Memory, n: number): Memory {
  return { rss: m.rss / n, heapUsed: m.heapUsed / n, external: m.external / n };
}

/** Samples memory every 20 ms until stopped; returns the peak. */
function peakSampler(): () => Memory {
  let peak = memory();
  const timer = setInterval(() => {
    peak = max(peak, memory());
  }, 20);
  return () => {
    clearInterval(timer);
    return max(peak, memory());
  };
}

function transport(o: ScaleOptions): { keepaliveInterval?: number; maxProbePacketSize?: number } {
  return {
    ...(o.keepaliveMs === undefined ? {} : { keepaliveInterval: o.keepaliveMs * MS }),
    ...(o.pmtud ? {} : { maxProbePacketSize: 0 }),
  };
}

/** Datagrams the kernel dropped on the UDP socket bound at `port` (Linux), or undefined if unknown. */
function kernelDrops(port: number): number | undefined {
  let total: number | undefined;
  for (const file of ["/proc/net/udp", "/proc/net/udp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length >= 13 && Number.parseInt(cols[1].split(":").pop() ?? "", 16) === port)
        total = (total ?? 0) + Number(cols[cols.length - 1]);
    }
  }
  return total;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One socket's connection state and loss-recovery counters, for diagnosing a connection that does not close. */
function describeSocket(s: Socket): string {
  try {
    const st = s.stats();
    return (
      `${st.state}: in flight ${st.bytesInFlight}, send buffered ${st.sendBuffered}, peer window ${st.peerWindow}, ` +
      `rto ${(st.rto / 1000).toFixed(0)} ms, ${st.rtoCount} RTOs, ${st.retransmits} retransmissions, ` +
      `${st.packetsSent} packets sent, ${st.packetsReceived} received`
    );
  } catch {
    return "no connection";
  }
}

/** "N STATE, ..." for the sockets not yet closed. */
function describeStates(sockets: Iterable<Socket>): string {
  const states = new Map<string, number>();
  for (const s of sockets) {
    if (s.closed) continue;
    let state = "no connection";
    try {
      state = s.stats().state;
    } catch {}
    states.set(state, (states.get(state) ?? 0) + 1);
  }
  return [...states].map(([k, v]) => `${v} ${k}`).join(", ") || "none";
}

async function listenOn(server: Server, backlog = 511): Promise<number> {
  server.listen({ port: 0, host: LOCAL, backlog });
  await once(server, "listening");
  return (server.address() as { port: number }).port;
}

// ----- The server side (this process) ----------------------------------------------------------------

/** Runs the benchmark: a server here, the clients in a child process. */
export async function runScale(options: ScaleOptions, log: (line: string) => void = () => {}): Promise<ScaleResult> {
  const child = fork(fileURLToPath(import.meta.url), ["--role", "clients"], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const reports: Report[] = [];
  let wake: (() => void) | undefined;
  child.on("message", (m: Report) => {
    reports.push(m);
    wake?.();
  });
  const next = async <T extends Report["type"]>(type: T): Promise<Extract<Report, { type: T }>> => {
    for (;;) {
      const i = reports.findIndex((r) => r.type === type || r.type === "error");
      if (i >= 0) {
        const r = reports.splice(i, 1)[0];
        if (r.type === "error") throw new Error(`client process: ${r.message}`);
        return r as Extract<Report, { type: T }>;
      }
      if (child.exitCode !== null) throw new Error(`client process exited (${child.exitCode})`);
      await new Promise<void>((r) => {
        wake = r;
        child.once("exit", () => r());
      });
    }
  };
  const send = (c: Command) => child.send(c);

  try {
    let active = 0;
    let allClosedAt = 0;
    const serverSockets = new Set<Socket>();
    const server = createServer({ ...transport(options) }, (s: Socket) => {
      active++;
      serverSockets.add(s);
      s.on("error", () => {});
      s.once("close", () => {
        active--;
        serverSockets.delete(s);
        if (active === 0) allClosedAt = performance.now();
      });
      s.pipe(s);
    });
    const port = await listenOn(server, Math.max(511, options.concurrency * 4));
    const clientBaseline = (await next("ready")).baseline;
    const baseline = await settledMemory();

    log(`opening ${options.connections} connections...`);
    send({ cmd: "open", port, options });
    const opened = await next("opened");
    log(`  ${options.connections} open in ${opened.seconds.toFixed(2)} s; settling for ${options.settleSeconds} s`);
    // The server accepts each connection when the client's final ACK arrives, after the client's 'connect'
    // (later still when that ACK was lost and a SYN-ACK must be resent).
    for (let i = 0; i < 3000 && active < options.connections; i++) await sleep(10);
    if (active !== options.connections) throw new Error(`server accepted ${active} connections`);
    await sleep(options.settleSeconds * 1000);
    const idle = minus(await settledMemory(), baseline);
    send({ cmd: "measure" });
    const clientIdleMemory = (await next("memory")).memory;

    log(`idling for ${options.idleSeconds} s (keepalives every ${options.keepaliveMs ?? 15_000} ms)...`);
    await sleep(1000); // lets the collections forced above finish their background work
    const statsBefore = server.endpointStats();
    send({ cmd: "idle-start" });
    const cpuBefore = process.cpuUsage();
    const idleStart = performance.now();
    await sleep(options.idleSeconds * 1000);
    const cpu = process.cpuUsage(cpuBefore);
    const idleElapsed = (performance.now() - idleStart) / 1000;
    send({ cmd: "idle-stop" });
    const clientIdle = await next("idle");
    const statsAfter = server.endpointStats();
    const datagrams =
      (statsAfter?.datagramsSent ?? 0) +
      (statsAfter?.datagramsReceived ?? 0) -
      (statsBefore?.datagramsSent ?? 0) -
      (statsBefore?.datagramsReceived ?? 0);

    log(`echoing ${options.bytes} bytes on every connection...`);
    const retransmits = () => {
      let r = 0;
      let rto = 0;
      for (const s of serverSockets) {
        const st = s.stats();
        r += st.retransmits;
        rto += st.rtoCount;
      }
      return { r, rto };
    };
    const retxBefore = retransmits();
    const dropsBefore = kernelDrops(port);
    const stopSampling = peakSampler();
    send({ cmd: "transfer", bytes: options.bytes });
    const transferred = await next("transferred");
    const serverPeak = minus(stopSampling(), baseline);
    const retxAfter = retransmits();
    const dropsAfter = kernelDrops(port);
    if (transferred.verified !== options.connections)
      throw new Error(`${options.connections - transferred.verified} echoes did not verify`);

    log("closing...");
    const closeStart = performance.now();
    send({ cmd: "close" });
    const clientsClosed = await next("closed");
    // Every server end should close within seconds; give up after a minute and report the stragglers.
    const closeDeadline = performance.now() + 60_000;
    while (active > 0 && performance.now() < closeDeadline) await sleep(10);
    const closeSeconds = ((active === 0 ? allClosedAt : performance.now()) - closeStart) / 1000;
    const stragglers = [...serverSockets].filter((s) => !s.closed);
    if (stragglers.length > 0) {
      log(`  server connections still open after 60 s: ${describeStates(stragglers)}`);
      for (const s of stragglers.slice(0, 5)) log(`    ${describeSocket(s)}`);
      log(`  connections the client endpoints still hold: ${clientsClosed.lingering}`);
    }
    const stats = server.endpointStats();
    if (stragglers.length === 0) await new Promise<void>((r) => server.close(() => r()));
    else for (const s of stragglers) s.resetAndDestroy();

    const n = options.connections;
    const idleUs = (c: number) => c / n / idleElapsed;
    return {
      options,
      handshakeSeconds: opened.seconds,
      handshakesPerSecond: n / opened.seconds,
      server: {
        idle: perConnection(idle, n),
        transfer: perConnection(serverPeak, n),
        idleCpu: idleUs(cpu.user + cpu.system),
        idleDatagramsPerSecond: datagrams / idleElapsed,
      },
      client: {
        idle: perConnection(minus(clientIdleMemory, clientBaseline), n),
        transfer: perConnection(minus(transferred.peak, clientBaseline), n),
        idleCpu: idleUs(clientIdle.cpuMicros),
      },
      transferSeconds: transferred.seconds,
      verified: transferred.verified,
      transferRetransmits: retxAfter.r - retxBefore.r,
      transferRtos: retxAfter.rto - retxBefore.rto,
      serverKernelDrops: dropsBefore === undefined || dropsAfter === undefined ? undefined : dropsAfter - dropsBefore,
      closeSeconds,
      stuckServerConnections: stragglers.length,
      droppedHandshakes: stats?.droppedHandshakes ?? 0,
      retriesSent: stats?.retriesSent ?? 0,
    };
  } finally {
    child.kill();
  }
}

// ----- The client side (the child process) --------------------------------------------------------------

async function clientProcess(): Promise<void> {
  const report = (r: Report) => process.send?.(r);
  const endpoints: Server[] = [];
  const sockets: Socket[] = [];
  let idleCpu: NodeJS.CpuUsage | undefined;
  const fail = (err: unknown) => report({ type: "error", message: err instanceof Error ? err.message : String(err) });

  const open = async (port: number, o: ScaleOptions): Promise<void> => {
    for (let i = 0; i < o.clientSockets; i++) {
      // Client endpoints listen only so that they can `connect` many times from one UDP socket.
      // The default TIME-WAIT (4 s): shorter, a lost final ACK would leave the server's end in LAST-ACK
      // resending its FIN to a closed port until the retransmission limit (minutes).
      const e = createServer({ ...transport(o) }, (s) => s.destroy());
      await listenOn(e);
      endpoints.push(e);
    }
    const start = performance.now();
    let opening = 0;
    let connected = 0;
    let wake: (() => void) | undefined;
    await new Promise<void>((resolve, reject) => {
      const launch = async () => {
        for (let i = 0; i < o.connections; i++) {
          while (opening >= o.concurrency) await new Promise<void>((r) => (wake = r));
          opening++;
          const s = endpoints[i % endpoints.length].connect(port, LOCAL);
          s.once("error", reject);
          s.once("connect", () => {
            s.off("error", reject);
            s.on("error", fail);
            opening--;
            if (++connected === o.connections) resolve();
            wake?.();
          });
          sockets.push(s);
        }
      };
      launch().catch(reject);
    });
    const seconds = (performance.now() - start) / 1000;
    report({ type: "opened", seconds });
  };

  const transfer = async (bytes: number): Promise<void> => {
    const block = randomBytes(bytes);
    const stop = peakSampler();
    const start = performance.now();
    const results = await Promise.all(
      sockets.map(
        (s) =>
          new Promise<boolean>((resolve) => {
            const parts: Buffer[] = [];
            let n = 0;
            const onData = (d: Buffer) => {
              parts.push(d);
              n += d.length;
              if (n >= bytes) {
                s.off("data", onData);
                resolve(Buffer.concat(parts).equals(block));
              }
            };
            s.on("data", onData);
            s.write(block);
          }),
      ),
    );
    const seconds = (performance.now() - start) / 1000;
    report({ type: "transferred", seconds, verified: results.filter(Boolean).length, peak: stop() });
  };

  const close = async (): Promise<void> => {
    const closed = sockets.map((s) => once(s, "close"));
    for (const s of sockets) s.end();
    // A close that drags on says which states the stragglers are in.
    const start = performance.now();
    const watchdog = setInterval(() => {
      const late = ((performance.now() - start) / 1000).toFixed(0);
      process.stderr.write(`  clients still closing after ${late} s: ${describeStates(sockets)}\n`);
    }, 30_000);
    await Promise.all(closed);
    clearInterval(watchdog);
    await Promise.all(endpoints.map((e) => new Promise<void>((r) => e.close(() => r()))));
    // The endpoints' UDP sockets close once their connections leave TIME-WAIT (4 s).
    const lingering = () => endpoints.reduce((n, e) => n + (e.endpointStats()?.connections ?? 0), 0);
    for (let i = 0; i < 1000 && lingering() > 0; i++) await sleep(10);
    report({ type: "closed", lingering: lingering() });
  };

  process.on("message", (c: Command) => {
    const run = async () => {
      if (c.cmd === "open") await open(c.port, c.options);
      else if (c.cmd === "measure") report({ type: "memory", memory: await settledMemory() });
      else if (c.cmd === "idle-start") idleCpu = process.cpuUsage();
      else if (c.cmd === "idle-stop") {
        const u = process.cpuUsage(idleCpu);
        report({ type: "idle", cpuMicros: u.user + u.system });
      } else if (c.cmd === "transfer") await transfer(c.bytes);
      else if (c.cmd === "close") await close();
    };
    run().catch(fail);
  });
  process.on("disconnect", () => process.exit(0));
  report({ type: "ready", baseline: await settledMemory() });
}

// ----- Command line -----------------------------------------------------------------------------------------

const USAGE = `usage: node --import tsx bench/scale.ts [--connections N] [--client-sockets N] [--concurrency N]
                                       [--bytes N] [--idle SECONDS] [--settle SECONDS] [--keepalive MS]
                                       [--pmtud on|off] [--json]
  --connections     connections to open (default 10000)
  --client-sockets  UDP sockets the clients share (default 10)
  --concurrency     handshakes in progress at once (default 256)
  --bytes           bytes each connection echoes in the transfer phase (default 16384)
  --idle            seconds of the idle CPU measurement (default 30)
  --settle          seconds to wait after opening, before measuring (default 5)
  --pmtud           on|off: path MTU discovery (default on, as the library)
  --keepalive       keepalive interval in ms on both sides (default: the library's 15000)
  --json            print the result as JSON instead of text`;

function parseArgs(argv: string[]): { options: ScaleOptions; json: boolean } {
  const o: ScaleOptions = {
    connections: 10_000,
    clientSockets: 10,
    concurrency: 256,
    bytes: 16 * 1024,
    idleSeconds: 30,
    settleSeconds: 5,
    keepaliveMs: undefined,
    pmtud: true,
  };
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!(v > 0)) throw new Error(`${a} needs a positive number\n${USAGE}`);
      return v;
    };
    if (a === "--connections") o.connections = Math.round(num());
    else if (a === "--client-sockets") o.clientSockets = Math.round(num());
    else if (a === "--concurrency") o.concurrency = Math.round(num());
    else if (a === "--bytes") o.bytes = Math.round(num());
    else if (a === "--idle") o.idleSeconds = num();
    else if (a === "--settle") o.settleSeconds = num();
    else if (a === "--keepalive") o.keepaliveMs = num();
    else if (a === "--pmtud") {
      const v = argv[++i];
      if (v !== "on" && v !== "off") throw new Error(`--pmtud takes on or off\n${USAGE}`);
      o.pmtud = v === "on";
    } else if (a === "--json") json = true;
    else if (a === "--help" || a === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument "${a}"\n${USAGE}`);
  }
  return { options: o, json };
}

const kib = (b: number) => `${(b / 1024).toFixed(2)} KiB`;

/** The result as text lines. */
export function formatScale(r: ScaleResult): string[] {
  const o = r.options;
  const mem = (m: Memory) => `RSS ${kib(m.rss)}, heap ${kib(m.heapUsed)}, external ${kib(m.external)}`;
  return [
    `rudp scale: ${o.connections} connections to one server on ${LOCAL} from ${o.clientSockets} client UDP sockets, ` +
      `path MTU discovery ${o.pmtud ? "on" : "off"}`,
    `handshakes:        ${r.handshakesPerSecond.toFixed(0)}/s (${o.connections} in ${r.handshakeSeconds.toFixed(2)} s, ` +
      `${o.concurrency} in progress at once; ${r.droppedHandshakes} dropped, ${r.retriesSent} RETRYs)`,
    "memory per connection (delta over the empty process after GC, divided by N):",
    `  server, idle:     ${mem(r.server.idle)}`,
    `  server, transfer: ${mem(r.server.transfer)} (peak while each echoes ${o.bytes} bytes)`,
    `  client, idle:     ${mem(r.client.idle)}`,
    `  client, transfer: ${mem(r.client.transfer)}`,
    `idle CPU per connection per second (${o.idleSeconds} s, keepalive every ${o.keepaliveMs ?? 15_000} ms):`,
    `  server: ${r.server.idleCpu.toFixed(3)} µs/s (${r.server.idleDatagramsPerSecond.toFixed(0)} datagrams/s in and out)`,
    `  client: ${r.client.idleCpu.toFixed(3)} µs/s`,
    `transfer:          ${r.verified}/${o.connections} echoes verified in ${r.transferSeconds.toFixed(2)} s ` +
      `(all at once: server ${r.transferRetransmits} retransmissions, ${r.transferRtos} RTOs, ` +
      `${r.serverKernelDrops ?? "unknown"} kernel drops on its socket)`,
    `close:             ${r.closeSeconds.toFixed(2)} s` +
      (r.stuckServerConnections > 0
        ? ` — ${r.stuckServerConnections} server connections never closed (must be 0)`
        : ""),
  ];
}

async function main(): Promise<void> {
  if (process.argv.includes("--role")) {
    await clientProcess();
    return;
  }
  const { options, json } = parseArgs(process.argv.slice(2));
  const result = await runScale(options, (line) => process.stderr.write(`${line}\n`));
  if (json) console.log(JSON.stringify(result, null, 2));
  else console.log(formatScale(result).join("\n"));
  if (result.stuckServerConnections > 0) process.exitCode = 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
