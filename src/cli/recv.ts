/** `rudp recv`: receives transfers from `rudp send`, writes them to stdout or a file, and verifies their SHA-256. */

import { createHash } from "node:crypto";
import { createWriteStream, statSync, type WriteStream } from "node:fs";
import { basename, join } from "node:path";
import type { Writable } from "node:stream";
import { createServer, type Server } from "../api/server.js";
import type { Socket } from "../api/socket.js";
import type { ConnectionStats } from "../core/connection/stats.js";
import { expectPositionals, formatAddress, parseArgs, parsePort, resolveHost, UsageError } from "./args.js";
import {
  type Command,
  describeError,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  flushWritable,
  listenOrReport,
  note,
  OUTPUT_HELP,
  OUTPUT_OPTIONS,
  type OutputSettings,
  onInterrupt,
  outputSettings,
  withTimeout,
} from "./command.js";
import {
  ENCRYPTION_OPTIONS,
  type EncryptionSetup,
  encryptionSetup,
  listeningNote,
  SERVER_ENCRYPTION_HELP,
  securityLine,
  watchRefusals,
} from "./encryption-options.js";
import { Progress, transferSummary } from "./progress.js";
import { openTracer, type Tracer } from "./trace.js";
import {
  decodeHeader,
  decodeTrailer,
  encodeMessage,
  type TransferHeader,
  type TransferTrailer,
  verifyTransfer,
} from "./transfer.js";

const USAGE = "rudp recv PORT";

const HELP = `Usage: ${USAGE} [options]

Listens on UDP port PORT (0 picks a free one) for "rudp send", writes what
arrives to stdout (or FILE) and checks it against the sender's SHA-256. Exits
after one transfer: 0 when it verified, 1 when it failed (hash or size
mismatch, incomplete transfer, connection error).

Options:
  --host HOST          address to listen on (default: all, IPv6 and IPv4)
  -o, --output FILE    write to FILE instead of stdout; when FILE is a directory,
                       each transfer is saved in it under the sender's file name
  --keep-listening     receive transfers one after another until Ctrl-C
                       (appended to stdout or FILE); exits 1 if any failed
${OUTPUT_HELP}

Encryption (keys from "rudp keygen"; the summary says what protected the transfer):
${SERVER_ENCRYPTION_HELP}

Examples:
  rudp recv 5000 > backup.tar
  rudp recv 5000 --key-file server.key -o backup.tar
  rudp recv 5000 -o backup.tar
  rudp recv 5000 --keep-listening -o incoming/
`;

/** The `rudp recv` command. */
export const recvCommand: Command = {
  name: "recv",
  summary: "Receive transfers from `rudp send` to stdout or a file",
  help: HELP,
  run: runRecv,
};

/** Where received bytes go. */
interface Output {
  /** The shared stream (stdout or FILE); undefined in directory mode. */
  shared: Writable | undefined;
  /** Directory mode: where each transfer is saved. */
  dir: string | undefined;
}

async function openOutput(path: string | undefined): Promise<Output> {
  if (path === undefined) return { shared: process.stdout, dir: undefined };
  try {
    if (statSync(path).isDirectory()) return { shared: undefined, dir: path };
  } catch {
    // Not there yet: a file to create.
  }
  const ws = createWriteStream(path, { flags: "w" });
  await new Promise<void>((resolve, reject) => {
    ws.once("ready", () => resolve());
    ws.once("error", (err) => reject(new UsageError(`cannot write "${path}": ${describeError(err)}`)));
  });
  return { shared: ws, dir: undefined };
}

async function runRecv(args: string[]): Promise<number> {
  const { options, positionals } = parseArgs(args, {
    ...OUTPUT_OPTIONS,
    ...ENCRYPTION_OPTIONS,
    host: { parse: String },
    output: { short: "o", parse: String },
    "keep-listening": {},
  });
  expectPositionals(positionals, 1, 1, USAGE);
  const port = parsePort(positionals[0], true);
  const encryption = encryptionSetup(options, "server", "rudp recv");
  const hostText = options.host as string | undefined;
  const host = hostText === undefined ? undefined : (await resolveHost(hostText)).address;
  const out = outputSettings(options);
  const output = await openOutput(options.output as string | undefined);
  const tracer = await openTracer(out.trace, out.traceJson);
  try {
    return await serve(port, host, options["keep-listening"] === true, output, out, tracer, encryption);
  } finally {
    if (output.shared && output.shared !== process.stdout) {
      const ws = output.shared as WriteStream;
      await new Promise<void>((resolve) => ws.end(() => resolve()));
    }
    await tracer.close();
  }
}

