/**
 * Soak benchmark: many connections with churn through the impairment proxy.
 *
 *   node --import tsx bench/soak.ts [--minutes 1] [--connections 32] [--max-bytes 262144]
 *                                   [--loss 2%] [--delay 5ms] [--jitter 2ms] [--dup 1%] [--corrupt 0.5%]
 *                                   [--sample 5] [--seed N]
 *
 * An echo server runs in this process; `rudp proxy` runs as a child process in front of it. Each of
 * `--connections` loops repeatedly connects through the proxy, sends a random amount of random data,
 * ends, reads the echo to its end, checks its SHA-256 and closes. Every `--sample` seconds it prints
 * the memory after a forced GC. At the end it prints the errors (must be 0), the bytes verified and
 * whether memory stayed flat; the exit code is 1 on any error or on memory growth.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes, randomInt } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";
import { connect, createServer, type Socket } from "../src/index.js";

/** Settings of one soak run. */
export interface SoakOptions {
  minutes: number;
  /** Connection loops running at once. */
  connections: number;
  /** Each transfer sends between 1 byte and this many. */
  maxBytes: number;
  /** Impairments, in `rudp proxy` syntax. */
  loss: string;
  delay: string;
  jitter: string;
  dup: string;
  corrupt: string;
  /** Seconds between memory samples. */
  sampleSeconds: number;
  seed: number;
}

/** One memory sample. */
export interface SoakSample {
  seconds: number;
  rss: number;
  heapUsed: number;
  external: number;
  completed: number;
  open: number;
}

/** The outcome of a soak run. */
export interface SoakResult {
  options: SoakOptions;
  completed: number;
  errors: string[];
  bytesVerified: number;
  samples: SoakSample[];
  /** Growth of the heap and of external memory (ArrayBuffers) from the first to the second half of the run (post warm-up medians), bytes. */
  heapGrowth: number;
  externalGrowth: number;
  flat: boolean;
  proxyReport: string;
}

const LOCAL = "127.0.0.1";
const ROOT = fileURLToPath(new URL("../", import.meta.url));
/** How long one transfer may take before it counts as an error. */
const TRANSFER_TIMEOUT_MS = 120_000;

const gc: () => void = (() => {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
})();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Starts `rudp proxy` in front of `target` and resolves with the process and the port it listens on. */
async function startProxy(
  target: number,
  o: SoakOptions,
): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const cli = existsSync(`${ROOT}dist/cli/main.js`) ? ["dist/cli/main.js"] : ["--import", "tsx", "src/cli/main.ts"];
  const args = ["proxy", "--listen", `${LOCAL}:0`, "--to", `${LOCAL}:${target}`, "--idle-timeout", "10s"];
  args.push("--loss", o.loss, "--delay", o.delay, "--jitter", o.jitter, "--dup", o.dup, "--corrupt", o.corrupt);
  args.push("--seed", String(o.seed));
  const child = spawn(process.execPath, [...cli, ...args], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    err += d;
  });
  for (let i = 0; i < 1000; i++) {
    const m = /-> .*?: /.test(err) ? /rudp proxy: \S+:(\d+) ->/.exec(err) : null;
    if (m) return { child, port: Number(m[1]), stderr: () => err };
    if (child.exitCode !== null) break;
    await sleep(10);
  }
  child.kill("SIGKILL");
  throw new Error(`rudp proxy did not start:\n${err}`);
}

/** One transfer: connect through the proxy, send, read the echo, verify, close. Resolves with the bytes verified. */
function transfer(port: number, size: number): Promise<number> {
  const data = randomBytes(size);
  const want = createHash("sha256").update(data).digest("hex");
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({ port, host: LOCAL, connectTimeout: 30_000 });
    const hash = createHash("sha256");
    let received = 0;
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure ??= new Error(`transfer of ${size} bytes timed out after ${received} bytes`);
      socket.destroy();
    }, TRANSFER_TIMEOUT_MS);
    socket.on("connect", () => socket.end(data));
    socket.on("data", (d: Buffer) => {
      hash.update(d);
      received += d.length;
    });
    socket.on("end", () => {
      const got = hash.digest("hex");
      if (received !== size || got !== want)
        failure ??= new Error(`echo mismatch: ${received} of ${size} bytes, sha256 ${got} != ${want}`);
    });
    socket.on("error", (err) => {
      failure ??= err;
    });
    socket.on("close", () => {
      clearTimeout(timer);
      if (failure) reject(failure);
      else if (received !== size) reject(new Error(`closed after ${received} of ${size} bytes without an error`));
      else resolve(size);
    });
  });
}

