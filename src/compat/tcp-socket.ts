/** `TCPSocket` (alias `RudpSocket`): a promise-based port of the classic TCP-over-UDP socket class with bind/listen/accept/connect. */

import { connect } from "../api/connect.js";
import { createServer, type Server } from "../api/server.js";
import type { Socket } from "../api/socket.js";
import { DEFAULT_CONFIG, resolveConfig, type TransportConfig } from "../core/config.js";
import type { ConnectionStats } from "../core/connection/stats.js";
import { RudpArgumentError, RudpError } from "../core/errors.js";
import { SECOND } from "../core/time.js";
import { DATA_PACKET_OVERHEAD } from "../core/wire/packet.js";
import {
  AcceptQueue,
  Channel,
  closedError,
  type HostPort,
  listenServer,
  notConnectedError,
  stateError,
  validateAddress,
  whenConnected,
} from "./shared.js";

/** The classic knobs; each one omitted keeps rudp's default. */
export interface TCPSocketOptions {
  /** Payload bytes per packet (maxPacketSize = MSS + DATA_PACKET_OVERHEAD). */
  MSS?: number;
  /** Receive window in bytes (receiveWindow). */
  WINDOW_SIZE?: number;
  /** Initial retransmission timeout in seconds (initialRto; also minRto when below its default). */
  TIMEOUT?: number;
  /** Retransmissions before giving up (maxRetransmissions and maxSynRetransmissions). */
  MAX_RETRIES?: number;
  /** Duplicate ACKs that trigger a fast retransmit (fastRetransmitThreshold). */
  FAST_RETRANSMIT_THRESHOLD?: number;
}

/**
 * Maps TCPSocket options to rudp transport options, validating each one.
 * Throws ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE naming the TCPSocket option.
 */
export function tcpTransportOptions(options: TCPSocketOptions = {}): Partial<TransportConfig> {
  if (options === null || typeof options !== "object")
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "options" argument must be an object');
  const out: Partial<TransportConfig> = {};
  const map = (name: keyof TCPSocketOptions, apply: (v: number) => Partial<TransportConfig>) => {
    const v = options[name];
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isFinite(v))
      throw new RudpArgumentError(
        "ERR_INVALID_ARG_TYPE",
        `The "${name}" option must be a finite number; received ${v}`,
      );
    const part = apply(v);
    try {
      resolveConfig(part);
    } catch (err) {
      if (err instanceof RudpError)
        throw new RudpArgumentError(
          err.code as "ERR_OUT_OF_RANGE",
          `The "${name}" option is out of range (${v}): ${err.message}`,
        );
      throw err;
    }
    Object.assign(out, part);
  };
  // A fixed MSS, as the classic API has: path MTU discovery stays off.
  map("MSS", (v) => ({ maxPacketSize: v + DATA_PACKET_OVERHEAD, maxProbePacketSize: 0 }));
  map("WINDOW_SIZE", (v) => ({ receiveWindow: v }));
  map("TIMEOUT", (v) => {
    const rto = v * SECOND;
    return rto < DEFAULT_CONFIG.minRto ? { initialRto: rto, minRto: rto } : { initialRto: rto };
  });
  map("MAX_RETRIES", (v) => ({ maxRetransmissions: v, maxSynRetransmissions: v }));
  map("FAST_RETRANSMIT_THRESHOLD", (v) => ({ fastRetransmitThreshold: v }));
  resolveConfig(out); // the combination must hold too (receiveWindow >= maxPacketSize)
  return out;
}

/** Wraps an accepted socket in a connected TCPSocket (set in TCPSocket's static block). */
let adopt: (tcp: TCPSocket, socket: Socket) => void;

type Mode = "fresh" | "listening" | "connecting" | "connected" | "closed";

/**
 * A TCP-style socket over rudp: `bind` + `listen` + `accept` for a server,
 * `connect` for a client, then `send`/`receive`/`close` on the connection.
 * Every method that waits returns a Promise.
 */
