/** `rudp send`: sends a file or stdin to `rudp recv` and exits 0 only once the receiver confirmed its SHA-256. */

import { createHash } from "node:crypto";
import { createReadStream, fstatSync } from "node:fs";
import { basename } from "node:path";
import type { Readable } from "node:stream";
import { connect } from "../api/connect.js";
import type { Socket } from "../api/socket.js";
import type { ConnectionStats } from "../core/connection/stats.js";
import { CONTROLLER_NAMES } from "../core/index.js";
import { checkInputFile, expectPositionals, formatAddress, parseArgs, parsePort, resolveHost } from "./args.js";
import {
  type Command,
  describeError,
  drained,
  EXIT_FAILURE,
  EXIT_INTERRUPTED,
  EXIT_OK,
  OUTPUT_HELP,
  OUTPUT_OPTIONS,
  type OutputSettings,
  onInterrupt,
  outputSettings,
  sleep,
  withTimeout,
} from "./command.js";
import {
  CLIENT_ENCRYPTION_HELP,
  describeHandshakeFailure,
  ENCRYPTION_OPTIONS,
  type EncryptionSetup,
  encryptionSetup,
  securityLine,
} from "./encryption-options.js";
import { Progress, transferSummary } from "./progress.js";
import { openTracer, type Tracer } from "./trace.js";
import { decodeReply, encodeMessage, TRANSFER_PROTOCOL, type TransferHeader, type TransferReply } from "./transfer.js";
import { parseDuration } from "./units.js";

const USAGE = "rudp send [FILE|-] HOST PORT";

/** How long to wait for the receiver's verdict once it acknowledged our FIN. */
const REPLY_TIMEOUT_MS = 30_000;

const HELP = `Usage: ${USAGE} [options]

Sends FILE (or stdin, when FILE is "-" or left out) to "rudp recv" listening
on HOST PORT. A header message (name, size) goes first, then the bytes, then a
trailer with their SHA-256. Exits 0 only once every byte was acknowledged and
the receiver confirmed the hash; 1 if the transfer failed or was rejected.

Options:
  --connect-timeout TIME  give up connecting after TIME (default 30s)
  --cc NAME               congestion control: cubic (default), bbr (best on lossy links), newreno
${OUTPUT_HELP}

Encryption (keys from "rudp keygen"; the summary says what protected the transfer):
${CLIENT_ENCRYPTION_HELP}

Examples:
  rudp send backup.tar 192.0.2.7 5000
  rudp send backup.tar 192.0.2.7 5000 --peer-key server.pub
  tar c photos | rudp send 192.0.2.7 5000
  rudp send --progress=plain --trace-json trace.jsonl big.iso 127.0.0.1 5000
`;

/** The `rudp send` command. */
export const sendCommand: Command = {
  name: "send",
  summary: "Send a file or stdin to `rudp recv`, verified with SHA-256",
  help: HELP,
  run: runSend,
};

/** Bytes readable from stdin when it is a regular file (a redirect), else undefined. */
function stdinSize(): number | undefined {
  try {
    const st = fstatSync(0);
    return st.isFile() ? st.size : undefined;
  } catch {
    return undefined;
  }
}

async function runSend(args: string[]): Promise<number> {
  const { options, positionals } = parseArgs(args, {
    ...OUTPUT_OPTIONS,
    ...ENCRYPTION_OPTIONS,
    "connect-timeout": { parse: parseDuration },
    cc: { parse: parseController },
  });
  expectPositionals(positionals, 2, 3, USAGE);
  const [file, hostText, portText] = positionals.length === 3 ? positionals : ["-", ...positionals];
  const port = parsePort(portText);
  const encryption = encryptionSetup(options, "client", "rudp send");
  let size: number | undefined;
  if (file !== "-") {
    const s = checkInputFile(file);
    size = s >= 0 ? s : undefined;
  } else size = stdinSize();
  const { address } = await resolveHost(hostText);
  const out = outputSettings(options);
  const tracer = await openTracer(out.trace, out.traceJson);
  const input: Readable = file === "-" ? process.stdin : createReadStream(file, { highWaterMark: 256 * 1024 });
  const header: TransferHeader = {
    type: "header",
    protocol: TRANSFER_PROTOCOL,
    name: file === "-" ? "-" : basename(file),
    size,
  };
  try {
    return await send({
      input,
      header,
      host: hostText,
      address,
      port,
      out,
      tracer,
      connectTimeout: (options["connect-timeout"] as number | undefined) ?? 30_000,
      congestionControl: options.cc as string | undefined,
      encryption,
    });
  } finally {
    input.destroy();
    await tracer.close();
  }
}

