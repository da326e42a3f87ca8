/** Scenario 4: two flows of one controller sharing the simulated 100 Mbit/s bottleneck, the second starting 2 s later. */

import { SECOND } from "../src/core/index.js";
import { CLIENT_HOST, drive, Feeder, LINK_BPS, makeNetwork, SERVER, SimHost } from "./sim.js";

/** The second flow starts this many virtual seconds after the first. */
export const STAGGER = 2;
/** The target: the slower flow gets at least this share of the faster one's goodput. */
export const FAIRNESS_TARGET = 0.8;

export interface FairnessOptions {
  /** Virtual seconds of the whole run; goodput is measured over its second half. */
  duration: number;
  seed: number;
}

export interface FairnessResult {
  /** The controller of both flows, or "A vs B" when they differ. */
  controller: string;
  /** True when the two flows run the same controller (the target applies). */
  same: boolean;
  /** Goodput of each flow over the second half, Mbit/s. */
  flowA: number;
  flowB: number;
  /** Slower / faster. */
  ratio: number;
  /** Jain's fairness index of the two (1 = equal shares). */
  jain: number;
  /** Both flows together, % of the link. */
  utilization: number;
  windowSeconds: number;
}

/**
 * Clients 10.0.0.1:1000 (flow A, at t=0) and 10.0.0.1:1001 (flow B, at t=2 s) send without end to one
 * server; both are on the same host, so their data shares the 10.0.0.1 → 10.0.0.2 bottleneck and its queue.
 * `controllers` names both flows' controller, or flow A's and flow B's.
 */
export function runFairness(controllers: string | readonly [string, string], o: FairnessOptions): FairnessResult {
  const [ccA, ccB] = typeof controllers === "string" ? [controllers, controllers] : controllers;
  const { net, server } = makeNetwork(o.seed, 0, { congestionControl: ccA });
  const a = new SimHost(net, { address: CLIENT_HOST, port: 1000 }, { congestionControl: ccA }, o.seed * 2 + 1);
  const b = new SimHost(net, { address: CLIENT_HOST, port: 1001 }, { congestionControl: ccB }, o.seed * 2 + 3);
  const feeders = [new Feeder(a.connect(SERVER))];
  const half = (o.duration / 2) * SECOND;
  let atHalf: [number, number] | undefined;
  drive(net, o.duration * SECOND, (now) => {
    if (feeders.length === 1 && now >= STAGGER * SECOND) feeders.push(new Feeder(b.connect(SERVER)));
    for (const f of feeders) f.topUp();
    if (!atHalf && now >= half) atHalf = [server.deliveredFrom(1000), server.deliveredFrom(1001)];
  });
  const start = atHalf ?? [0, 0];
  const window = o.duration / 2;
  const mbps = (bytes: number) => (bytes * 8) / window / 1e6;
  const flowA = mbps(server.deliveredFrom(1000) - start[0]);
  const flowB = mbps(server.deliveredFrom(1001) - start[1]);
  return {
    controller: ccA === ccB ? ccA : `${ccA} vs ${ccB}`,
    same: ccA === ccB,
    flowA,
    flowB,
    ratio: Math.min(flowA, flowB) / Math.max(flowA, flowB),
    jain: (flowA + flowB) ** 2 / (2 * (flowA ** 2 + flowB ** 2)),
    utilization: (100 * (flowA + flowB) * 1e6) / LINK_BPS,
    windowSeconds: window,
  };
}

/** The fairness run for each controller (or pair of controllers). */
export function fairnessScenario(
  controllers: readonly (string | readonly [string, string])[],
  o: FairnessOptions,
  log: (line: string) => void,
): FairnessResult[] {
  return controllers.map((cc) => {
    const r = runFairness(cc, o);
    log(
      `  ${r.controller}: ${r.flowA.toFixed(1)} vs ${r.flowB.toFixed(1)} Mbit/s over the last ${r.windowSeconds} s (ratio ${r.ratio.toFixed(2)})`,
    );
    return r;
  });
}
