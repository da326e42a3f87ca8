/**
 * The local demo: a real, encrypted transfer on this machine. It makes a key
 * pair (as `rudp keygen` does) in a temporary directory, starts `rudp recv`
 * with it, an impairment `rudp proxy` (loss, delay, jitter) in front of it and
 * `rudp send` pinning the receiver's public key, as child processes on
 * loopback. Random data goes through the proxy with the sender's progress
 * bar; the receiver checks the SHA-256 and the proxy's counters are printed
 * at the end.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";
import { mkdtempSync, rmSync } from "node:fs";
import { devNull, tmpdir } from "node:os";
import { join } from "node:path";
import { encodeKey } from "../runtime/node-crypto.js";
import { AEAD_LABEL } from "./encryption-options.js";
import { createKeyFile } from "./keygen.js";
import { formatBytes } from "./units.js";

/** Settings of the local demo. */
export interface LocalDemoOptions {
  bytes: number;
  loss: number;
  delayMs: number;
  jitterMs: number;
  rate: string | undefined;
  congestionControl: string;
  out: (line: string) => void;
}

/** Runs recv, proxy and send as child processes; resolves with the exit code (0 when verified). */
export async function runLocalDemo(o: LocalDemoOptions): Promise<number> {
  const [recvPort, proxyPort] = [await freeUdpPort(), await freeUdpPort()];
  const pct = `${(o.loss * 100).toFixed(1)}%`;
  o.out(
    `rudp demo: ${formatBytes(o.bytes)} from "rudp send" through "rudp proxy" (${pct} loss each way, ` +
      `${o.delayMs} ms ± ${o.jitterMs} ms delay${o.rate ? `, ${o.rate}` : ""}) to "rudp recv", on this machine, ` +
      `${o.congestionControl} congestion control`,
  );
  const keyDir = mkdtempSync(join(tmpdir(), "rudp-demo-"));
  const keyFile = join(keyDir, "recv.key");
  const publicKey = encodeKey(createKeyFile(keyFile).publicKey);
  o.out(
    `encrypted (Noise NK, ${AEAD_LABEL}): "rudp recv --key-file ${keyFile}" holds a fresh key pair ` +
      `(as "rudp keygen" makes), "rudp send --peer-key ${publicKey}" pins its public key`,
  );
  const children: ChildProcess[] = [];
  const stop = () => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGINT");
  };
  process.once("SIGINT", stop);
  try {
    const recvArgs = ["recv", String(recvPort), "--host", "127.0.0.1", "-o", devNull, "--progress", "none"];
    const recv = rudp([...recvArgs, "--key-file", keyFile], "pipe");
    children.push(recv);
    const proxyArgs = ["proxy", "--listen", String(proxyPort), "--to", `127.0.0.1:${recvPort}`];
    proxyArgs.push("--loss", pct, "--delay", `${o.delayMs}ms`, "--jitter", `${o.jitterMs}ms`, "--seed", "1");
    if (o.rate) proxyArgs.push("--rate", o.rate);
    const proxy = rudp(proxyArgs, "pipe");
    children.push(proxy);
    await Promise.all([printed(recv, /listening on/), printed(proxy, /\(seed 1\)/)]);
    const sendArgs = ["send", "-", "127.0.0.1", String(proxyPort), "--cc", o.congestionControl];
    const send = rudp([...sendArgs, "--peer-key", publicKey], "inherit");
    children.push(send);
    const data = randomBytes(o.bytes);
    send.stdin?.on("error", () => {}); // a sender that failed early reports why itself
    send.stdin?.end(data);
    const [sendCode, recvCode] = await Promise.all([exited(send), exited(recv)]);
    const recvOutput = (recv.stderr as NodeJS.ReadableStream & { text?: string }).text ?? "";
    proxy.kill("SIGINT");
    await exited(proxy);
    const proxyOutput = (proxy.stderr as NodeJS.ReadableStream & { text?: string }).text ?? "";
    o.out("");
    o.out("receiver:");
    for (const line of recvOutput.trim().split("\n")) if (line) o.out(`  ${line}`);
    o.out("proxy:");
    for (const line of proxyOutput.trim().split("\n")) if (line && !line.includes("new client")) o.out(`  ${line}`);
    const ok = sendCode === 0 && recvCode === 0;
    o.out("");
    o.out(
      ok
        ? "verified: the receiver's SHA-256 matches the sender's"
        : `FAILED (send exit ${sendCode}, recv exit ${recvCode})`,
    );
    return ok ? 0 : 1;
  } finally {
    process.off("SIGINT", stop);
    stop();
    rmSync(keyDir, { recursive: true, force: true });
  }
}

/** Starts this CLI again as a child (same node flags, so it also works under tsx). */
function rudp(args: string[], stderr: "pipe" | "inherit"): ChildProcess {
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...args], {
    stdio: ["pipe", "ignore", stderr],
  });
  if (stderr === "pipe" && child.stderr) {
    const s = child.stderr as NodeJS.ReadableStream & { text?: string };
    s.text = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      s.text += d;
    });
  }
  return child;
}

/** Resolves once a child started with a piped stderr printed `re`, exited, or after 10 s (the sender then reports any problem). */
function printed(child: ChildProcess, re: RegExp): Promise<void> {
  const s = child.stderr as (NodeJS.ReadableStream & { text?: string }) | null;
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      s?.off("data", check);
      child.off("exit", done);
      resolve();
    };
    const check = (): void => {
      if (re.test(s?.text ?? "")) done();
    };
    const timer = setTimeout(done, 10_000);
    s?.on("data", check);
    child.once("exit", done);
    check();
  });
}

function exited(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code ?? 1)));
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}
