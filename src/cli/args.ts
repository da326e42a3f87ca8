/** Command-line argument parsing shared by the rudp commands: options, ports, host:port pairs and name lookup. */

import { lookup } from "node:dns/promises";
import { statSync } from "node:fs";
import { isIP } from "node:net";

/** A bad command line: main prints it with a pointer to --help and exits with code 2. */
export class UsageError extends Error {}

/** How one option is written and read. */
export interface OptionSpec {
  /** One-letter alias: "o" accepts `-o VALUE`. */
  short?: string;
  /** Parses the option's value (throwing names what is wrong); absent for a flag. */
  parse?: (value: string) => unknown;
  /** The option may be given more than once: its parsed values are collected in an array. */
  multiple?: boolean;
}

/** Options (by long name) and positional arguments, in order. */
export interface ParsedArgs {
  options: Record<string, unknown>;
  positionals: string[];
}

/** True when `-h` or `--help` appears before any `--`. */
export function wantsHelp(args: readonly string[]): boolean {
  for (const a of args) {
    if (a === "--") return false;
    if (a === "-h" || a === "--help") return true;
  }
  return false;
}

/**
 * Parses `--name value`, `--name=value`, `-x value` and flags. A lone `-` is a
 * positional (stdin); `--` ends the options. Unknown options and missing or
 * unreadable values throw UsageError.
 */
export function parseArgs(args: readonly string[], spec: Record<string, OptionSpec>): ParsedArgs {
  const options: Record<string, unknown> = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, s] of Object.entries(spec)) if (s.short) byShort.set(s.short, name);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-") || /^-[0-9]/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = arg.slice(2, eq < 0 ? undefined : eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else {
      const long = byShort.get(arg.slice(1, 2));
      if (long === undefined) throw new UsageError(`unknown option "${arg}"`);
      name = long;
      inline = arg.length > 2 ? arg.slice(2) : undefined;
    }
    const s = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!s) throw new UsageError(`unknown option "--${name}"`);
    if (!s.parse) {
      if (inline !== undefined) throw new UsageError(`option "--${name}" takes no value`);
      options[name] = true;
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`option "--${name}" needs a value`);
    try {
      const parsed = s.parse(value);
      if (s.multiple) options[name] = [...((options[name] as unknown[] | undefined) ?? []), parsed];
      else options[name] = parsed;
    } catch (err) {
      throw new UsageError(`--${name}: ${(err as Error).message}`);
    }
  }
  return { options, positionals };
}

/** Throws UsageError unless there are between `min` and `max` positionals. */
export function expectPositionals(positionals: readonly string[], min: number, max: number, usage: string): void {
  if (positionals.length < min) throw new UsageError(`missing arguments (usage: ${usage})`);
  if (positionals.length > max) throw new UsageError(`unexpected argument "${positionals[max]}" (usage: ${usage})`);
}

/** A port number from text; 0 (any free port) only when `allowZero`. */
export function parsePort(text: string, allowZero = false, what = "port"): number {
  if (!/^[0-9]+$/.test(text)) throw new UsageError(`invalid ${what} "${text}" (expected a number from 1 to 65535)`);
  const port = Number(text);
  if (port > 65535 || (port === 0 && !allowZero))
    throw new UsageError(`${what} ${text} is out of range (${allowZero ? 0 : 1}-65535)`);
  return port;
}

/** A host and port. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Splits "host:port", "[v6addr]:port" or (when `defaultHost` is given) a bare
 * "port" into its parts.
 */
export function parseHostPort(text: string, defaultHost?: string, allowZero = false): HostPort {
  if (defaultHost !== undefined && /^[0-9]+$/.test(text))
    return { host: defaultHost, port: parsePort(text, allowZero) };
  const m = /^\[([^\]]+)\]:([^:]+)$/.exec(text) ?? /^([^:]+):([^:]+)$/.exec(text);
  if (!m)
    throw new UsageError(
      `invalid address "${text}" (expected HOST:PORT${defaultHost !== undefined ? " or PORT" : ""})`,
    );
  return { host: m[1], port: parsePort(m[2], allowZero) };
}

/** A resolved address. */
export interface Resolved {
  address: string;
  family: "IPv4" | "IPv6";
}

/** Resolves a host name (or passes an IP literal through); an unknown name is a UsageError. */
export async function resolveHost(host: string): Promise<Resolved> {
  const literal = isIP(host);
  if (literal) return { address: host, family: literal === 6 ? "IPv6" : "IPv4" };
  try {
    const r = await lookup(host);
    return { address: r.address, family: r.family === 6 ? "IPv6" : "IPv4" };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot resolve host "${host}"${code ? ` (${code})` : ""}`);
  }
}

/** "host:port", with brackets around IPv6 addresses. */
export function formatAddress(address: string | undefined, port: number | undefined): string {
  const a = address ?? "?";
  return `${a.includes(":") ? `[${a}]` : a}:${port ?? "?"}`;
}

/** Checks that `path` is a readable regular file (UsageError otherwise) and returns its size. */
export function checkInputFile(path: string): number {
  let st: ReturnType<typeof statSync>;
  try {
    st = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(
      code === "ENOENT" ? `no such file "${path}"` : `cannot read "${path}": ${(err as Error).message}`,
    );
  }
  if (st.isDirectory()) throw new UsageError(`"${path}" is a directory, not a file`);
  return st.isFile() ? st.size : -1;
}

/** A non-negative integer (for seeds and counts). */
export function parseCount(text: string): number {
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n)) throw new RangeError(`invalid number "${text}"`);
  return n;
}
