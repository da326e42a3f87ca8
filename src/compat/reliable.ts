/** `ReliableServer` / `ClientConnection` / `ReliableSocket`: a promise-based port of the classic reliable-UDP server and client socket API. */

import { connect } from "../api/connect.js";
import { validatePort } from "../api/errors.js";
import { createServer, type Server } from "../api/server.js";
import type { Socket } from "../api/socket.js";
import type { TransportConfig } from "../core/config.js";
import type { ConnectionStats } from "../core/connection/stats.js";
import {
  AcceptQueue,
  Channel,
  closedError,
  type HostPort,
  listenServer,
  notConnectedError,
  stateError,
  validateHost,
  whenConnected,
} from "./shared.js";

/** Transport tuning accepted by ReliableServer and ReliableSocket (as `createServer`/`connect` take it). */
export type ReliableOptions = Partial<TransportConfig>;

/** One accepted connection of a ReliableServer: a byte stream with `send`/`receive`/`close`. */
export class ClientConnection {
  readonly #channel: Channel;

  /** @internal Wraps an accepted socket. */
  constructor(socket: Socket) {
    this.#channel = new Channel(socket);
  }

  /** The client's `[host, port]`. */
  get address(): HostPort {
    return this.#channel.peer();
  }

  /** Writes `data` (Buffer, Uint8Array or UTF-8 string) to the stream; resolves with its length once accepted. */
  send(data: Uint8Array | string): Promise<number> {
    return this.#channel.send(data);
  }

  /** Resolves with up to `bufsize` bytes; with an empty Buffer once the client ended its side. */
  receive(bufsize: number): Promise<Buffer> {
    return this.#channel.receive(bufsize);
  }

  /** Ends the stream; resolves once the client received everything sent (see `Channel.close`). */
  close(): Promise<void> {
    return this.#channel.close();
  }

  /** Resets the connection at once (unsent and unread data are dropped). */
  abort(): void {
    this.#channel.destroy();
  }

  /** The core's statistics for this connection. */
  stats(): ConnectionStats & { bytesRead: number; bytesWritten: number } {
    return this.#channel.stats();
  }
}

/** A server accepting reliable connections on `host:port` (port 0 picks one; read it from `address()`). */
export class ReliableServer {
  /** The host given to the constructor. */
  readonly host: string;
  #port: number;
  readonly #server: Server;
  readonly #queue = new AcceptQueue<ClientConnection>();
  #state: "new" | "listening" | "shut" = "new";
  #listening: Promise<void> | undefined;

  constructor(host: string, port: number, options: ReliableOptions = {}) {
    this.host = validateHost(host);
    this.#port = validatePort(port);
    this.#server = createServer(options);
    this.#server.on("error", () => {}); // bind errors reject listen(); later UDP errors only affect connections
    this.#server.on("connection", (socket: Socket) => {
      if (!this.#queue.push(new ClientConnection(socket))) socket.destroy();
    });
  }

  /** The bound `[host, port]` once listening (the real port when 0 was asked for). */
  address(): HostPort {
    const a = this.#server.address();
    return a ? [a.address, a.port] : [this.host, this.#port];
  }

  /** Binds and starts accepting. Resolves once listening; rejects on a bind error (e.g. EADDRINUSE). */
  listen(): Promise<void> {
    if (this.#state === "shut") return Promise.reject(closedError("listen"));
    if (!this.#listening) {
      this.#state = "listening";
      this.#listening = listenServer(this.#server, this.#port, this.host).then(() => {
        this.#port = this.#server.address()?.port ?? this.#port;
      });
    }
    return this.#listening;
  }

  /** The next incoming connection, in arrival order (connections that arrive first wait in a queue). */
  accept(): Promise<ClientConnection> {
    if (this.#state === "new")
      return Promise.reject(stateError("ERR_SERVER_NOT_RUNNING", "listen() was not called", "accept"));
    return this.#queue.shift();
  }

  /**
   * Stops accepting: waiting `accept()`s fail with ERR_SERVER_NOT_RUNNING and
   * connections never accepted are reset. Accepted connections stay usable
   * (as after closing a TCP listening socket); the UDP port is released once
   * the last of them has closed. Idempotent.
   */
  async shutdown(): Promise<void> {
    if (this.#state === "shut") return;
    const wasListening = this.#state === "listening";
    this.#state = "shut";
    const err = stateError("ERR_SERVER_NOT_RUNNING", "the server was shut down", "accept");
    for (const c of this.#queue.close(err)) c.abort();
    if (!wasListening) return;
    await this.#listening?.catch(() => {});
    if (this.#server.listening) this.#server.close();
  }
}

/** A client connection to a ReliableServer (or any rudp server). */
export class ReliableSocket {
  /** The server's host and port given to the constructor. */
  readonly host: string;
  readonly port: number;
  readonly #options: ReliableOptions;
  #channel: Channel | undefined;
  #connecting: Promise<void> | undefined;
  #closed = false;

  constructor(host: string, port: number, options: ReliableOptions = {}) {
    this.host = validateHost(host);
    this.port = validatePort(port);
    this.#options = options;
  }

  /** Opens the connection; resolves once the handshake completed (rejects with ECONNREFUSED, ETIMEDOUT, ...). */
  connect(): Promise<void> {
    if (this.#closed) return Promise.reject(closedError("connect"));
    this.#connecting ??= (async () => {
      const socket = connect({ ...this.#options, port: this.port, host: this.host });
      this.#channel = new Channel(socket);
      await whenConnected(socket);
    })();
    return this.#connecting;
  }

  /** Writes `data` to the stream; resolves with its length once accepted. */
  async send(data: Uint8Array | string): Promise<number> {
    return (await this.#connected("send")).send(data);
  }

  /** Resolves with up to `bufsize` bytes; with an empty Buffer once the server ended its side. */
  async receive(bufsize: number): Promise<Buffer> {
    return (await this.#connected("receive")).receive(bufsize);
  }

  /** Ends the stream; resolves once the server received everything sent. Closing an unconnected socket just marks it closed. */
  async close(): Promise<void> {
    this.#closed = true;
    const channel = this.#channel;
    if (!channel) return;
    await this.#connecting?.catch(() => {});
    await channel.close();
  }

  /** The core's statistics for this connection. */
  stats(): ConnectionStats & { bytesRead: number; bytesWritten: number } {
    if (!this.#channel) throw notConnectedError("stats");
    return this.#channel.stats();
  }

  /** The local `[host, port]` once connected. */
  address(): HostPort {
    if (!this.#channel) throw notConnectedError("address");
    return this.#channel.local();
  }

  async #connected(syscall: string): Promise<Channel> {
    if (this.#closed) throw closedError(syscall);
    if (!this.#channel || !this.#connecting) throw notConnectedError(syscall);
    await this.#connecting;
    return this.#channel;
  }
}