/** Runs the soak and returns what it measured. */
export async function runSoak(o: SoakOptions, log: (line: string) => void = () => {}): Promise<SoakResult> {
  const server = createServer((s: Socket) => {
    s.on("error", () => {}); // the client reports its own failure
    s.pipe(s);
  });
  server.listen(0, LOCAL);
  await once(server, "listening");
  const serverPort = (server.address() as { port: number }).port;
  const proxy = await startProxy(serverPort, o);
  log(
    `soak: ${o.connections} connection loops for ${o.minutes} min through rudp proxy :${proxy.port} ` +
      `(loss ${o.loss}, delay ${o.delay} ± ${o.jitter}, dup ${o.dup}, corrupt ${o.corrupt}), up to ${o.maxBytes} bytes each`,
  );

  const errors: string[] = [];
  let completed = 0;
  let open = 0;
  let bytesVerified = 0;
  const start = performance.now();
  const deadline = start + o.minutes * 60_000;
  const loops = Array.from({ length: o.connections }, async () => {
    while (performance.now() < deadline) {
      open++;
      try {
        const n = await transfer(proxy.port, randomInt(1, o.maxBytes + 1));
        bytesVerified += n;
        completed++;
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
      } finally {
        open--;
      }
    }
  });

  const samples: SoakSample[] = [];
  const sample = (): void => {
    gc();
    const m = process.memoryUsage();
    const s: SoakSample = {
      seconds: (performance.now() - start) / 1000,
      rss: m.rss,
      heapUsed: m.heapUsed,
      external: m.external,
      completed,
      open,
    };
    samples.push(s);
    log(
      `  ${s.seconds.toFixed(0).padStart(5)} s  rss ${mib(s.rss)}  heap ${mib(s.heapUsed)}  external ${mib(s.external)}  ` +
        `${completed} transfers, ${mib(bytesVerified)} verified, ${errors.length} errors, ${open} open`,
    );
  };
  sample();
  const sampler = setInterval(sample, o.sampleSeconds * 1000);
  await Promise.all(loops);
  clearInterval(sampler);
  sample();

  server.close();
  proxy.child.kill("SIGINT");
  await once(proxy.child, "exit");
  const proxyReport = proxy
    .stderr()
    .split("\n")
    .filter((l) => /client|->/.test(l) && !/new client/.test(l) && !/: \S+:\d+ ->/.test(l))
    .join("\n");

  // Memory must be flat: compare the first and second halves of the samples after a warm-up (medians,
  // after GC). Connections linger in TIME-WAIT for a few seconds, so the warm-up skips the ramp.
  const warm = samples.filter((s) => s.seconds >= Math.min(20, (o.minutes * 60) / 5));
  const half = warm.length >> 1;
  const growth = (key: "heapUsed" | "external"): { growth: number; ok: boolean } => {
    const first = median(warm.slice(0, half).map((s) => s[key]));
    const second = median(warm.slice(half).map((s) => s[key]));
    if (!Number.isFinite(first) || !Number.isFinite(second)) return { growth: 0, ok: true };
    return { growth: second - first, ok: second - first <= Math.max(16 * 2 ** 20, 0.25 * first) };
  };
  const heap = growth("heapUsed");
  const external = growth("external");
  return {
    options: o,
    completed,
    errors,
    bytesVerified,
    samples,
    heapGrowth: heap.growth,
    externalGrowth: external.growth,
    flat: heap.ok && external.ok,
    proxyReport,
  };
}

// ----- Command line -----------------------------------------------------------------------------------------

const USAGE = `usage: node --import tsx bench/soak.ts [options]
  --minutes N       how long to run (default 1)
  --connections N   connection loops at once (default 32)
  --max-bytes N     largest transfer, bytes (default 262144)
  --loss P          proxy loss per direction (default 2%)
  --delay TIME      proxy one-way delay (default 5ms)
  --jitter TIME     proxy delay variation (default 2ms)
  --dup P           proxy duplication (default 1%)
  --corrupt P       proxy bit flips (default 0.5%)
  --sample S        seconds between memory samples (default 5)
  --seed N          proxy impairment seed (default 1)`;

/** The default soak: 32 connection loops through a proxy with 2% loss, duplication and corruption, for a minute. */
export const SOAK_DEFAULTS: Readonly<SoakOptions> = Object.freeze({
  minutes: 1,
  connections: 32,
  maxBytes: 256 * 1024,
  loss: "2%",
  delay: "5ms",
  jitter: "2ms",
  dup: "1%",
  corrupt: "0.5%",
  sampleSeconds: 5,
  seed: 1,
});

function parseArgs(argv: string[]): SoakOptions {
  const o: SoakOptions = { ...SOAK_DEFAULTS };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    const num = (): number => {
      const v = Number(value());
      if (!(v > 0)) throw new Error(`${a} needs a positive number\n${USAGE}`);
      return v;
    };
    if (a === "--minutes") o.minutes = num();
    else if (a === "--connections") o.connections = Math.round(num());
    else if (a === "--max-bytes") o.maxBytes = Math.round(num());
    else if (a === "--loss") o.loss = value();
    else if (a === "--delay") o.delay = value();
    else if (a === "--jitter") o.jitter = value();
    else if (a === "--dup") o.dup = value();
    else if (a === "--corrupt") o.corrupt = value();
    else if (a === "--sample") o.sampleSeconds = num();
    else if (a === "--seed") o.seed = Math.round(num());
    else if (a === "--help" || a === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument "${a}"\n${USAGE}`);
  }
  return o;
}

/** The result as text lines. */
export function formatSoak(r: SoakResult): string[] {
  const s = r.samples;
  const lines = [
    `soak: ${r.completed} transfers completed in ${r.options.minutes} min, ${mib(r.bytesVerified)} verified (SHA-256)`,
    `errors: ${r.errors.length}${r.errors.length ? ` (must be 0) — first: ${r.errors[0]}` : ""}`,
    `memory (after GC): heap ${mib(s[0].heapUsed)} -> ${mib(s[s.length - 1].heapUsed)}, ` +
      `external ${mib(s[0].external)} -> ${mib(s[s.length - 1].external)}, rss ${mib(s[0].rss)} -> ${mib(s[s.length - 1].rss)}`,
    `memory growth after warm-up (second half vs first half): heap ${mib(r.heapGrowth)}, external ${mib(r.externalGrowth)}: ` +
      `${r.flat ? "flat" : "GROWING (must be flat)"}`,
  ];
  if (r.proxyReport) lines.push(r.proxyReport);
  return lines;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const result = await runSoak(o, (line) => process.stderr.write(`${line}\n`));
  console.log(formatSoak(result).join("\n"));
  process.exit(result.errors.length === 0 && result.flat ? 0 : 1);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  });
}