interface SendJob {
  input: Readable;
  header: TransferHeader;
  host: string;
  address: string;
  port: number;
  out: OutputSettings;
  tracer: Tracer;
  connectTimeout: number;
  congestionControl: string | undefined;
  encryption: EncryptionSetup;
}

/** A congestion controller name for --cc (the unsafe mode is not offered on the command line). */
export function parseController(name: string): string {
  if (!CONTROLLER_NAMES.includes(name) || name.startsWith("unsafe"))
    throw new RangeError(`unknown congestion control "${name}" (choose cubic, bbr or newreno)`);
  return name;
}

/** Why a connection failed, in words (ECONNREFUSED gets a hint). */
function describeSocketError(err: unknown, target: string): string {
  const refused = describeHandshakeFailure(err);
  if (refused) return `cannot connect to ${target}: ${refused}`;
  const code = (err as { code?: string }).code;
  if (code === "ECONNREFUSED")
    return `cannot connect to ${target}: connection refused (is "rudp recv" listening there?)`;
  if (code === "ETIMEDOUT") return `connection to ${target} timed out`;
  if (code === "ECONNRESET") return `the receiver reset the connection`;
  return describeError(err);
}

function send(job: SendJob): Promise<number> {
  const label = "rudp send";
  const target = formatAddress(job.address, job.port);
  const socket: Socket = connect({
    port: job.port,
    host: job.address,
    allowHalfOpen: true,
    onTrace: job.tracer.onTrace,
    connectTimeout: job.connectTimeout,
    congestionControl: job.congestionControl,
    encryption: job.encryption.config,
  });
  const hash = createHash("sha256");
  let sent = 0;
  let digest = "";
  let connected = false;
  let finished = false;
  let peerEnded = false;
  let reply: TransferReply | undefined;
  let finalStats: ConnectionStats | undefined;
  let settled = false;
  let progress: Progress | undefined;
  const stats = (): ConnectionStats | undefined => {
    try {
      return socket.stats();
    } catch {
      return undefined;
    }
  };

  return new Promise<number>((resolve) => {
    const stopInterrupt = onInterrupt(() => fail("interrupted", EXIT_INTERRUPTED));

    function settle(code: number): void {
      stopInterrupt();
      resolve(code);
    }

    function fail(message: string, code = EXIT_FAILURE): void {
      if (settled) return;
      settled = true;
      progress?.stop();
      job.input.destroy();
      process.stderr.write(`${label}: ${message}\n`);
      if (socket.destroyed) settle(code);
      else {
        socket.resetAndDestroy();
        setTimeout(() => settle(code), 50); // lets the RST go out before the process exits
      }
    }

    async function succeed(): Promise<void> {
      if (settled) return;
      settled = true;
      finalStats = stats();
      const elapsed = progress?.elapsedMs ?? 0;
      // The receiver closes its side after its "ok": wait for its FIN, then stay a moment to
      // acknowledge it again should our ACK be lost (a short TIME-WAIT).
      if (!peerEnded && !socket.destroyed)
        await withTimeout(
          new Promise((r) => {
            socket.once("end", r);
            socket.once("close", r);
          }),
          5000,
          undefined,
        );
      const rto = (finalStats?.rto ?? 200_000) / 1000;
      await sleep(Math.min(1000, Math.max(100, 2 * rto)));
      progress?.summary([
        ...transferSummary(`${label}: sent`, sent, elapsed, finalStats),
        securityLine(job.encryption, finalStats),
        `  verified         SHA-256 ${digest}, confirmed by the receiver`,
      ]);
      settle(EXIT_OK);
    }

    function check(): void {
      if (finished && reply?.type === "ok") void succeed();
    }

    socket.on("connect", () => {
      connected = true;
      if (!job.out.quiet && (job.out.progress === "plain" || process.stderr.isTTY))
        process.stderr.write(
          `${label}: connected to ${target}${job.encryption.config ? " (encrypted)" : ""}, sending ${describeInput(job.header)}\n`,
        );
      progress = new Progress({
        label,
        mode: job.out.progress,
        quiet: job.out.quiet,
        tracing: job.out.trace,
        intervalMs: job.out.interval,
        total: job.header.size,
        sample: () => ({
          bytes: finished ? sent : Math.max(0, Math.min(sent, socket.bytesWritten - socket.bufferSize)),
          stats: stats(),
        }),
      }).start();
      pump().catch((err: unknown) => {
        if (!settled) fail(`cannot read ${job.header.name === "-" ? "stdin" : job.header.name}: ${describeError(err)}`);
      });
    });
    socket.on("message", (m: Buffer) => {
      if (reply) return;
      try {
        reply = decodeReply(m);
      } catch (err) {
        fail(describeError(err));
        return;
      }
      if (reply.type === "error") fail(`the receiver rejected the transfer: ${reply.message ?? "no reason given"}`);
      else if (reply.sha256 !== undefined && digest !== "" && reply.sha256 !== digest)
        fail(`the receiver confirmed a different SHA-256 (${reply.sha256})`);
      else check();
    });
    socket.on("finish", () => {
      finished = true;
      check();
      // The receiver answers as soon as it has our FIN, which it has now acknowledged.
      if (!reply)
        setTimeout(() => {
          if (!reply) fail("the receiver acknowledged everything but did not confirm the transfer");
        }, REPLY_TIMEOUT_MS);
    });
    socket.on("end", () => {
      peerEnded = true;
    });
    socket.on("error", (err) => fail(describeSocketError(err, target)));
    socket.on("close", () => {
      if (!(finished && reply))
        fail(connected ? "the connection closed before the receiver confirmed" : "cannot connect");
    });
    socket.resume(); // the receiver sends no stream data, but its end must be read

    async function pump(): Promise<void> {
      socket.sendMessage(encodeMessage(job.header));
      let lastWrite: Promise<unknown> = Promise.resolve();
      for await (const chunk of job.input as AsyncIterable<Buffer>) {
        if (settled) return;
        hash.update(chunk);
        sent += chunk.length;
        let ok = true;
        lastWrite = new Promise((r) => {
          ok = socket.write(chunk, r);
        });
        if (!ok) {
          if (socket.destroyed) return;
          await drained(socket).catch(() => {});
        }
      }
      // Every byte must be in the connection before the trailer, which travels in order after them.
      await lastWrite;
      // Wait until they are all acknowledged, so the trailer carries final counts for the receiver's summary.
      while (!settled && !socket.destroyed && socket.bufferSize > 0) await sleep(2);
      if (settled) return;
      digest = hash.digest("hex");
      const st = stats();
      socket.sendMessage(
        encodeMessage({
          type: "trailer",
          sha256: digest,
          size: sent,
          segments: st?.segmentsSent,
          retransmits: st?.retransmits,
        }),
      );
      socket.end();
    }
  });
}

function describeInput(h: TransferHeader): string {
  const name = h.name === "-" ? "stdin" : `"${h.name}"`;
  return h.size !== undefined ? `${name} (${h.size} bytes)` : name;
}
