/** `Streamer`: a promise-based port of the classic peer-to-peer reliable "streamer" (send/recv whole messages, close). */

import { transportOptions } from "../api/defaults.js";
import { validatePort } from "../api/errors.js";
import { createServer, type Server } from "../api/server.js";
import type { Socket } from "../api/socket.js";
import { resolveConfig, type TransportConfig } from "../core/config.js";
import { CONTROLLER_NAMES } from "../core/congestion/index.js";
import type { ConnectionStats } from "../core/connection/stats.js";
import { RudpArgumentError } from "../core/errors.js";
import {
  closedError,
  type HostPort,
  notConnectedError,
  resolveHost,
  stateError,
  toBytes,
  validateHost,
} from "./shared.js";

/** Where a Streamer listens (src) and whom it talks to (dst), plus optional transport tuning. */
export interface StreamerOptions extends Partial<TransportConfig> {
  /** The peer's host and port. */
  dstHost: string;
  dstPort: number;
  /** The local address and port to bind (default: every address; port 0 = ephemeral). */
  srcHost?: string;
  srcPort?: number;
}

/**
 * One end of a peer-to-peer connection that carries whole messages in order.
 * It listens on src and dials dst from the same UDP socket, so two Streamers
 * aimed at each other connect with no server (simultaneous open gives one
 * connection); a Streamer also connects to a plain rudp server, or accepts
 * the connection of a peer that dials it.
 */
export class Streamer {
  readonly #server: Server;
  readonly #dstHost: string;
  readonly #dstPort: number;
  #dstAddress: string | undefined;
  readonly #maxMessageSize: number;
  readonly #candidates = new Set<Socket>();
  #socket: Socket | undefined;
  /** Messages received and not yet taken by recv(); read eagerly so the peer's FIN is answered at once. */
  #inbox: Buffer[] = [];
  #inboxWaiters: { resolve: (m: Buffer | undefined) => void }[] = [];
  #inboxEnded = false;
  #pending: Buffer[] = [];
  #error: Error | undefined;
  #closeCalled = false;
  #abandoned = false;
  #closing: Promise<void> | undefined;
  #recvTail: Promise<unknown> = Promise.resolve();
  readonly #ready: Promise<void>;
  #resolveReady!: () => void;
  #rejectReady!: (err: Error) => void;

