/** `rudp demo`: a seeded transfer across a simulated lossy link (virtual time), with progress and a summary. */

import { createHash } from "node:crypto";
import { type Connection, Endpoint, SeededRng } from "../core/index.js";
import { MS, SECOND } from "../core/time.js";
import { EndpointNode, SimNetwork } from "../sim/index.js";
import { expectPositionals, parseArgs, parseCount } from "./args.js";
import type { Command } from "./command.js";
import { runLocalDemo } from "./local-demo.js";
import { parseController } from "./send.js";
import { formatBytes, formatRate, parseDuration, parseProbability, parseRate, parseSize } from "./units.js";

const HELP = `Usage: rudp demo [options]

Without --simulated: a real, encrypted transfer on this machine. "rudp recv"
(with a fresh key pair, as "rudp keygen" makes), an impairment "rudp proxy" in
front of it and "rudp send" (pinning the receiver's public key with --peer-key)
run as separate processes on loopback; random data goes through the proxy with
a progress bar, the receiver checks its SHA-256, and the proxy's counters are
printed.

With --simulated: the same kind of transfer across a simulated link (virtual
time, seeded, so every run with the same options is identical).

Options:
  --size SIZE      bytes to send            (default 32MiB)
  --loss P         random loss each way     (default 5%)
  --delay TIME     one-way delay            (default 10ms local, 20ms simulated)
  --jitter TIME    delay variation          (default 5ms)
  --rate RATE      bottleneck rate          (default: none local, 100mbit simulated)
  --cc NAME        congestion control: bbr, cubic, newreno (default bbr)
  --simulated      run in the simulator instead of on the local machine
  --seed N         simulation seed          (default 1)

Examples:
  rudp demo
  rudp demo --size 64MiB --loss 10% --delay 25ms
  rudp demo --cc cubic                 # a loss-based controller, for comparison
  rudp demo --simulated --loss 20% --delay 100ms --rate 10mbit
`;

/** The `rudp demo` command. */
export const demoCommand: Command = {
  name: "demo",
  summary: "Send data through a lossy proxy on this machine (or a simulated link) and show what the protocol did",
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { options: o, positionals } = parseArgs(args, {
      size: { parse: parseSize },
      loss: { parse: parseProbability },
      delay: { parse: parseDuration },
      jitter: { parse: parseDuration },
      rate: { parse: parseRate },
      seed: { parse: parseCount },
      cc: { parse: parseController },
      simulated: {},
    });
    expectPositionals(positionals, 0, 0, "rudp demo [options]");
    if (!o.simulated)
      return runLocalDemo({
        bytes: (o.size as number) ?? 32 * 1024 * 1024,
        loss: (o.loss as number) ?? 0.05,
        delayMs: (o.delay as number) ?? 10,
        jitterMs: (o.jitter as number) ?? 5,
        rate: o.rate !== undefined ? `${(o.rate as number) / 1e6}mbit` : undefined,
        congestionControl: (o.cc as string) ?? "bbr",
        out: (line) => process.stdout.write(`${line}\n`),
      });
    const result = runDemo({
      bytes: (o.size as number) ?? 32 * 1024 * 1024,
      loss: (o.loss as number) ?? 0.05,
      delayMs: (o.delay as number) ?? 20,
      jitterMs: (o.jitter as number) ?? 5,
      rateBitsPerSecond: (o.rate as number) ?? 100e6,
      seed: (o.seed as number) ?? 1,
      congestionControl: (o.cc as string) ?? "bbr",
      out: (line) => process.stdout.write(`${line}\n`),
    });
    return result.verified ? 0 : 1;
  },
};

/** Demo settings. */
export interface DemoOptions {
  bytes: number;
  loss: number;
  delayMs: number;
  jitterMs: number;
  rateBitsPerSecond: number;
  seed: number;
  /** Congestion controller of the sender. */
  congestionControl: string;
  out: (line: string) => void;
}

/** What the demo measured. */
export interface DemoResult {
  verified: boolean;
  bytes: number;
  virtualSeconds: number;
  realMilliseconds: number;
}