async function serve(
  port: number,
  host: string | undefined,
  keepListening: boolean,
  output: Output,
  out: OutputSettings,
  tracer: Tracer,
  encryption: EncryptionSetup,
): Promise<number> {
  const label = "rudp recv";
  const server: Server = createServer({
    allowHalfOpen: true,
    onTrace: tracer.onTrace,
    encryption: encryption.config,
  });
  if (!(await listenOrReport(server, label, port, host))) return EXIT_FAILURE;
  const a = server.address();
  note(
    out.quiet,
    `${label}: listening on ${formatAddress(a?.address, a?.port)}${encryption.config ? ` (${listeningNote(encryption)})` : ""}`,
  );
  const stopWatching = watchRefusals(server, encryption, (line) => note(out.quiet, `${label}: ${line}`));

  let failures = 0;
  let count = 0;
  let stopping = false;
  let current: Receiver | undefined;
  const waiting = new Set<Socket>();
  let queue: Promise<void> = Promise.resolve();
  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });

  const stopInterrupt = onInterrupt(() => {
    stopping = true;
    server.close();
    for (const s of waiting) s.resetAndDestroy();
    if (current && keepListening) {
      note(out.quiet, `${label}: finishing the current transfer (Ctrl-C again to abort)`);
      return;
    }
    const code = current || !keepListening ? EXIT_INTERRUPTED : failures > 0 ? EXIT_FAILURE : EXIT_OK;
    current?.abort("interrupted");
    setTimeout(() => resolveDone(code), 50); // lets any RST go out before the process exits
  });

  server.on("connection", (socket: Socket) => {
    if (stopping) {
      socket.resetAndDestroy();
      return;
    }
    socket.on("error", () => {}); // reported by the Receiver once its turn comes
    if (!keepListening) server.close(); // one transfer: refuse further senders
    waiting.add(socket);
    queue = queue.then(async () => {
      waiting.delete(socket);
      if (stopping) {
        socket.resetAndDestroy();
        return;
      }
      if (socket.destroyed) {
        process.stderr.write(
          `${label}: the sender at ${formatAddress(socket.remoteAddress, socket.remotePort)} went away before its transfer started\n`,
        );
        failures++;
        if (!keepListening) resolveDone(EXIT_FAILURE);
        return;
      }
      const r = new Receiver(socket, output, ++count, label, out, encryption);
      current = r;
      const ok = await r.run();
      current = undefined;
      if (!ok) failures++;
      if (!keepListening) {
        await r.closed;
        resolveDone(ok ? EXIT_OK : EXIT_FAILURE);
      } else if (stopping) resolveDone(failures > 0 ? EXIT_FAILURE : EXIT_OK);
    });
  });

  const code = await done;
  stopInterrupt();
  stopWatching();
  return code;
}

/** A file name safe to create inside the output directory. */
function safeName(name: string, n: number): string {
  const base = basename(name.replaceAll("\\", "/"));
  if (base === "" || base === "." || base === ".." || base === "-") return `rudp-received-${n}`;
  return base;
}

/** One transfer on one connection. */
class Receiver {
  readonly #socket: Socket;
  readonly #output: Output;
  readonly #n: number;
  readonly #label: string;
  readonly #settings: OutputSettings;
  readonly #encryption: EncryptionSetup;
  readonly #peer: string;
  readonly #hash = createHash("sha256");
  #header: TransferHeader | undefined;
  #trailer: TransferTrailer | undefined;
  #out: Writable | undefined;
  #ownOut: WriteStream | undefined;
  #pending: Buffer[] = [];
  #received = 0;
  #progress: Progress | undefined;
  #settled = false;
  #resolve: (ok: boolean) => void = () => {};
  /** Resolves once the connection closed (or after a bounded wait for the sender's last ACK). */
  closed: Promise<void>;

  constructor(
    socket: Socket,
    output: Output,
    n: number,
    label: string,
    settings: OutputSettings,
    encryption: EncryptionSetup,
  ) {
    this.#socket = socket;
    this.#output = output;
    this.#n = n;
    this.#label = label;
    this.#settings = settings;
    this.#encryption = encryption;
    this.#peer = formatAddress(socket.remoteAddress, socket.remotePort);
    this.closed = new Promise((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once("close", () => resolve());
    });
  }