export class TCPSocket {
  /** The options given to the constructor. */
  readonly options: Readonly<TCPSocketOptions>;
  /** The rudp transport options they map to. */
  readonly transport: Readonly<Partial<TransportConfig>>;
  #mode: Mode = "fresh";
  #bound: HostPort | undefined;
  #server: Server | undefined;
  #queue: AcceptQueue<TCPSocket> | undefined;
  #channel: Channel | undefined;
  #connecting: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  static {
    adopt = (tcp, socket) => {
      tcp.#channel = new Channel(socket);
      tcp.#mode = "connected";
      tcp.#connecting = Promise.resolve();
    };
  }

  constructor(options: TCPSocketOptions = {}) {
    this.transport = Object.freeze(tcpTransportOptions(options));
    this.options = Object.freeze({ ...options });
  }

  /** Sets the local address used by `listen()` or `connect()`; `port` 0 picks one. */
  bind(address: [host: string, port: number]): void {
    const a = validateAddress(address);
    if (this.#mode === "closed") throw closedError("bind");
    if (this.#mode !== "fresh" || this.#bound)
      throw stateError("ERR_SOCKET_ALREADY_BOUND", "the socket is already bound", "bind");
    this.#bound = a;
  }

  /** Starts accepting connections on the bound address (any address, ephemeral port when unbound). */
  async listen(backlog = 511): Promise<void> {
    if (this.#mode === "closed") throw closedError("listen");
    if (this.#mode === "listening") throw stateError("ERR_SERVER_ALREADY_LISTEN", "listen() called twice", "listen");
    if (this.#mode !== "fresh") throw stateError("ERR_INVALID_STATE", "the socket is connected", "listen");
    if (!Number.isInteger(backlog) || backlog < 0)
      throw new RudpArgumentError(
        "ERR_OUT_OF_RANGE",
        `The "backlog" argument must be an integer >= 0; received ${backlog}`,
      );
    this.#mode = "listening";
    const queue = new AcceptQueue<TCPSocket>();
    const server = createServer({ ...this.transport });
    server.on("error", () => {}); // bind errors reject listen(); later UDP errors only affect connections
    server.on("connection", (socket: Socket) => {
      const conn = new TCPSocket(this.options);
      adopt(conn, socket);
      if (!queue.push(conn)) socket.destroy();
    });
    this.#server = server;
    this.#queue = queue;
    try {
      await listenServer(server, this.#bound?.[1] ?? 0, this.#bound?.[0], Math.max(backlog, 1));
    } catch (err) {
      this.#mode = "closed";
      queue.close(closedError("accept"));
      throw err;
    }
  }

  /** The next incoming connection and its peer's address, in arrival order. */
  accept(): Promise<[connection: TCPSocket, address: HostPort]> {
    if (this.#mode === "closed") return Promise.reject(closedError("accept"));
    const queue = this.#queue;
    if (this.#mode !== "listening" || !queue)
      return Promise.reject(stateError("ERR_SERVER_NOT_RUNNING", "the socket is not listening", "accept"));
    return queue.shift().then((conn) => [conn, conn.getpeername()]);
  }

  /** Connects to `[host, port]` (from the bound address, if any); resolves once the handshake completed. */
  connect(address: [host: string, port: number]): Promise<void> {
    let target: HostPort;
    try {
      target = validateAddress(address);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#mode === "closed") return Promise.reject(closedError("connect"));
    if (this.#mode !== "fresh")
      return Promise.reject(
        stateError(
          this.#mode === "listening" ? "ERR_INVALID_STATE" : "EISCONN",
          `the socket is ${this.#mode}`,
          "connect",
        ),
      );
    this.#mode = "connecting";
    this.#connecting = (async () => {
      const socket = connect({
        ...this.transport,
        host: target[0],
        port: target[1],
        localAddress: this.#bound?.[0],
        localPort: this.#bound?.[1],
      });
      this.#channel = new Channel(socket);
      await whenConnected(socket);
      if (this.#mode === "connecting") this.#mode = "connected";
    })();
    return this.#connecting;
  }

  /** Writes `data` to the stream; resolves with the number of bytes sent once accepted. */
  async send(data: Uint8Array | string): Promise<number> {
    return (await this.#connected("send")).send(data);
  }

  /** Resolves with up to `n` bytes; with an empty Buffer once the peer ended its side. */
  async receive(n: number): Promise<Buffer> {
    return (await this.#connected("receive")).receive(n);
  }

  /**
   * Closes the socket. A connection ends gracefully: the promise resolves
   * once the peer received everything sent, and the connection finishes
   * closing in the background when the peer ends too. A listening socket stops accepting
   * (connections never accepted are reset) and resolves at once, leaving
   * accepted connections open.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const mode = this.#mode;
    this.#mode = "closed";
    if (mode === "listening") {
      for (const c of this.#queue?.close(closedError("accept")) ?? []) c.#channel?.destroy();
      this.#server?.close();
      return;
    }
    const channel = this.#channel;
    if (!channel) return;
    await this.#connecting?.catch(() => {});
    await channel.close();
  }

  /** The core's statistics for the connection (mss, cwnd, rto, localWindow, ...; times in µs). */
  stats(): ConnectionStats & { bytesRead: number; bytesWritten: number } {
    if (!this.#channel) throw notConnectedError("stats");
    return this.#channel.stats();
  }

  /** The local `[host, port]` (the bound one before listening or connecting). */
  getsockname(): HostPort {
    if (this.#channel) return this.#channel.local();
    const a = this.#server?.address();
    if (a) return [a.address, a.port];
    return this.#bound ? [...this.#bound] : ["0.0.0.0", 0];
  }

  /** The peer's `[host, port]`. */
  getpeername(): HostPort {
    if (!this.#channel) throw notConnectedError("getpeername");
    return this.#channel.peer();
  }

  async #connected(syscall: string): Promise<Channel> {
    if (this.#mode === "closed") throw closedError(syscall);
    if (!this.#channel || !this.#connecting) throw notConnectedError(syscall);
    await this.#connecting;
    return this.#channel;
  }
}

/** Alias of TCPSocket. */
export const RudpSocket = TCPSocket;
/** Alias of TCPSocket. */
export type RudpSocket = TCPSocket;
