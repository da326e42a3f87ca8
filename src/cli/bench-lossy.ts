/**
 * `rudp bench`'s lossy scenario: one bulk sender across a simulated path (virtual time, seeded, so every
 * run with the same options gives the same numbers) at several random-loss rates.
 */

import { type Connection, Endpoint, MS, SECOND, SeededRng } from "../core/index.js";
import { EndpointNode, SimNetwork } from "../sim/index.js";

/** The path: 100 Mbit/s, 25 ms each way, a 625 KB (one BDP) drop-tail queue, an Ethernet path MTU. */
export const LOSSY_PATH = { rate: 100e6, delay: 25 * MS, queueBytes: 625_000, mtu: 1472 } as const;

/** Random loss each way of the runs. */
export const LOSS_RATES: readonly number[] = [0, 0.01, 0.05, 0.1];

/** The receive window of both ends: large enough that loss recovery never waits for it (as `npm run bench`). */
export const LOSSY_RECEIVE_WINDOW = 16 << 20;
const CLIENT = "10.0.0.1";
const SERVER = { address: "10.0.0.2", port: 2000 };
const CHUNK = new Uint8Array(1 << 20);
/** The sender keeps this much written ahead of what was acknowledged. */
const SEND_AHEAD = 4 << 20;
/** Virtual time between two top-ups of the send buffer. */
const SLICE = 10 * MS;

/** The outcome of one loss rate. */
export interface LossyResult {
  loss: number;
  /** Bytes delivered in order to the receiver, and the virtual seconds from its first byte to the end. */
  bytes: number;
  seconds: number;
  /** Goodput as a percentage of the link rate. */
  goodputPercent: number;
  /** Retransmissions per first transmission, %. */
  retransmitPercent: number;
}

/** Sends with `congestionControl` for `seconds` of virtual time across the path with `loss` each way. */
export function runLossy(congestionControl: string, loss: number, seconds: number, seed: number): LossyResult {
  const net = new SimNetwork({ seed });
  net.setPath(CLIENT, SERVER.address, { ...LOSSY_PATH, loss });
  const options = { receiveWindow: LOSSY_RECEIVE_WINDOW, congestionControl };
  const serverEndpoint = new Endpoint({ ...options, rng: new SeededRng(seed * 2 + 2) });
  serverEndpoint.listen();
  let delivered = 0;
  let firstByteAt: number | undefined;
  const server = new EndpointNode(serverEndpoint, (ev) => {
    if (ev.type !== "event" || ev.event.type !== "readable") return;
    for (let c = ev.connection.read(); c; c = ev.connection.read()) delivered += c.length;
    if (delivered > 0) firstByteAt ??= net.now;
  });
  const client = new EndpointNode(new Endpoint({ ...options, rng: new SeededRng(seed * 2 + 1) }));
  net.attach(SERVER.address, SERVER.port, server);
  net.attach(CLIENT, 1000, client);
  const conn = client.endpoint.connect(net.now, SERVER);
  const until = seconds * SECOND;
  for (topUp(conn); net.now < until; topUp(conn)) net.runFor(Math.min(SLICE, until - net.now));
  const elapsed = (net.now - (firstByteAt ?? 0)) / SECOND;
  const s = conn.stats();
  return {
    loss,
    bytes: delivered,
    seconds: elapsed,
    goodputPercent: elapsed > 0 ? (100 * delivered * 8) / elapsed / LOSSY_PATH.rate : 0,
    retransmitPercent: s.segmentsSent > 0 ? (100 * s.retransmits) / s.segmentsSent : 0,
  };
}

/** Writes 1 MiB chunks (the same buffer each time) while less than SEND_AHEAD waits to be acknowledged. */
function topUp(conn: Connection): void {
  while (conn.bufferedAmount < SEND_AHEAD) conn.write(CHUNK);
}
