/**
 * Drives one core Endpoint from one Runtime: feeds it the datagrams its UDP
 * socket receives, sends what it polls, keeps ONE timer armed at its earliest
 * deadline, and dispatches connection events to the API objects attached to
 * them. Work is batched: inputs of one event-loop turn are processed, then a
 * single flush sends everything they produced.
 */

import type { Address } from "../core/address.js";
import type { Connection } from "../core/connection/connection.js";
import { type Endpoint, type EndpointEvent, MAX_TRANSMIT_SIZE } from "../core/endpoint.js";
import type { ConnectionEvent } from "../core/events.js";
import type { Runtime, Timer, UdpHandle } from "../runtime/runtime.js";

const SLAB_SIZE = 1 << 20;

/**
 * Datagrams are built straight into a slab and handed to the socket. One slab
 * serves every driver in the process, so idle connections cost no send buffer.
 * A handle that sends asynchronously (node:dgram) may still read a region
 * after send() returns, so such a region is never reused: a full slab is
 * replaced and collected once its sends are done. A batching handle (the
 * native datapath) has copied everything into the kernel when its flush()
 * reports it drained; once no datagram in the slab is waiting, the slab is
 * rewound instead of replaced. At 400 MB/s, replacing 1 MiB slabs costs
 * an old-space collection every few tens of milliseconds.
 */
let slab = new Uint8Array(0);
let slabUsed = 0;
/** Datagrams built into the current slab that a batching handle has not yet sent (after a blocked flush the count stays up; the pin covers that slab). */
let slabWaiting = 0;
/** An asynchronous or blocked handle holds part of the current slab: it must not be rewound. */
let slabPinned = false;

function sendRoom(): Uint8Array {
  if (slab.length - slabUsed < MAX_TRANSMIT_SIZE) {
    slab = new Uint8Array(SLAB_SIZE);
    slabUsed = 0;
    slabWaiting = 0;
    slabPinned = false;
  }
  return slab.subarray(slabUsed);
}

/**
 * Socket errors that come from ICMP messages a connected socket hears and that must not end a connection
 * (RFC 1122 §4.2.3.9 soft errors): host or network unreachable may be transient, and "fragmentation needed"
 * (EMSGSIZE) is path MTU discovery's business (§4.9). Retransmission and the timeouts decide.
 */
const SOFT_SOCKET_ERRORS: ReadonlySet<string> = new Set([
  "EMSGSIZE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EHOSTDOWN",
  "ENETDOWN",
]);

/** An API object that wants a connection's events. */
export interface ConnectionSink {
  onConnectionEvent(event: ConnectionEvent): void;
  /** Called after each flush while the sink asked for it (see `wantFlushNotice`). */
  onFlushed?(): void;
}

/** Owns one endpoint, its UDP socket and its timer. */
export class EndpointDriver {
  readonly endpoint: Endpoint;
  readonly runtime: Runtime;
  readonly #udp: UdpHandle;
  readonly #timer: Timer;
  /** The handle batches sends until flush() (the native datapath) rather than sending on send(). */
  readonly #batching: boolean;
  /** Datagrams this driver built into the slab `#builtIn` and has not flushed. */
  #built = 0;
  #builtIn: Uint8Array | undefined;
  readonly #sinks = new Map<Connection, ConnectionSink>();
  readonly #flushWatchers = new Set<ConnectionSink>();
  #flushScheduled = false;
  #flushing = false;
  #closed = false;
  #refHolders = 0;
  #closeWhenIdle = false;
  #closing = false;
  /** Called for each passively opened connection that completed its handshake. */
  onIncoming: (conn: Connection) => void = (conn) => conn.abort();
  /** Called when the UDP socket reports an error. */
  onError: (err: Error) => void = () => {};
  /** Called once the driver closed its socket. */
  onClose: () => void = () => {};

  constructor(runtime: Runtime, udp: UdpHandle, endpoint: Endpoint) {
    this.runtime = runtime;
    this.endpoint = endpoint;
    this.#udp = udp;
    this.#batching = udp.flush !== undefined;
    this.#timer = runtime.createTimer(() => this.#onTimer());
    endpoint.setSocketReceiveBuffer(udp.receiveBufferBytes);
    udp.onMessage = (data, from) => this.#onMessage(data, from);
    udp.onError = (err) => this.#onSocketError(err);
    this.#updateRef();
  }

  /** The bound local address. */
  get local(): UdpHandle["local"] {
    return this.#udp.local;
  }
  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Opens a connection from this endpoint. */
  connect(remote: Address, options: Parameters<Endpoint["connect"]>[2] = {}): Connection {
    const conn = this.endpoint.connect(this.runtime.now(), remote, options);
    this.wake();
    return conn;
  }

  /** Routes `conn`'s events to `sink` from now on. */
  attach(conn: Connection, sink: ConnectionSink): void {
    this.#sinks.set(conn, sink);
  }

  /** Stops routing `conn`'s events. */
  detach(conn: Connection): void {
    const sink = this.#sinks.get(conn);
    this.#sinks.delete(conn);
    if (sink) this.#flushWatchers.delete(sink);
  }

