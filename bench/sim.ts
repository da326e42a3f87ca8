/** Shared harness of the simulated scenarios: the benchmark path, core endpoints on it, and a virtual-time driver. */

import {
  type Address,
  type Connection,
  Endpoint,
  type EndpointOptions,
  MS,
  SECOND,
  SeededRng,
} from "../src/core/index.js";
import { EndpointNode, SimNetwork } from "../src/sim/index.js";

/**
 * The benchmark path: 50 ms RTT (25 ms each way), a 100 Mbit/s bottleneck with a 625 KB drop-tail queue (1 BDP),
 * and an Ethernet path MTU (1500-byte IP packets carry at most 1472 bytes of UDP payload).
 */
export const PATH = { delay: 25 * MS, rate: 100e6, queueBytes: 625_000, mtu: 1472 } as const;
/** The bottleneck rate in bits/s, and the path's base round-trip time in µs. */
export const LINK_BPS = PATH.rate;
export const RTT = 2 * PATH.delay;
/** Endpoint options every simulated scenario uses (besides the controller): the congestion test's receive window. */
export const SIM_CONFIG: EndpointOptions = { receiveWindow: 16 << 20 };
export const CLIENT_HOST = "10.0.0.1";
export const SERVER_HOST = "10.0.0.2";
export const SERVER: Address = { address: SERVER_HOST, port: 2000 };

/** A core endpoint attached to the simulator that reads (and discards) everything it receives, counting bytes per connection. */
export class SimHost extends EndpointNode {
  readonly address: Address;
  readonly accepted: Connection[] = [];
  readonly delivered = new Map<Connection, number>();
  /** Virtual time each connection delivered its first stream byte. */
  readonly firstByteAt = new Map<Connection, number>();
  /** Called for each whole message received, at the virtual time it was delivered. */
  onMessage: ((conn: Connection, message: Uint8Array, now: number) => void) | undefined;
  /** Called when a connection this host opened completes its handshake. */
  onConnected: ((conn: Connection, now: number) => void) | undefined;
  readonly #net: SimNetwork;

  constructor(net: SimNetwork, address: Address, options: EndpointOptions, seed: number) {
    super(new Endpoint({ ...SIM_CONFIG, ...options, rng: new SeededRng(seed) }));
    this.#net = net;
    this.address = address;
    net.attach(address.address, address.port, this);
    this.onEvent = (ev) => {
      if (ev.type === "incoming") {
        this.accepted.push(ev.connection);
        return;
      }
      const conn = ev.connection;
      switch (ev.event.type) {
        case "connected":
          this.onConnected?.(conn, this.#net.now);
          break;
        case "readable": {
          let n = this.delivered.get(conn) ?? 0;
          for (let c = conn.read(); c; c = conn.read()) n += c.length;
          this.delivered.set(conn, n);
          if (n > 0 && !this.firstByteAt.has(conn)) this.firstByteAt.set(conn, this.#net.now);
          break;
        }
        case "message":
          for (let m = conn.readMessage(); m; m = conn.readMessage()) this.onMessage?.(conn, m, this.#net.now);
          break;
      }
    };
  }

  /** Opens a connection to `to`. */
  connect(to: Address): Connection {
    return this.endpoint.connect(this.#net.now, to);
  }

  /** When the peer at `port` delivered its first stream byte (undefined before). */
  firstByteFrom(port: number): number | undefined {
    for (const [conn, t] of this.firstByteAt) if (conn.remote.port === port) return t;
    return undefined;
  }

  /** Stream bytes this host received from the peer at `port` (0 before it connected). */
  deliveredFrom(port: number): number {
    for (const [conn, n] of this.delivered) if (conn.remote.port === port) return n;
    return 0;
  }
}

/** A network with the benchmark path (random `loss` each way) and a listening server. */
export function makeNetwork(
  seed: number,
  loss: number,
  serverOptions: EndpointOptions = {},
): {
  net: SimNetwork;
  server: SimHost;
} {
  const net = new SimNetwork({ seed });
  net.setPath(CLIENT_HOST, SERVER_HOST, { ...PATH, loss });
  const server = new SimHost(net, SERVER, serverOptions, seed * 2 + 2);
  server.endpoint.listen();
  return { net, server };
}

const CHUNK = new Uint8Array(1 << 20);
const SEND_AHEAD = 4 << 20;

/** Keeps a connection's send buffer stocked (like an application writing with backpressure) up to `total` bytes. */
export class Feeder {
  written = 0;
  constructor(
    readonly conn: Connection,
    readonly total = Number.POSITIVE_INFINITY,
  ) {
    this.topUp();
  }
  /** Writes 1 MiB chunks (the same buffer, by reference) while less than 4 MiB waits unacknowledged. */
  topUp(): void {
    while (this.written < this.total && this.conn.bufferedAmount < SEND_AHEAD) {
      const n = Math.min(CHUNK.length, this.total - this.written);
      this.conn.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
      this.written += n;
    }
  }
}

/**
 * Runs the network until `until` (absolute virtual µs) in slices of `slice`,
 * calling `onTick(now)` after each slice; stops early, at the exact event,
 * once `done()` holds. Returns whether `done()` held.
 */
export function drive(
  net: SimNetwork,
  until: number,
  onTick: (now: number) => void,
  done?: () => boolean,
  slice = 10 * MS,
): boolean {
  while (net.now < until) {
    const next = Math.min(net.now + slice, until);
    if (done) {
      if (net.runUntil(done, { maxTime: next })) return true;
      if (net.now < next) net.runFor(next - net.now); // nothing was scheduled: let the clock move
    } else {
      net.runFor(next - net.now);
    }
    onTick(net.now);
  }
  return done?.() ?? false;
}

/** Virtual µs as seconds. */
export function seconds(us: number): number {
  return us / SECOND;
}
