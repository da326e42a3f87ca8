/** Scenario 3: delivery latency of small messages (100 B every 10 ms) across the simulated 50 ms path with 5% loss each way. */

import { MS, SECOND } from "../src/core/index.js";
import { percentile } from "./report.js";
import { CLIENT_HOST, drive, makeNetwork, RTT, SERVER, SimHost } from "./sim.js";

export const MESSAGE_BYTES = 100;
export const INTERVAL = 10 * MS;
export const LATENCY_LOSS = 0.05;
/** The target: p99 delivery latency at most this many RTTs. */
export const P99_TARGET_RTTS = 2;

export interface LatencyOptions {
  /** Virtual seconds during which messages are sent. */
  duration: number;
  seed: number;
}

export interface LatencyResult {
  controller: string;
  sent: number;
  delivered: number;
  /** Latencies in ms (virtual): send call → 'message' event at the receiver. */
  p50: number;
  p99: number;
  max: number;
  /** p99 in multiples of the path's base RTT. */
  p99Rtts: number;
  retransmits: number;
  rtoCount: number;
}

/** Sends a 100-byte message every 10 ms for `duration` virtual seconds once connected, then waits for stragglers. */
export function runLatency(controller: string, o: LatencyOptions, profile?: string): LatencyResult {
  const options = { congestionControl: controller, profile };
  const { net, server } = makeNetwork(o.seed, LATENCY_LOSS, options);
  const client = new SimHost(net, { address: CLIENT_HOST, port: 1000 }, options, o.seed * 2 + 1);
  const conn = client.connect(SERVER);
  const sentAt: number[] = [];
  const latencies: number[] = [];
  server.onMessage = (_conn, m, now) => {
    const seq = new DataView(m.buffer, m.byteOffset, m.byteLength).getUint32(0);
    latencies.push((now - sentAt[seq]) / MS);
  };
  let start = -1;
  client.onConnected = (_c, now) => {
    start = now;
  };
  // Handshake first: latency is measured from the first message sent on an established connection.
  net.runUntil(() => start >= 0, { timeout: 30 * SECOND });
  if (start < 0) throw new Error(`latency: ${controller} did not connect`);
  const end = start + o.duration * SECOND;
  const message = new Uint8Array(MESSAGE_BYTES);
  const view = new DataView(message.buffer);
  const send = () => {
    view.setUint32(0, sentAt.length);
    sentAt.push(net.now);
    conn.sendMessage(message.slice()); // the core keeps the bytes by reference
  };
  send();
  drive(
    net,
    end,
    (now) => {
      if (now < end) send();
    },
    undefined,
    INTERVAL,
  );
  // Let the last messages (and their retransmissions) arrive.
  net.runUntil(() => latencies.length === sentAt.length, { timeout: 30 * SECOND });
  const sorted = [...latencies].sort((a, b) => a - b);
  const s = conn.stats();
  const p99 = percentile(sorted, 0.99);
  return {
    controller,
    sent: sentAt.length,
    delivered: latencies.length,
    p50: percentile(sorted, 0.5),
    p99,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    p99Rtts: p99 / (RTT / MS),
    retransmits: s.retransmits,
    rtoCount: s.rtoCount,
  };
}

/** The latency run for every controller, with the default settings and with the "low-latency" profile (both sides). */
export function latencyScenario(
  controllers: readonly string[],
  o: LatencyOptions,
  log: (line: string) => void,
): LatencyResult[] {
  const runs = controllers.flatMap((cc) => [{ cc }, { cc, profile: "low-latency" }]);
  return runs.map(({ cc, profile }) => {
    const r = runLatency(cc, o, profile);
    if (profile) r.controller = `${cc}, ${profile} profile`;
    log(
      `  ${r.controller}: p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms (${r.p99Rtts.toFixed(2)}x RTT), max ${r.max.toFixed(1)} ms`,
    );
    return r;
  });
}