  /** Asks for `sink.onFlushed()` after each flush (write backpressure), or stops asking. */
  watchFlushes(sink: ConnectionSink, on: boolean): void {
    if (on) this.#flushWatchers.add(sink);
    else this.#flushWatchers.delete(sink);
  }

  /** Something changed (an application call): flush at the end of this turn. */
  wake(): void {
    if (this.#flushScheduled || this.#closed) return;
    this.#flushScheduled = true;
    this.runtime.defer(() => {
      this.#flushScheduled = false;
      this.flush();
    });
  }

  /** Counts a user that keeps the process alive (a listening server, an open socket). */
  hold(): void {
    this.#refHolders++;
    this.#updateRef();
  }
  /** Releases a `hold()`. */
  release(): void {
    this.#refHolders--;
    this.#updateRef();
  }

  /** Processes events, sends what is ready and re-arms the timer. */
  flush(): void {
    if (this.#closed || this.#flushing) return;
    this.#flushing = true;
    try {
      const ep = this.endpoint;
      // Dispatch events and transmit until neither produces more (handlers may write).
      for (let round = 0; round < 64; round++) {
        let progressed = false;
        for (let ev = ep.pollEvent(); ev; ev = ep.pollEvent()) {
          progressed = true;
          this.#dispatch(ev);
        }
        const now = this.runtime.now();
        const udp = this.#udp;
        for (let t = ep.pollTransmit(now, this.#room()); t; t = ep.pollTransmit(now, this.#room())) {
          progressed = true;
          slabUsed += t.data.length;
          if (this.#batching) {
            if (this.#builtIn !== slab) {
              this.#builtIn = slab;
              this.#built = 0;
            }
            this.#built++;
            slabWaiting++;
          } else {
            slabPinned = true;
          }
          udp.send(t.data, t.to);
        }
        this.#sendBatch();
        if (!progressed) break;
      }
      for (const w of this.#flushWatchers) w.onFlushed?.();
      if (this.#closeWhenIdle && !this.#closing && ep.connectionCount === 0 && !ep.listening) {
        this.#flushing = false;
        this.close();
        return;
      }
      const next = ep.pollTimeout();
      if (next === undefined) this.#timer.cancel();
      else this.#timer.arm(next);
    } finally {
      this.#flushing = false;
    }
  }

  /** Closes the socket once no connection is left (TIME-WAIT included) and nothing listens. */
  closeWhenIdle(): void {
    this.#closeWhenIdle = true;
    this.wake();
  }

  /** Closes the UDP socket and cancels the timer; connections still open are aborted. */
  close(): void {
    if (this.#closed || this.#closing) return;
    this.#closing = true;
    for (const conn of this.endpoint.connections()) conn.abort();
    this.flush();
    this.#closed = true;
    this.#timer.cancel();
    this.#udp.close();
    this.onClose();
  }

  /** Room for the next datagram; a batching handle sends what it holds first when the slab is nearly full, so it can be rewound. */
  #room(): Uint8Array {
    if (this.#built > 0 && slab.length - slabUsed < MAX_TRANSMIT_SIZE) this.#sendBatch();
    return sendRoom();
  }

  /** Hands a batching handle's datagrams to the kernel, and rewinds the slab once nothing in it waits. */
  #sendBatch(): void {
    if (!this.#batching || this.#built === 0) return;
    const drained = this.#udp.flush?.() ?? false;
    if (!drained) slabPinned = true;
    else if (this.#builtIn === slab) slabWaiting -= this.#built;
    this.#built = 0;
    this.#builtIn = undefined; // an idle driver must not keep a replaced slab alive
    if (slabWaiting === 0 && !slabPinned) slabUsed = 0;
  }

  #onMessage(data: Uint8Array, from: Address): void {
    this.endpoint.handleDatagram(this.runtime.now(), from, data);
    this.wake();
  }

  #onSocketError(err: Error & { code?: string }): void {
    const peer = this.#udp.peer;
    if (err.code === "ECONNREFUSED" && peer) {
      this.endpoint.handleUnreachable(this.runtime.now(), peer);
      this.wake();
      return;
    }
    if (err.code !== undefined && SOFT_SOCKET_ERRORS.has(err.code)) return;
    this.onError(err);
  }

  #onTimer(): void {
    if (this.#closed) return;
    this.endpoint.handleTimeout(this.runtime.now());
    this.flush();
  }

  #dispatch(ev: EndpointEvent): void {
    if (ev.type === "incoming") {
      this.onIncoming(ev.connection);
      return;
    }
    const sink = this.#sinks.get(ev.connection);
    if (ev.event.type === "closed") this.#sinks.delete(ev.connection);
    sink?.onConnectionEvent(ev.event);
  }

  #updateRef(): void {
    if (this.#refHolders > 0) {
      this.#udp.ref();
      this.#timer.ref();
    } else {
      this.#udp.unref();
      this.#timer.unref();
    }
  }
}
