/**
 * `Server` and `createServer`, shaped like node:net's: one UDP socket serves
 * every connection. The same socket can also open connections (`connect`),
 * which is what a peer behind a NAT needs: accept and connect on one port,
 * with simultaneous open when both sides dial at once.
 */

import { EventEmitter } from "node:events";
import { resolveConfig, type TransportConfig } from "../core/config.js";
import { CONTROLLER_NAMES } from "../core/congestion/index.js";
import type { Connection } from "../core/connection/connection.js";
import type { EncryptionOptions } from "../core/crypto/session.js";
import { Endpoint, type EndpointOptions } from "../core/endpoint.js";
import { RudpArgumentError } from "../core/errors.js";
import { EndpointDriver } from "../driver/endpoint-driver.js";
import type { Runtime } from "../runtime/runtime.js";
import { type ConnectGuards, guardConnect } from "./connect.js";
import { DEFAULT_UDP_BUFFER, defaultProbeSize, nodeRuntime, transportOptions } from "./defaults.js";
import { type EncryptionConfig, encryptionOptions } from "./encryption.js";
import { RudpSocketError, validatePort } from "./errors.js";
import { Socket, type SocketOptions } from "./socket.js";

/** Options of `createServer`: socket behaviour, transport tuning and the UDP socket. */
export interface ServerOptions extends SocketOptions, Partial<TransportConfig> {
  /** Most connections held at once (also settable as `server.maxConnections`). Default 10,000. */
  maxConnections?: number;
  /** Most receive bytes all connections together may buffer (default 256 MiB); see EndpointOptions. */
  maxBufferedBytes?: number;
  /** Kernel buffer sizes of the UDP socket (default 4 MiB each; the kernel may cap them). */
  udpRecvBufferSize?: number;
  udpSendBufferSize?: number;
  /** For a server bound to "::", accept IPv6 only. */
  ipv6Only?: boolean;
  /** Where time, timers and sockets come from (tests pass a simulated runtime). */
  runtime?: Runtime;
  /** When a SYN must first prove its address with a RETRY token (default "under-load"). */
  addressValidation?: EndpointOptions["addressValidation"];
  /** RETRY token lifetime in µs (default 10 s). */
  tokenLifetime?: number;
  /** Called for every datagram sent, received or dropped (for tracing tools). */
  onTrace?: EndpointOptions["onTrace"];
  /** Encrypts connections (docs/SECURITY.md): a pre-shared key, or this server's key pair (and an allow-list). */
  encryption?: EncryptionConfig;
}

/** `listen()` options, as node:net's. */
export interface ListenOptions {
  port?: number;
  host?: string;
  backlog?: number;
  ipv6Only?: boolean;
}

/** A rudp server: emits 'connection' with a `Socket` for each accepted connection. */
export class Server extends EventEmitter {
  readonly #options: ServerOptions;
  readonly #runtime: Runtime;
  #driver: EndpointDriver | undefined;
  #sockets = new Set<Socket>();
  #closing = false;
  #listening = false;
  #maxConnections: number;
  readonly #encryption: EncryptionOptions | undefined;
  #closeCallbacks: ((err?: Error) => void)[] = [];

  constructor(options: ServerOptions = {}, connectionListener?: (socket: Socket) => void) {
    super();
    if (options === null || typeof options !== "object")
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "options" argument must be an object');
    resolveConfig(transportOptions(options), CONTROLLER_NAMES); // validate early, naming the bad option
    this.#options = options;
    this.#runtime = options.runtime ?? nodeRuntime();
    this.#maxConnections = options.maxConnections ?? 10_000;
    this.#encryption = options.encryption === undefined ? undefined : encryptionOptions(options.encryption, "server");
    if (connectionListener) this.on("connection", connectionListener);
  }

  /** True while accepting connections. */
  get listening(): boolean {
    return this.#listening;
  }

