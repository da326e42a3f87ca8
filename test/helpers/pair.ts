/**
 * Test harness: core endpoints attached to a simulated network, with a log of
 * everything each connection delivered. Reads are automatic unless a peer's
 * `autoRead` is turned off (to test flow control).
 */

import type { ConnectionEvent, EndpointEvent, RudpConnectionError } from "../../src/core/index.js";
import { type Address, type Connection, Endpoint, type EndpointOptions, SeededRng } from "../../src/core/index.js";
import type { Instant } from "../../src/core/time.js";
import { EndpointNode, type LinkConfig, SimNetwork } from "../../src/sim/index.js";
import { seedFor } from "./seed.js";

/** What one connection delivered and went through. */
export class ConnLog {
  readonly chunks: Uint8Array[] = [];
  readonly messages: Uint8Array[] = [];
  readonly states: string[] = [];
  readonly events: ConnectionEvent["type"][] = [];
  connected = false;
  ended = false;
  closed = false;
  drained = 0;
  error: RudpConnectionError | undefined;
  closedAt: Instant = -1;

  /** All stream bytes received, concatenated. */
  bytes(): Uint8Array {
    return concat(this.chunks);
  }
  /** Count of stream bytes received. */
  byteCount = 0;
}

/** A core endpoint on the simulated network, logging what each connection delivers. */
export class SimPeer extends EndpointNode {
  readonly address: Address;
  readonly accepted: Connection[] = [];
  readonly logs = new Map<Connection, ConnLog>();
  autoRead = true;
  readonly #net: SimNetwork;

  constructor(net: SimNetwork, address: Address, options: EndpointOptions, seed: number) {
    super(new Endpoint({ ...options, rng: new SeededRng(seed) }));
    this.onEvent = (ev) => this.#record(ev);
    this.#net = net;
    this.address = address;
    net.attach(address.address, address.port, this);
  }

  /** Opens a connection to `to`. */
  connect(to: Address, options: Parameters<Endpoint["connect"]>[2] = {}): Connection {
    const conn = this.endpoint.connect(this.#net.now, to, options);
    this.logs.set(conn, new ConnLog());
    return conn;
  }

  /** The log of `conn`. */
  log(conn: Connection): ConnLog {
    let l = this.logs.get(conn);
    if (!l) {
      l = new ConnLog();
      this.logs.set(conn, l);
    }
    return l;
  }

  /** Reads whatever `conn` has buffered into its log. */
  readAll(conn: Connection): void {
    const l = this.log(conn);
    for (let c = conn.read(); c; c = conn.read()) {
      l.chunks.push(c);
      l.byteCount += c.length;
    }
    for (let m = conn.readMessage(); m; m = conn.readMessage()) l.messages.push(m);
  }

  #record(ev: EndpointEvent): void {
    if (ev.type === "incoming") {
      this.accepted.push(ev.connection);
      return;
    }
    const conn = ev.connection;
    const l = this.log(conn);
    const e = ev.event;
    l.events.push(e.type);
    switch (e.type) {
      case "connected":
        l.connected = true;
        break;
      case "readable":
      case "message":
        if (this.autoRead) this.readAll(conn);
        break;
      case "end":
        l.ended = true;
        break;
      case "drained":
        l.drained++;
        break;
      case "state":
        l.states.push(e.to);
        break;
      case "closed":
        l.closed = true;
        l.error = e.error;
        l.closedAt = this.#net.now;
        break;
    }
  }
}

/** Options for `makePair`. */
export interface PairOptions {
  seed?: number;
  /** Both directions' link settings. */
  link?: Partial<LinkConfig>;
  /** Client→server and server→client link settings (over `link`). */
  up?: Partial<LinkConfig>;
  down?: Partial<LinkConfig>;
  /** Endpoint options for both, and per side. */
  config?: EndpointOptions;
  clientConfig?: EndpointOptions;
  serverConfig?: EndpointOptions;
}

/** A client at 10.0.0.1:1000 and a listening server at 10.0.0.2:2000. */
export function makePair(opts: PairOptions = {}): { net: SimNetwork; client: SimPeer; server: SimPeer } {
  const seed = opts.seed ?? seedFor(1); // RUDP_SEED replays a run with another seed
  const net = new SimNetwork({ seed });
  net.setLink("10.0.0.1", "10.0.0.2", { ...opts.link, ...opts.up });
  net.setLink("10.0.0.2", "10.0.0.1", { ...opts.link, ...opts.down });
  // Path MTU discovery is off unless a test asks for it, so packet sizes stay at maxPacketSize.
  const base: EndpointOptions = { maxProbePacketSize: 0 };
  const client = new SimPeer(
    net,
    { address: "10.0.0.1", port: 1000 },
    { ...base, ...opts.config, ...opts.clientConfig },
    seed * 2 + 1,
  );
  const server = new SimPeer(
    net,
    { address: "10.0.0.2", port: 2000 },
    { ...base, ...opts.config, ...opts.serverConfig },
    seed * 2 + 2,
  );
  server.endpoint.listen();
  return { net, client, server };
}

/** Concatenates byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Deterministic pseudo-random bytes. */
export function randomBytes(rng: SeededRng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = rng.nextU32();
    out[i] = v;
    if (i + 1 < n) out[i + 1] = v >>> 8;
    if (i + 2 < n) out[i + 2] = v >>> 16;
    if (i + 3 < n) out[i + 3] = v >>> 24;
  }
  return out;
}

/** True when two byte arrays are equal. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