  /** Receives the transfer; resolves true when it verified. */
  run(): Promise<boolean> {
    const socket = this.#socket;
    const result = new Promise<boolean>((resolve) => {
      this.#resolve = resolve;
    });
    socket.on("error", (err) => {
      const code = (err as { code?: string }).code;
      this.#fail(
        code === "ECONNRESET"
          ? "the sender reset the connection"
          : code === "ETIMEDOUT"
            ? "the connection timed out"
            : `connection failed: ${describeError(err)}`,
      );
    });
    socket.on("close", () => this.#fail("the connection closed before the transfer completed"));
    socket.on("data", (chunk: Buffer) => this.#onData(chunk));
    socket.on("end", () => setImmediate(() => void this.#complete()));
    void this.#readMessages();
    return result;
  }

  /** Ends the transfer at once with a reset. */
  abort(reason: string): void {
    this.#fail(reason);
    if (!this.#socket.destroyed) this.#socket.resetAndDestroy();
  }

  async #readMessages(): Promise<void> {
    try {
      for await (const m of this.#socket.messages()) {
        if (this.#settled) continue;
        if (!this.#header) this.#onHeader(decodeHeader(m));
        else if (!this.#trailer) this.#trailer = decodeTrailer(m);
      }
    } catch (err) {
      this.#fail(describeError(err));
    }
  }

  #onHeader(h: TransferHeader): void {
    this.#header = h;
    if (this.#output.dir !== undefined) {
      const path = join(this.#output.dir, safeName(h.name, this.#n));
      this.#ownOut = createWriteStream(path);
      this.#out = this.#ownOut;
    } else this.#out = this.#output.shared;
    this.#out?.on("error", this.#onOutputError);
    const from = h.name === "-" ? "stdin" : `"${h.name}"`;
    this.#progress = new Progress({
      label: this.#label,
      mode: this.#settings.progress,
      quiet: this.#settings.quiet,
      tracing: this.#settings.trace,
      intervalMs: this.#settings.interval,
      total: h.size,
      sample: () => ({ bytes: this.#received, stats: this.#stats() }),
    });
    if (this.#settings.progress === "plain" || process.stderr.isTTY)
      this.#progress.log(
        `${this.#label}: receiving ${from}${h.size !== undefined ? ` (${h.size} bytes)` : ""} from ${this.#peer}`,
      );
    this.#progress.start();
    const pending = this.#pending;
    this.#pending = [];
    for (const c of pending) this.#onData(c);
    if (!this.#settled) this.#socket.resume();
  }

  readonly #onOutputError = (err: Error): void => {
    this.#fail(`cannot write the output: ${describeError(err)}`);
  };

  #stats(): ConnectionStats | undefined {
    try {
      return this.#socket.stats();
    } catch {
      return undefined;
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#settled) return; // a failed transfer's remaining data is read and dropped
    if (!this.#header) {
      // The header travels first, but its message may be handed over just after the first bytes.
      this.#pending.push(chunk);
      this.#socket.pause();
      return;
    }
    this.#hash.update(chunk);
    this.#received += chunk.length;
    const out = this.#out as Writable;
    if (!out.write(chunk)) {
      this.#socket.pause();
      out.once("drain", () => {
        if (!this.#settled) this.#socket.resume();
      });
    }
  }

  async #complete(): Promise<void> {
    if (this.#settled) return;
    const header = this.#header;
    if (!header) {
      this.#fail("the sender closed without sending a header");
      return;
    }
    const digest = this.#hash.digest("hex");
    const problem = verifyTransfer(header, this.#trailer, this.#received, digest);
    // What arrived is on its way to the output before the sender hears "ok".
    if (this.#ownOut) await new Promise<void>((r) => (this.#ownOut as WriteStream).end(() => r()));
    else if (this.#out) await flushWritable(this.#out);
    if (this.#settled) return;
    if (problem) {
      this.#fail(problem);
      return;
    }
    this.#settled = true;
    const stats = this.#stats();
    const socket = this.#socket;
    try {
      socket.sendMessage(encodeMessage({ type: "ok", sha256: digest }));
      socket.end();
    } catch {
      // The sender already went away: it will not exit 0, but the data here is good.
    }
    this.#out?.off("error", this.#onOutputError);
    const trailer = this.#trailer as TransferTrailer;
    const sender =
      trailer.segments !== undefined && trailer.retransmits !== undefined
        ? { segments: trailer.segments, retransmits: trailer.retransmits }
        : undefined;
    const lines = transferSummary(
      `${this.#label}: received`,
      this.#received,
      this.#progress?.elapsedMs ?? 0,
      stats,
      sender,
    );
    lines[0] += ` from ${this.#peer}${header.name === "-" ? "" : ` ("${header.name}")`}`;
    this.#progress?.summary([
      ...lines,
      securityLine(this.#encryption, stats),
      `  verified         SHA-256 ${digest} matches the sender's`,
    ]);
    this.closed = withTimeout(
      new Promise<void>((r) => {
        socket.once("finish", () => r());
        socket.once("close", () => r());
      }),
      5000,
      undefined,
    );
    this.#resolve(true);
  }

  #fail(reason: string): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#progress?.stop();
    this.#out?.off("error", this.#onOutputError);
    this.#ownOut?.end();
    process.stderr.write(`${this.#label}: transfer from ${this.#peer} FAILED: ${reason}\n`);
    const socket = this.#socket;
    if (!socket.destroyed) {
      try {
        socket.sendMessage(encodeMessage({ type: "error", message: reason }));
        socket.end();
      } catch {
        // Already ended.
      }
      socket.resume(); // drain what is still coming so the sender can see the error
      const reset = setTimeout(() => socket.resetAndDestroy(), 5000);
      reset.unref();
      socket.once("close", () => clearTimeout(reset));
      this.closed = withTimeout(this.closed, 5000, undefined);
    }
    this.#resolve(false);
  }
}