  /** Most connections held at once; new handshakes beyond it are dropped. */
  get maxConnections(): number {
    return this.#maxConnections;
  }
  set maxConnections(n: number) {
    this.#maxConnections = n;
    this.#driver?.endpoint.setMaxConnections(n);
  }

  /**
   * Starts listening: `listen(port?, host?, backlog?, cb?)` or `listen(options, cb?)`.
   * Without a host, binds "::" (dual-stack) and falls back to "0.0.0.0".
   */
  listen(...args: unknown[]): this {
    const cb = typeof args[args.length - 1] === "function" ? (args.pop() as () => void) : undefined;
    let o: ListenOptions;
    if (typeof args[0] === "object" && args[0] !== null) o = args[0] as ListenOptions;
    else
      o = {
        port: args[0] as number | undefined,
        host: args[1] as string | undefined,
        backlog: args[2] as number | undefined,
      };
    const port = validatePort(o.port ?? 0);
    if (o.host !== undefined && typeof o.host !== "string")
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "host" argument must be a string');
    if (o.backlog !== undefined && (!Number.isInteger(o.backlog) || o.backlog < 0))
      throw new RudpArgumentError(
        "ERR_OUT_OF_RANGE",
        `The "backlog" argument must be a non-negative integer; received ${o.backlog}`,
      );
    if (this.#listening || this.#driver)
      throw new RudpSocketError("ERR_SERVER_ALREADY_LISTEN", "listen() called twice", "listen");
    if (cb) this.once("listening", cb);
    this.#bind(port, o.host, o.backlog ?? 511, o.ipv6Only ?? this.#options.ipv6Only).catch((err: Error) =>
      this.emit("error", err),
    );
    return this;
  }

  async #bind(port: number, host: string | undefined, backlog: number, ipv6Only: boolean | undefined): Promise<void> {
    const runtime = this.#runtime;
    const buffers = {
      recvBufferSize: this.#options.udpRecvBufferSize ?? DEFAULT_UDP_BUFFER,
      sendBufferSize: this.#options.udpSendBufferSize ?? DEFAULT_UDP_BUFFER,
    };
    let udp: Awaited<ReturnType<Runtime["bindUdp"]>>;
    if (host === undefined) {
      try {
        udp = await runtime.bindUdp({ port, host: "::", ipv6Only: false, ...buffers });
      } catch {
        udp = await runtime.bindUdp({ port, host: "0.0.0.0", ...buffers });
      }
    } else {
      const { address } = await runtime.lookup(host);
      udp = await runtime.bindUdp({ port, host: address, ipv6Only, ...buffers });
    }
    const endpoint = new Endpoint({
      maxProbePacketSize: defaultProbeSize(udp.local.address),
      ...transportOptions(this.#options),
      rng: runtime.rng,
      checksum: runtime.checksum,
      maxConnections: this.#maxConnections,
      maxBufferedBytes: this.#options.maxBufferedBytes,
      backlog,
      addressValidation: this.#options.addressValidation,
      tokenLifetime: this.#options.tokenLifetime,
      onTrace: this.#options.onTrace,
      encryption: this.#encryption,
      crypto: runtime.crypto,
    });
    const driver = new EndpointDriver(runtime, udp, endpoint);
    driver.onIncoming = (conn) => this.#accept(conn);
    driver.onError = (err) => this.emit("error", err);
    this.#driver = driver;
    if (this.#closing) {
      driver.close();
      this.#finishClose();
      return;
    }
    endpoint.listen();
    driver.hold();
    this.#listening = true;
    this.emit("listening");
  }

  #accept(conn: Connection): void {
    const driver = this.#driver as EndpointDriver;
    if (this.#closing) {
      conn.abort();
      return;
    }
    const socket = new Socket(this.#options);
    socket._attach(driver, conn, true, false);
    this.#track(socket);
    this.emit("connection", socket);
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once("close", () => {
      this.#sockets.delete(socket);
      if (this.#closing) this.#maybeFinishClose();
    });
  }

  /** The bound address, as net.Server#address(); null before 'listening'. */
  address(): { address: string; family: string; port: number } | null {
    const l = this.#driver?.local;
    return l ? { address: l.address, family: l.family, port: l.port } : null;
  }

  /** Counts open connections, as net.Server#getConnections. */
  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.#sockets.size;
    process.nextTick(() => cb(null, n));
    return this;
  }

