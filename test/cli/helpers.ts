/** Helpers for CLI tests: run `rudp` from source as a child process, pick free ports, and clean up afterwards. */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the CLI runs from source there, through tsx: no build needed). */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** How a child process ended, with everything it printed. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/** A running `rudp` child process. */
export interface CliProcess {
  child: ChildProcess;
  /** Everything printed on stderr so far. */
  stderr(): string;
  /** Everything printed on stdout so far (empty when stdout was redirected). */
  stdout(): Buffer;
  /** Resolves when the process exits. */
  exited: Promise<CliResult>;
  /** Resolves once stderr matches `re`; rejects after `timeoutMs` or if the process exits first. */
  waitForStderr(re: RegExp, timeoutMs?: number): Promise<void>;
}

/** Where a child's stdin/stdout go: a pipe, nowhere, or an open file descriptor. */
export type Stdio = "pipe" | "ignore" | number;

const children = new Set<ChildProcess>();

/**
 * How the CLI is started: the built `dist/cli/main.js` (what `npm test` builds first and users run), or
 * the TypeScript source through tsx when no build exists (running one test file by hand).
 */
const CLI = existsSync(join(ROOT, "dist/cli/main.js")) ? ["dist/cli/main.js"] : ["--import", "tsx", "src/cli/main.ts"];

/** Starts `rudp ARGS…` from the repository root. */
export function rudp(args: string[], io: { stdin?: Stdio; stdout?: Stdio } = {}): CliProcess {
  const child = spawn(process.execPath, [...CLI, ...args], {
    cwd: ROOT,
    stdio: [io.stdin ?? "ignore", io.stdout ?? "pipe", "pipe"],
  });
  children.add(child);
  let err = "";
  const out: Buffer[] = [];
  const waiters = new Set<() => void>();
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (d: string) => {
    err += d;
    for (const w of waiters) w();
  });
  child.stdout?.on("data", (d: Buffer) => out.push(d));
  const exited = new Promise<CliResult>((resolve) => {
    child.on("close", (code, signal) => {
      children.delete(child);
      for (const w of waiters) w();
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
  });
  const waitForStderr = (re: RegExp, timeoutMs = 15_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        if (re.test(err)) done();
        else if (child.exitCode !== null || child.signalCode !== null)
          done(new Error(`rudp ${args.join(" ")} exited before printing ${re}:\n${err}`));
      };
      const timer = setTimeout(
        () => done(new Error(`timed out waiting for ${re} from rudp ${args.join(" ")}:\n${err}`)),
        timeoutMs,
      );
      const done = (e?: Error): void => {
        clearTimeout(timer);
        waiters.delete(check);
        if (e) reject(e);
        else resolve();
      };
      waiters.add(check);
      check();
    });
  return { child, stderr: () => err, stdout: () => Buffer.concat(out), exited, waitForStderr };
}

/** Runs `rudp ARGS…` to completion. */
export function runRudp(args: string[], io: { stdin?: Stdio; stdout?: Stdio } = {}): Promise<CliResult> {
  return rudp(args, io).exited;
}

/** Kills every child process still running (call at the end of each test). */
export function killAll(): void {
  for (const c of children) c.kill("SIGKILL");
  children.clear();
}

/** Sends SIGINT and waits for the exit. */
export async function interrupt(p: CliProcess): Promise<CliResult> {
  p.child.kill("SIGINT");
  return p.exited;
}

/** A UDP port that was free a moment ago on 127.0.0.1. */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "rudp-cli-"));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Writes `size` random bytes to `path` and returns them. */
export function randomFile(path: string, size: number): Buffer {
  const data = randomBytes(size);
  writeFileSync(path, data);
  return data;
}
