/**
 * Parsing of the units the CLI accepts: sizes (64KiB, 8MiB, 1.5GB), durations
 * (25ms, 2s, 500us), rates (100mbit, 10MB/s) and probabilities (5%, 0.05).
 * Each parser throws a RangeError naming what it could not read.
 */

const SIZE_UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1e6,
  mb: 1e6,
  mib: 1024 ** 2,
  g: 1e9,
  gb: 1e9,
  gib: 1024 ** 3,
};

/** Bytes in a size such as "8MiB", "64k" or "1000". */
export function parseSize(text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new RangeError(`invalid size "${text}" (examples: 512KiB, 8MiB, 1GB)`);
  return Math.round(Number(m[1]) * unit);
}

const TIME_UNITS: Record<string, number> = { us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, min: 60_000 };

/** Milliseconds in a duration such as "25ms", "2s" or "1.5min" (a bare number is milliseconds). */
export function parseDuration(text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-zµ]*)\s*$/i.exec(text);
  const unit = m ? (m[2] === "" ? 1 : TIME_UNITS[m[2].toLowerCase()]) : undefined;
  if (!m || unit === undefined) throw new RangeError(`invalid duration "${text}" (examples: 25ms, 2s, 1min)`);
  return Number(m[1]) * unit;
}

const RATE_UNITS: Record<string, number> = {
  bit: 1,
  kbit: 1e3,
  mbit: 1e6,
  gbit: 1e9,
  bps: 1,
  kbps: 1e3,
  mbps: 1e6,
  gbps: 1e9,
  "b/s": 8,
  "kb/s": 8e3,
  "mb/s": 8e6,
  "gb/s": 8e9,
};

/** Bits per second in a rate such as "100mbit", "1gbit" or "10MB/s". */
export function parseRate(text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-z/]+)\s*$/i.exec(text);
  const unit = m ? RATE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new RangeError(`invalid rate "${text}" (examples: 100mbit, 1gbit, 10MB/s)`);
  return Number(m[1]) * unit;
}

/** A probability from "5%" or "0.05". */
export function parseProbability(text: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*(%?)\s*$/.exec(text);
  if (!m) throw new RangeError(`invalid probability "${text}" (examples: 5%, 0.05)`);
  const p = m[2] ? Number(m[1]) / 100 : Number(m[1]);
  if (p < 0 || p > 1) throw new RangeError(`probability "${text}" is not between 0 and 100%`);
  return p;
}

/** "12.3 MiB" style rendering of a byte count. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** "45.1 Mbit/s" style rendering of a byte rate. */
export function formatRate(bytesPerSecond: number): string {
  const bits = bytesPerSecond * 8;
  if (bits >= 1e9) return `${(bits / 1e9).toFixed(2)} Gbit/s`;
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(1)} Mbit/s`;
  return `${(bits / 1e3).toFixed(1)} kbit/s`;
}
