/** Transfer progress on stderr: a live bar on terminals, plain periodic lines, and the final summary. */

import type { ConnectionStats } from "../core/connection/stats.js";
import { formatBytes, formatRate } from "./units.js";

/** How progress is shown: see `rudp send --help`. */
export type ProgressMode = "auto" | "bar" | "plain" | "none";

/** Parses a --progress value. */
export function parseProgressMode(text: string): ProgressMode {
  if (text === "auto" || text === "bar" || text === "plain" || text === "none") return text;
  throw new RangeError(`invalid mode "${text}" (expected auto, bar, plain or none)`);
}

/** What the reporter samples on each update. */
export interface ProgressSample {
  /** Payload bytes done so far. */
  bytes: number;
  /** The connection's statistics, when available. */
  stats?: ConnectionStats;
}

/** Settings of a progress reporter. */
export interface ProgressOptions {
  /** Prefix of every line, such as "rudp send". */
  label: string;
  mode: ProgressMode;
  quiet: boolean;
  /** Packet tracing writes to stderr too, so a live bar would garble it. */
  tracing: boolean;
  /** Milliseconds between updates (default 100 for the bar, 1000 for plain lines). */
  intervalMs?: number;
  /** Expected total, for the percentage and the ETA. */
  total?: number;
  sample: () => ProgressSample;
  /** Where to write (default process.stderr). */
  out?: NodeJS.WriteStream;
}

/** Rate over the last few seconds of samples. */
class RateMeter {
  #points: [number, number][] = [];
  add(t: number, bytes: number): number {
    this.#points.push([t, bytes]);
    while (this.#points.length > 2 && t - this.#points[0][0] > 3000) this.#points.shift();
    const [t0, b0] = this.#points[0];
    return t > t0 ? ((bytes - b0) * 1000) / (t - t0) : 0;
  }
}

/** Shows progress while a transfer runs and prints its summary when it ends. */
export class Progress {
  readonly #o: ProgressOptions;
  readonly #out: NodeJS.WriteStream;
  readonly #mode: "bar" | "plain" | "summary" | "silent";
  readonly #started = performance.now();
  readonly #meter = new RateMeter();
  #timer: NodeJS.Timeout | undefined;
  #barShown = false;
  #total: number | undefined;

  constructor(o: ProgressOptions) {
    this.#o = o;
    this.#out = o.out ?? process.stderr;
    this.#total = o.total;
    const tty = this.#out.isTTY === true;
    if (o.quiet) this.#mode = "silent";
    else if (o.mode === "none") this.#mode = "summary";
    else if (o.mode === "plain") this.#mode = "plain";
    else if (o.mode === "bar") this.#mode = tty && !o.tracing ? "bar" : "plain";
    else this.#mode = tty && !o.tracing ? "bar" : "summary";
  }

  /** Milliseconds since the reporter was created. */
  get elapsedMs(): number {
    return performance.now() - this.#started;
  }

  /** Sets the expected total once it is known. */
  setTotal(total: number | undefined): void {
    this.#total = total;
  }

