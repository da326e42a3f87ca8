/** Packet tracing for the CLI: `--trace` lines on stderr and `--trace-json` JSON lines, fed by the `onTrace` hook. */

import { createWriteStream, type WriteStream } from "node:fs";
import type { TraceEvent } from "../core/endpoint.js";
import { Flag } from "../core/wire/packet.js";
import { formatAddress, UsageError } from "./args.js";
import { flushWritable } from "./command.js";

const FLAG_NAMES = Object.entries(Flag) as [string, number][];

/** Flag bits as names joined by "|" ("SYN|ACK"), or "-" for none. */
export function flagNames(flags: number): string {
  const names: string[] = [];
  let known = 0;
  for (const [name, bit] of FLAG_NAMES) {
    known |= bit;
    if (flags & bit) names.push(name);
  }
  if (flags & ~known) names.push(`0x${(flags & ~known).toString(16)}`);
  return names.length > 0 ? names.join("|") : "-";
}

/** A connection id as 8 hex digits. */
function cid(conn: number): string {
  return (conn >>> 0).toString(16).padStart(8, "0");
}

/**
 * One `--trace` line: `SEND <seq> <ack> <conn> <FLAGS>`, `RECV …` or
 * `DROP … <why>`, with ` DUP` appended for retransmissions; absent fields are "-".
 */
export function formatTraceLine(e: TraceEvent): string {
  let line = `${e.event.toUpperCase()} ${e.seq ?? "-"} ${e.ack ?? "-"} ${cid(e.conn)} ${flagNames(e.flags)}`;
  if (e.event === "drop") line += ` ${e.reason ?? "unknown"}`;
  if (e.retransmit) line += " DUP";
  return line;
}

/** One `--trace-json` record; `time` counts µs from the first event. */
export function traceRecord(e: TraceEvent, origin: number): Record<string, unknown> {
  return {
    time: Math.round(e.time - origin),
    event: e.event,
    conn: cid(e.conn),
    peer: formatAddress(e.peer.address, e.peer.port),
    flags: flagNames(e.flags).split("|"),
    seq: e.seq,
    ack: e.ack,
    size: e.size,
    retransmit: e.retransmit || undefined,
    reason: e.reason,
    cwnd: e.cwnd,
    srtt: e.srtt,
  };
}

/** Writes trace events where the options asked; `onTrace` is undefined when tracing is off. */
export class Tracer {
  readonly onTrace: ((e: TraceEvent) => void) | undefined;
  readonly #lines: boolean;
  readonly #json: WriteStream | undefined;
  #pending: string[] = [];
  #scheduled = false;
  #origin: number | undefined;

  /** `lines`: `--trace` on stderr; `jsonPath`: the `--trace-json` file (opened at once; errors throw). */
  constructor(lines: boolean, jsonPath: string | undefined) {
    this.#lines = lines;
    if (jsonPath !== undefined) this.#json = createWriteStream(jsonPath, { flags: "w" });
    this.onTrace = lines || this.#json ? (e) => this.#record(e) : undefined;
  }

  /** Resolves once the JSON file exists (rejects if it cannot be opened). */
  ready(): Promise<void> {
    const json = this.#json;
    if (!json) return Promise.resolve();
    return new Promise((resolve, reject) => {
      if (json.pending === false) resolve();
      json.once("ready", () => resolve());
      json.once("error", reject);
    });
  }

  #record(e: TraceEvent): void {
    if (this.#lines) {
      this.#pending.push(formatTraceLine(e));
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flushLines());
      }
    }
    if (this.#json && !this.#json.writableEnded) {
      this.#origin ??= e.time;
      this.#json.write(`${JSON.stringify(traceRecord(e, this.#origin))}\n`);
    }
  }

  #flushLines(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return;
    const text = `${this.#pending.join("\n")}\n`;
    this.#pending = [];
    process.stderr.write(text);
  }

  /** Writes out what is buffered and closes the JSON file. */
  async close(): Promise<void> {
    this.#flushLines();
    const json = this.#json;
    if (json && !json.writableEnded) {
      await flushWritable(json);
      await new Promise<void>((resolve) => json.end(() => resolve()));
    }
  }
}

/** A Tracer whose `--trace-json` file is open; a file that cannot be created is a UsageError. */
export async function openTracer(lines: boolean, jsonPath: string | undefined): Promise<Tracer> {
  const tracer = new Tracer(lines, jsonPath);
  await tracer.ready().catch((err: Error) => {
    throw new UsageError(`--trace-json: ${err.message}`);
  });
  return tracer;
}
