/** Scenario 2: goodput of each congestion controller across the simulated 50 ms, 100 Mbit/s path at 0/1/5/10% random loss each way. */

import { MS, SECOND } from "../src/core/index.js";
import { CLIENT_HOST, drive, Feeder, LINK_BPS, makeNetwork, SERVER, SimHost, seconds } from "./sim.js";

export const LOSSES = [0, 0.01, 0.05, 0.1] as const;
export const CONTROLLERS = ["newreno", "cubic", "bbr"] as const;
/** The targets for BBR: minimum goodput (% of the link) by loss rate. */
export const BBR_TARGETS: Readonly<Record<number, number>> = { 0.01: 92, 0.05: 85, 0.1: 60 };

export interface LossyOptions {
  /** Virtual seconds the loss-based controllers run (they send without end). */
  duration: number;
  /** Bytes of BBR's second, sized transfer (timed to the last byte delivered, so its startup weighs in). */
  bbrBytes: number;
  seed: number;
}

export interface LossyResult {
  controller: string;
  loss: number;
  /** Application bytes delivered in order, and the virtual seconds from the first byte delivered to the last. */
  bytes: number;
  seconds: number;
  /** Goodput as a percentage of the 100 Mbit/s link. */
  percent: number;
  /** Retransmitted segments per first transmission, %. */
  retransmitPercent: number;
  rtoCount: number;
  /** Payload bytes per data packet at the end of the run. */
  mss: number;
  /** False when a sized transfer did not finish within its time cap. */
  finished: boolean;
  sized: boolean;
}

/** One sample of the sender's state, for the cwnd/srtt chart. */
export interface CwndSample {
  t: number;
  cwnd: number;
  srtt: number;
  inFlight: number;
}

/** One transfer: `controller` on the path with `loss`, timed (it sends for `duration`) or sized (`bbrBytes`, timed to the last byte). */
export function runLossy(
  controller: string,
  loss: number,
  o: LossyOptions,
  sized = false,
  samples?: CwndSample[],
): LossyResult {
  const { net, server } = makeNetwork(o.seed, loss, { congestionControl: controller });
  const client = new SimHost(
    net,
    { address: CLIENT_HOST, port: 1000 },
    { congestionControl: controller },
    o.seed * 2 + 1,
  );
  const conn = client.connect(SERVER);
  const feeder = new Feeder(conn, sized ? o.bbrBytes : Number.POSITIVE_INFINITY);
  const delivered = () => server.deliveredFrom(1000);
  // A sized transfer may take longer than the timed ones; cap it at twice their duration.
  const until = (sized ? 2 * o.duration : o.duration) * SECOND;
  let nextSample = 0;
  const finished = drive(
    net,
    until,
    (now) => {
      feeder.topUp();
      if (samples && now >= nextSample) {
        const s = conn.stats();
        samples.push({ t: seconds(now), cwnd: s.cwnd, srtt: s.srtt, inFlight: s.bytesInFlight });
        nextSample += 100 * MS;
      }
    },
    sized ? () => delivered() >= o.bbrBytes : undefined,
  );
  const bytes = delivered();
  // As the kernel-TCP reference (tcpxfer.py): from the receiver's first byte to its last, handshake excluded.
  const secs = seconds(net.now - (server.firstByteFrom(1000) ?? 0));
  const s = conn.stats();
  return {
    controller,
    loss,
    bytes,
    seconds: secs,
    percent: (100 * (bytes * 8)) / secs / LINK_BPS,
    retransmitPercent: s.segmentsSent > 0 ? (100 * s.retransmits) / s.segmentsSent : 0,
    rtoCount: s.rtoCount,
    mss: s.mss,
    finished: sized ? finished : true,
    sized,
  };
}

/**
 * Every controller at every loss rate for the same time, then BBR once more as a sized transfer (its
 * startup weighs in); samples cwnd/srtt of that sized BBR transfer at 1% loss for the chart.
 */
export function lossyScenario(
  o: LossyOptions,
  log: (line: string) => void,
): { results: LossyResult[]; samples: CwndSample[] } {
  const results: LossyResult[] = [];
  const samples: CwndSample[] = [];
  const runs = [...CONTROLLERS.map((controller) => ({ controller, sized: false })), { controller: "bbr", sized: true }];
  for (const { controller, sized } of runs) {
    for (const loss of LOSSES) {
      const t0 = performance.now();
      const r = runLossy(controller, loss, o, sized, sized && loss === 0.01 ? samples : undefined);
      results.push(r);
      log(
        `  ${controller}${sized ? " (sized)" : ""} at ${loss * 100}% loss: ${r.percent.toFixed(1)}% of the link` +
          ` (${(r.bytes / 2 ** 20).toFixed(1)} MiB in ${r.seconds.toFixed(1)} s virtual, ${((performance.now() - t0) / 1000).toFixed(1)} s real)`,
      );
    }
  }
  return { results, samples };
}