  /** Starts periodic updates. */
  start(): this {
    if (this.#mode !== "bar" && this.#mode !== "plain") return this;
    const interval = this.#o.intervalMs ?? (this.#mode === "bar" ? 100 : 1000);
    this.#timer = setInterval(() => this.#update(), Math.max(interval, this.#mode === "bar" ? 100 : 1));
    this.#timer.unref();
    return this;
  }

  /** Stops updates; in plain mode prints one last progress line; clears the bar. */
  stop(): void {
    if (this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
      if (this.#mode === "plain") this.#update(true);
    }
    this.#clearBar();
  }

  /** Prints the final summary lines (unless quiet); stops updates first. */
  summary(lines: string[]): void {
    this.stop();
    if (this.#mode === "silent") return;
    for (const l of lines) this.#out.write(`${l}\n`);
  }

  /** Prints a line above the bar (unless quiet). */
  log(line: string): void {
    if (this.#mode === "silent") return;
    this.#clearBar();
    this.#out.write(`${line}\n`);
  }

  #clearBar(): void {
    if (this.#barShown) {
      this.#out.write("\r\x1b[2K");
      this.#barShown = false;
    }
  }

  #update(final = false): void {
    let s: ProgressSample;
    try {
      s = this.#o.sample();
    } catch {
      return;
    }
    const elapsed = this.elapsedMs;
    // The final line shows the average; live updates the rate over the last few seconds.
    const recent = this.#meter.add(elapsed, s.bytes);
    const rate = final ? (s.bytes * 1000) / Math.max(elapsed, 1) : recent;
    const total = this.#total;
    const parts: string[] = [];
    const pct = total !== undefined && total > 0 ? Math.min(100, (s.bytes / total) * 100) : undefined;
    parts.push(total !== undefined ? `${formatBytes(s.bytes)} of ${formatBytes(total)}` : formatBytes(s.bytes));
    if (pct !== undefined) parts.push(`${pct.toFixed(0)}%`);
    parts.push(formatRate(rate));
    if (total !== undefined && rate > 0 && s.bytes < total) parts.push(`ETA ${formatEta((total - s.bytes) / rate)}`);
    if (s.stats) {
      parts.push(`rtt ${formatMicros(s.stats.srtt)}`);
      parts.push(`${s.stats.retransmits} retransmitted`);
    }
    if (this.#mode === "plain") {
      this.#out.write(`${this.#o.label}: ${parts.join(", ")}\n`);
      return;
    }
    // The bar: compact fields, with a gauge when the terminal has room for one.
    const columns = this.#out.columns || 80;
    const fields = [total !== undefined ? `${formatBytes(s.bytes)}/${formatBytes(total)}` : formatBytes(s.bytes)];
    if (pct !== undefined) fields.push(`${pct.toFixed(0).padStart(3)}%`);
    fields.push(formatRate(rate));
    if (total !== undefined && rate > 0 && s.bytes < total) fields.push(`ETA ${formatEta((total - s.bytes) / rate)}`);
    if (s.stats) fields.push(`rtt ${formatMicros(s.stats.srtt)}`, `retx ${s.stats.retransmits}`);
    let line = `${this.#o.label}  ${fields.join("  ")}`;
    if (pct !== undefined) {
      const width = Math.min(30, columns - 1 - line.length - 3);
      if (width >= 10) {
        const filled = Math.round((pct / 100) * width);
        line = `${this.#o.label} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${fields.join("  ")}`;
      }
    }
    if (line.length > columns - 1) line = line.slice(0, columns - 1);
    this.#out.write(`\r\x1b[2K${line}`);
    this.#barShown = true;
  }
}

/** "1:05" or "1:02:03" for a number of seconds. */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** "12.3 ms" for a time in microseconds. */
export function formatMicros(us: number): string {
  if (!Number.isFinite(us)) return "-";
  return us >= 10_000 ? `${(us / 1000).toFixed(0)} ms` : `${(us / 1000).toFixed(1)} ms`;
}

/** The sender's own counts, as reported in its trailer. */
export interface SenderCounts {
  segments: number;
  retransmits: number;
}

/**
 * The summary lines of a transfer: volume and time, goodput, retransmissions
 * and the loss they reveal (the sender's own counts when `sender` is given),
 * and the RTT from `stats` (times there are µs).
 */
export function transferSummary(
  headline: string,
  bytes: number,
  elapsedMs: number,
  stats: ConnectionStats | undefined,
  sender?: SenderCounts,
): string[] {
  const secs = Math.max(elapsedMs, 1) / 1000;
  const lines = [`${headline} ${formatBytes(bytes)} (${bytes} bytes) in ${secs.toFixed(2)} s`];
  lines.push(`  goodput          ${formatRate(bytes / secs)}`);
  const lossLine = (retransmits: number, segments: number): string =>
    `  loss seen        ${(segments > 0 ? (retransmits / segments) * 100 : 0).toFixed(1)}% ` +
    `(${retransmits} retransmits / ${segments} segments)`;
  if (sender) {
    lines.push(
      `  retransmissions  ${sender.retransmits} by the sender` +
        (stats ? `; ${stats.duplicateSegments} duplicate segments arrived` : ""),
    );
    lines.push(lossLine(sender.retransmits, sender.segments));
  } else if (stats) {
    lines.push(
      `  retransmissions  ${stats.retransmits} (fast ${stats.fastRetransmits}, timeout ${stats.timeoutRetransmits}, ` +
        `tail probes ${stats.tailLossProbes}); ${stats.congestionEvents} congestion events`,
    );
    lines.push(lossLine(stats.retransmits, stats.segmentsSent));
  }
  if (stats) lines.push(`  rtt              srtt ${formatMicros(stats.srtt)}, min ${formatMicros(stats.minRtt)}`);
  return lines;
}