/** Runs the demo transfer and prints progress and a summary. */
export function runDemo(o: DemoOptions): DemoResult {
  const started = performance.now();
  const net = new SimNetwork({ seed: o.seed });
  const link = {
    delay: o.delayMs * MS,
    jitter: o.jitterMs * MS,
    loss: o.loss,
    rate: o.rateBitsPerSecond,
    queueBytes: 256 * 1024,
    mtu: 1472, // an ordinary 1500-byte Ethernet path: path MTU discovery settles there
    reorder: false, // jitter without reordering, as netem and most real paths
  };
  net.setPath("10.0.0.1", "10.0.0.2", link);
  const sender = new EndpointNode(
    new Endpoint({ rng: new SeededRng(o.seed + 1), congestionControl: o.congestionControl }),
  );
  const receiverEndpoint = new Endpoint({ rng: new SeededRng(o.seed + 2) });
  receiverEndpoint.listen();
  const hashIn = createHash("sha256");
  let received = 0;
  let ended = false;
  let serverConn: Connection | undefined;
  const receiver = new EndpointNode(receiverEndpoint, (ev) => {
    if (ev.type === "incoming") serverConn = ev.connection;
    if (ev.type !== "event") return;
    if (ev.event.type === "readable")
      for (let c = ev.connection.read(); c; c = ev.connection.read()) {
        hashIn.update(c);
        received += c.length;
      }
    if (ev.event.type === "end") ended = true;
  });
  net.attach("10.0.0.1", 5000, sender);
  net.attach("10.0.0.2", 6000, receiver);

  const rng = new SeededRng(o.seed);
  const data = new Uint8Array(o.bytes);
  for (let i = 0; i < data.length; i += 4) {
    const v = rng.nextU32();
    data[i] = v;
    data[i + 1] = v >>> 8;
    data[i + 2] = v >>> 16;
    data[i + 3] = v >>> 24;
  }
  const digestOut = createHash("sha256").update(data).digest("hex");

  o.out(
    `rudp demo: sending ${formatBytes(o.bytes)} across a simulated link: ${(o.loss * 100).toFixed(1)}% loss each way, ` +
      `${o.delayMs} ms ± ${o.jitterMs} ms one-way delay, ${formatRate(o.rateBitsPerSecond / 8)} bottleneck, ` +
      `${o.congestionControl} congestion control (seed ${o.seed})`,
  );
  const conn = sender.endpoint.connect(net.now, { address: "10.0.0.2", port: 6000 });
  conn.write(data);
  conn.end();
  let nextReport = 0.1;
  const finished = net.runUntil(
    () => {
      if (received >= nextReport * o.bytes && !ended) {
        const st = conn.stats();
        o.out(
          `  ${Math.round(nextReport * 100)
            .toString()
            .padStart(3)}%  ${formatBytes(received).padStart(9)}  t=${(net.now / SECOND).toFixed(2)}s  ` +
            `rtt=${(st.srtt / MS).toFixed(1)}ms  cwnd=${formatBytes(st.cwnd)}  retransmits=${st.retransmits}`,
        );
        nextReport += 0.1;
      }
      return ended;
    },
    { timeout: 3600 * SECOND },
  );
  const st = conn.stats();
  const virtualSeconds = net.now / SECOND;
  const verified = finished && received === o.bytes && hashIn.digest("hex") === digestOut;
  const linkStats = net.link("10.0.0.1", "10.0.0.2").stats;
  const realMilliseconds = performance.now() - started;
  o.out("");
  o.out(`  bytes delivered     ${formatBytes(received)} of ${formatBytes(o.bytes)}`);
  o.out(
    `  time (virtual)      ${virtualSeconds.toFixed(2)} s  (computed in ${realMilliseconds.toFixed(0)} ms of real time)`,
  );
  o.out(
    `  goodput             ${formatRate(received / virtualSeconds)}  of a ${formatRate(o.rateBitsPerSecond / 8)} link`,
  );
  o.out(`  datagrams lost      ${linkStats.lost} of ${linkStats.sent} sent by the sender's link`);
  o.out(
    `  retransmissions     ${st.retransmits} (fast ${st.fastRetransmits}, timeout ${st.timeoutRetransmits}, tail probes ${st.tailLossProbes}); ${st.congestionEvents} congestion events`,
  );
  o.out(`  rtt                 srtt ${(st.srtt / MS).toFixed(1)} ms, min ${(st.minRtt / MS).toFixed(1)} ms`);
  o.out(`  verified            ${verified ? "yes: SHA-256 of what arrived matches what was sent" : "NO"}`);
  void serverConn;
  return { verified, bytes: received, virtualSeconds, realMilliseconds };
}
