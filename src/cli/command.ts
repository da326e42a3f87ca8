/** What every rudp command shares: its shape, the common output options, signal handling and process exit. */

import type { Duplex, Writable } from "node:stream";
import { formatAddress, type OptionSpec } from "./args.js";
import { type ProgressMode, parseProgressMode } from "./progress.js";
import { parseDuration } from "./units.js";

/** One subcommand of `rudp`. */
export interface Command {
  /** The word after `rudp`. */
  name: string;
  /** One line for `rudp --help`. */
  summary: string;
  /** The full `rudp <name> --help` text (usage, options, examples). */
  help: string;
  /** Runs the command with the arguments after its name; resolves with the exit code. */
  run(args: string[]): Promise<number>;
}

/** Exit codes: success, failure, bad usage, interrupted (128 + SIGINT). */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

/** Options every network command accepts: how much it prints and whether it traces packets. */
export const OUTPUT_OPTIONS: Record<string, OptionSpec> = {
  quiet: { short: "q" },
  progress: { parse: parseProgressMode },
  interval: { parse: parseDuration },
  trace: {},
  "trace-json": { parse: String },
};

/** The output options' help lines. */
export const OUTPUT_HELP = `  -q, --quiet          print nothing but errors
  --progress MODE      auto (a live bar when stderr is a terminal, else a final
                       summary), bar, plain (periodic lines) or none (summary only)
  --interval TIME      progress update interval (default 100ms for the bar, 1s for plain)
  --trace              print one line per packet on stderr:
                       SEND|RECV|DROP <seq> <ack> <conn> <FLAGS> [<why>] [DUP]
  --trace-json FILE    write every packet event to FILE as JSON lines`;

/** The subset of OUTPUT_OPTIONS for commands without a progress display. */
export const TRACE_OPTIONS: Record<string, OptionSpec> = {
  quiet: OUTPUT_OPTIONS.quiet,
  trace: OUTPUT_OPTIONS.trace,
  "trace-json": OUTPUT_OPTIONS["trace-json"],
};

/** TRACE_OPTIONS' help lines. */
export const TRACE_HELP = `  -q, --quiet          print nothing but errors
  --trace              print one line per packet on stderr:
                       SEND|RECV|DROP <seq> <ack> <conn> <FLAGS> [<why>] [DUP]
  --trace-json FILE    write every packet event to FILE as JSON lines`;

/** Parsed values of OUTPUT_OPTIONS. */
export interface OutputSettings {
  quiet: boolean;
  progress: ProgressMode;
  /** Milliseconds, or undefined for the mode's default. */
  interval: number | undefined;
  trace: boolean;
  traceJson: string | undefined;
}

/** Reads OUTPUT_OPTIONS out of parsed options. */
export function outputSettings(o: Record<string, unknown>): OutputSettings {
  return {
    quiet: o.quiet === true,
    progress: (o.progress as ProgressMode | undefined) ?? "auto",
    interval: o.interval as number | undefined,
    trace: o.trace === true,
    traceJson: o["trace-json"] as string | undefined,
  };
}

/** Prints a status line on stderr unless quiet. */
export function note(quiet: boolean, line: string): void {
  if (!quiet) process.stderr.write(`${line}\n`);
}

/**
 * Calls `handler` on the first SIGINT/SIGTERM (it should close things
 * cleanly); a second signal exits at once with 130. Returns a function that
 * removes the handlers.
 */
export function onInterrupt(handler: (signal: NodeJS.Signals) => void): () => void {
  let count = 0;
  const listener = (signal: NodeJS.Signals): void => {
    count++;
    if (count > 1) {
      process.stderr.write("\n");
      process.exit(EXIT_INTERRUPTED);
    }
    handler(signal);
  };
  process.on("SIGINT", listener);
  process.on("SIGTERM", listener);
  return () => {
    process.off("SIGINT", listener);
    process.off("SIGTERM", listener);
  };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with the promise's value, or with `fallback` after `ms` (the timer keeps the process alive meanwhile). */
export function withTimeout<T, F>(p: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Resolves once everything written so far to `w` has been handed to the OS (or `w` failed). */
export function flushWritable(w: Writable): Promise<void> {
  if (w.destroyed || w.writableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    try {
      w.write(Buffer.alloc(0), () => resolve());
    } catch {
      resolve();
    }
  });
}

/** Resolves once `w` can take more data (after 'drain'), or rejects if it fails or closes first. */
export function drained(w: Writable | Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      w.off("drain", onDrain);
      w.off("error", onError);
      w.off("close", onClose);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = (): void => done();
    const onError = (err: Error): void => done(err);
    const onClose = (): void => done(new Error("the stream closed"));
    w.on("drain", onDrain);
    w.on("error", onError);
    w.on("close", onClose);
  });
}

/** A short human-readable form of an error (its code and message, without a stack). */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** A server that can listen: rudp's or node:net's. */
export interface Listenable {
  once(event: string, fn: (arg?: unknown) => void): unknown;
  listen(port: number, host?: string): unknown;
}

/** Starts `server` (rudp or TCP) listening; on failure prints "<label>: cannot listen on …" and resolves false. */
export async function listenOrReport(
  server: Listenable,
  label: string,
  port: number,
  host: string | undefined,
): Promise<boolean> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("listening", () => resolve());
      server.once("error", reject);
      server.listen(port, host);
    });
    return true;
  } catch (err) {
    process.stderr.write(`${label}: cannot listen on ${formatAddress(host ?? "*", port)}: ${describeError(err)}\n`);
    return false;
  }
}