  /**
   * Opens a connection from this server's own UDP socket (peer to peer).
   * When the peer dials us at the same moment, both ends get one connection.
   */
  connect(
    port: number,
    host: string,
    options: (ConnectGuards & { encryption?: EncryptionConfig }) | (() => void) = {},
    listener?: () => void,
  ): Socket {
    if (typeof options === "function") {
      listener = options;
      options = {};
    }
    validatePort(port);
    const encryption = options.encryption === undefined ? undefined : encryptionOptions(options.encryption, "client");
    const driver = this.#driver;
    if (!driver) throw new RudpSocketError("ERR_SERVER_NOT_RUNNING", "the server is not listening", "connect");
    const socket = new Socket(this.#options);
    socket._setTarget({ address: host, port });
    if (listener) socket.once("connect", listener);
    if (!guardConnect(socket, this.#runtime, options, host, port)) return socket;
    this.#runtime.lookup(host).then(
      ({ address }) => {
        if (socket.destroyed) return;
        const conn = driver.connect(
          { address: mapToSocketFamily(address, driver.local.family), port },
          encryption ? { encryption } : {},
        );
        socket._attach(driver, conn, false, false);
        this.#track(socket);
      },
      (err: Error) => socket.destroy(err),
    );
    return socket;
  }

  /**
   * Stops accepting connections; 'close' follows once every open connection
   * has closed (as net.Server#close).
   */
  close(cb?: (err?: Error) => void): this {
    if (cb) this.#closeCallbacks.push(cb);
    if (this.#closing) return this;
    this.#closing = true;
    if (!this.#driver) {
      if (!this.#listening) {
        process.nextTick(() =>
          this.#finishClose(new RudpSocketError("ERR_SERVER_NOT_RUNNING", "Server is not running.", "close")),
        );
      }
      return this;
    }
    this.#driver.endpoint.stopListening();
    if (this.#listening) {
      this.#listening = false;
      this.#driver.release();
    }
    this.#maybeFinishClose();
    return this;
  }

  #maybeFinishClose(): void {
    if (this.#sockets.size > 0) return;
    // Connections lingering in TIME-WAIT finish in the background; the UDP socket closes after them.
    this.#driver?.closeWhenIdle();
    this.#finishClose();
  }

  #finishClose(err?: Error): void {
    const cbs = this.#closeCallbacks;
    this.#closeCallbacks = [];
    for (const cb of cbs) cb(err);
    if (!err) this.emit("close");
  }

  /** Lets the process exit while the server listens. */
  unref(): this {
    if (this.#listening) this.#driver?.release();
    return this;
  }
  /** Undoes unref(). */
  ref(): this {
    if (this.#listening) this.#driver?.hold();
    return this;
  }

  /** The endpoint's counters (datagrams, drops, handshakes). */
  endpointStats(): ReturnType<Endpoint["stats"]> | undefined {
    return this.#driver?.endpoint.stats();
  }
}

/** An IPv4 peer reached from a dual-stack IPv6 socket is addressed as ::ffff:a.b.c.d. */
export function mapToSocketFamily(address: string, family: "IPv4" | "IPv6"): string {
  if (family === "IPv6" && !address.includes(":")) return `::ffff:${address}`;
  return address;
}

/** Creates a server, as net.createServer. */
export function createServer(
  options?: ServerOptions | ((socket: Socket) => void),
  connectionListener?: (socket: Socket) => void,
): Server {
  if (typeof options === "function") return new Server({}, options);
  return new Server(options ?? {}, connectionListener);
}