  constructor(options: StreamerOptions) {
    if (options === null || typeof options !== "object")
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "options" argument must be an object');
    this.#dstHost = validateHost(options.dstHost, "dstHost");
    this.#dstPort = validatePort(options.dstPort, "dstPort");
    if (this.#dstPort === 0) throw new RudpArgumentError("ERR_OUT_OF_RANGE", 'The "dstPort" option must be > 0');
    const srcPort = validatePort(options.srcPort ?? 0, "srcPort");
    const srcHost = options.srcHost === undefined ? undefined : validateHost(options.srcHost, "srcHost");
    const transport = transportOptions(options);
    this.#maxMessageSize = resolveConfig(transport, CONTROLLER_NAMES).maxMessageSize;
    this.#ready = new Promise<void>((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.#ready.catch(() => {}); // reported through ready(), recv() and close()
    this.#server = createServer(transport);
    this.#server.on("error", (err: Error) => this.#fail(err));
    this.#server.on("connection", (socket: Socket) => this.#onIncoming(socket));
    this.#start(srcHost, srcPort).catch((err: Error) => this.#fail(err));
  }

  async #start(srcHost: string | undefined, srcPort: number): Promise<void> {
    // Resolve the peer first: with an IP literal, listening and dialing happen in one
    // event-loop turn, so no SYN of the peer can be accepted before our own SYN exists.
    const dst = await resolveHost(this.#dstHost);
    this.#dstAddress = dst;
    if (this.#abandoned) return;
    this.#server.listen(srcPort, srcHost, () => {
      if (this.#abandoned || this.#socket) return;
      const out = this.#server.connect(this.#dstPort, dst);
      this.#track(out);
      out.once("connect", () => this.#choose(out));
    });
  }

  /** Resolves once connected to the peer (rejects if that failed). */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** The local `[host, port]` once bound, else undefined. */
  address(): HostPort | undefined {
    const a = this.#server.address();
    return a ? [a.address, a.port] : undefined;
  }

  /**
   * Queues one message (Buffer, Uint8Array or UTF-8 string; copied). Messages
   * sent before the connection is up wait for it. Throws ERR_SOCKET_CLOSED
   * after `close()`.
   */
  send(data: Uint8Array | string): void {
    const bytes = toBytes(data);
    if (this.#closeCalled) throw closedError("send");
    if (this.#error) throw this.#error;
    if (bytes.length > this.#maxMessageSize)
      throw new RudpArgumentError(
        "ERR_OUT_OF_RANGE",
        `Message of ${bytes.length} bytes exceeds maxMessageSize (${this.#maxMessageSize})`,
      );
    const socket = this.#socket;
    if (socket && (socket.writableEnded || socket.destroyed))
      throw stateError("EPIPE", "the connection was closed for writing", "send");
    const copy = Buffer.from(bytes);
    if (socket) socket.sendMessage(copy);
    else this.#pending.push(copy);
  }

  /**
   * The next message, in order. Rejects with ERR_SOCKET_CLOSED after `close()`,
   * or once the peer closed and every message it sent was received; with the
   * connection's error if it failed.
   */
  recv(): Promise<Buffer> {
    if (this.#closeCalled) return Promise.reject(closedError("recv"));
    const p = this.#recvTail.then(() => this.#recvOne());
    this.#recvTail = p.catch(() => {});
    return p;
  }

  async #recvOne(): Promise<Buffer> {
    await this.#ready;
    const m =
      this.#inbox.shift() ??
      (this.#inboxEnded
        ? undefined
        : await new Promise<Buffer | undefined>((resolve) => this.#inboxWaiters.push({ resolve })));
    if (m) return m;
    throw this.#error ?? closedError("recv");
  }

  /**
   * Closes gracefully: resolves once everything sent was acknowledged, FINs
   * were exchanged and the connection closed (it then lingers in TIME-WAIT in
   * the core until the UDP socket is released). Closing before the connection
   * is up with nothing sent gives up connecting. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closeCalled = true;
    try {
      if (!this.#socket) {
        if (this.#pending.length === 0 || this.#error) {
          // Nothing to deliver (or it can no longer be delivered): give up connecting.
          this.#abandoned = true;
          this.#rejectReady(closedError("connect"));
          if (this.#pending.length > 0) throw this.#error;
          return;
        }
        await this.#ready; // messages wait for the connection
      }
      const socket = this.#socket as Socket;
      if (!socket.destroyed) {
        const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
        socket.end();
        await closed;
      }
      if (this.#error) throw this.#error;
    } finally {
      for (const s of this.#candidates) s.destroy();
      await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    }
  }

  /** The core's statistics for the connection. */
  stats(): ConnectionStats & { bytesRead: number; bytesWritten: number } {
    if (!this.#socket) throw notConnectedError("stats");
    return this.#socket.stats();
  }

  #track(socket: Socket): void {
    this.#candidates.add(socket);
    socket.on("error", (err: Error) => {
      if (socket === this.#socket) this.#error ??= err;
      else if (!this.#socket) this.#fail(err);
    });
    socket.once("close", () => this.#candidates.delete(socket));
  }

  #onIncoming(socket: Socket): void {
    this.#track(socket);
    const dst = this.#dstAddress;
    const from = socket.remoteAddress;
    const fromPeer =
      socket.remotePort === this.#dstPort && dst !== undefined && (from === dst || from === `::ffff:${dst}`);
    if (this.#socket || this.#abandoned || !fromPeer) {
      socket.destroy();
      return;
    }
    this.#choose(socket);
  }

  /** Uses `socket` as the connection; every other candidate is dropped. */
  #choose(socket: Socket): void {
    if (this.#socket) {
      if (socket !== this.#socket) socket.destroy();
      return;
    }
    this.#socket = socket;
    for (const s of this.#candidates) if (s !== socket) s.destroy();
    this.#candidates.clear();
    socket.resume(); // message mode: stream bytes are not used; reading them lets the stream end
    socket.on("message", (m: Buffer) => {
      const w = this.#inboxWaiters.shift();
      if (w) w.resolve(m);
      else this.#inbox.push(m);
    });
    const endInbox = () => {
      this.#inboxEnded = true;
      for (const w of this.#inboxWaiters.splice(0)) w.resolve(undefined);
    };
    socket.once("end", endInbox);
    socket.once("close", endInbox);
    for (const m of this.#pending) socket.sendMessage(m);
    this.#pending = [];
    this.#resolveReady();
  }

  #fail(err: Error): void {
    this.#error ??= err;
    if (!this.#socket) {
      this.#rejectReady(err);
      for (const s of this.#candidates) s.destroy();
    }
  }
}
