/** Pieces the compat adapters share: errors, argument checks, a connected-stream wrapper and an accept queue. */

import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { RudpSocketError, validatePort } from "../api/errors.js";
import type { Server } from "../api/server.js";
import type { Socket } from "../api/socket.js";
import type { ConnectionStats } from "../core/connection/stats.js";
import { RudpArgumentError } from "../core/errors.js";
import { ByteReader } from "./byte-reader.js";

/** A `[host, port]` pair, as Python's socket addresses. */
export type HostPort = [host: string, port: number];

/** A socket-state error with a node-style `code` (ERR_SOCKET_CLOSED, ERR_SOCKET_NOT_CONNECTED, ...). */
export function stateError(code: string, message: string, syscall: string): RudpSocketError {
  return new RudpSocketError(code, message, syscall);
}

/** ERR_SOCKET_CLOSED for an operation on a closed socket. */
export function closedError(syscall: string): RudpSocketError {
  return stateError("ERR_SOCKET_CLOSED", "the socket is closed", syscall);
}

/** ERR_SOCKET_NOT_CONNECTED for an operation that needs a connection. */
export function notConnectedError(syscall: string): RudpSocketError {
  return stateError("ERR_SOCKET_NOT_CONNECTED", "the socket is not connected", syscall);
}

/** Checks that `data` is a Buffer/Uint8Array or a string (sent as UTF-8) and returns its bytes. */
export function toBytes(data: unknown, name = "data"): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (typeof data === "string") return Buffer.from(data, "utf8");
  throw new RudpArgumentError(
    "ERR_INVALID_ARG_TYPE",
    `The "${name}" argument must be a Buffer, Uint8Array or string; received ${data === null ? "null" : typeof data}`,
  );
}

/** Checks a receive size: a positive integer. */
export function validateSize(n: unknown, name = "bufsize"): number {
  if (typeof n !== "number" || !Number.isInteger(n))
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", `The "${name}" argument must be an integer; received ${n}`);
  if (n < 1) throw new RudpArgumentError("ERR_OUT_OF_RANGE", `The "${name}" argument must be >= 1; received ${n}`);
  return n;
}

/** Checks a host string. */
export function validateHost(host: unknown, name = "host"): string {
  if (typeof host !== "string" || host.length === 0)
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", `The "${name}" argument must be a non-empty string`);
  return host;
}

/** Checks a `[host, port]` pair. */
export function validateAddress(address: unknown, name = "address"): HostPort {
  if (!Array.isArray(address) || address.length !== 2)
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", `The "${name}" argument must be a [host, port] pair`);
  return [validateHost(address[0], `${name}[0]`), validatePort(address[1], `${name}[1]`)];
}

/** Resolves a host name to an address; IP literals resolve without the event loop. */
export async function resolveHost(host: string): Promise<string> {
  if (isIP(host)) return host;
  return (await lookup(host)).address;
}

/** Starts `server` listening and resolves once it does (rejects on a bind error). */
export function listenServer(server: Server, port: number, host: string | undefined, backlog?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(port, host, backlog, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Resolves once `socket` is connected; rejects with its error if it fails first. */
export function whenConnected(socket: Socket): Promise<void> {
  if (!socket.connecting) return socket.destroyed ? Promise.reject(closedError("connect")) : Promise.resolve();
  return new Promise((resolve, reject) => {
    const onConnect = () => {
      socket.off("close", onClose);
      socket.off("error", onError);
      resolve();
    };
    const onError = (err: Error) => {
      socket.off("connect", onConnect);
      socket.off("close", onClose);
      reject(err);
    };
    const onClose = () => {
      socket.off("connect", onConnect);
      socket.off("error", onError);
      reject(closedError("connect"));
    };
    socket.once("connect", onConnect);
    socket.once("error", onError);
    socket.once("close", onClose);
  });
}

/**
 * One connected byte stream with promise-based `send`/`receive`/`close`: the
 * part ClientConnection, ReliableSocket and TCPSocket have in common.
 */
export class Channel {
  readonly socket: Socket;
  readonly #reader: ByteReader;
  #error: Error | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;
  #socketClosed = false;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on("error", (err: Error) => {
      this.#error ??= err;
    });
    socket.once("close", () => {
      this.#socketClosed = true;
    });
    this.#reader = new ByteReader(socket);
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Writes `data` to the stream; resolves with its length once the socket accepted it. */
  async send(data: unknown, syscall = "send"): Promise<number> {
    const bytes = toBytes(data);
    if (this.#closed) throw closedError(syscall);
    if (this.#error) throw this.#error;
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded)
      throw stateError("EPIPE", "the connection was closed for writing", syscall);
    // The core keeps written buffers by reference until acknowledged: send a copy the caller may reuse.
    const copy = Buffer.from(bytes);
    await new Promise<void>((resolve, reject) => {
      socket.write(copy, (err?: Error | null) => (err ? reject(this.#error ?? err) : resolve()));
    });
    return copy.length;
  }

  /** Resolves with up to `max` bytes of the stream, or an empty Buffer at its end. */
  async receive(max: unknown, syscall = "receive"): Promise<Buffer> {
    const n = validateSize(max);
    if (this.#closed) throw closedError(syscall);
    return this.#reader.read(n);
  }

  /**
   * Ends our side (a FIN after everything written) and resolves once the peer
   * acknowledged it, i.e. received every byte sent, or once the connection
   * closed (also after a failure). As a TCP close(), it does not wait for the
   * peer to finish: the connection closes in the background when the peer
   * ends its side, dropping whatever still arrives, and no longer keeps the
   * process alive. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#reader.discard();
    const socket = this.socket;
    if (this.#socketClosed) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        socket.off("finish", done);
        socket.off("close", done);
        resolve();
      };
      socket.once("finish", done);
      socket.once("close", done);
      socket.end();
    });
    socket.unref();
  }

  /** Ends at once with a reset, as SO_LINGER 0 (pending reads fail). */
  destroy(): void {
    this.#closed = true;
    this.#reader.discard();
    this.socket.resetAndDestroy();
  }

  /** The core's statistics for this connection. */
  stats(): ConnectionStats & { bytesRead: number; bytesWritten: number } {
    return this.socket.stats();
  }

  /** The peer's `[host, port]`. */
  peer(): HostPort {
    return [this.socket.remoteAddress ?? "", this.socket.remotePort ?? 0];
  }

  /** The local `[host, port]`. */
  local(): HostPort {
    return [this.socket.localAddress ?? "", this.socket.localPort ?? 0];
  }
}

/** Queues accepted items and hands them to `shift()` calls in order. */
export class AcceptQueue<T> {
  readonly #items: T[] = [];
  readonly #waiters: { resolve: (item: T) => void; reject: (err: Error) => void }[] = [];
  #error: Error | undefined;

  /** Number of items waiting to be taken. */
  get length(): number {
    return this.#items.length;
  }

  /** Adds an item; returns false (item not taken) once the queue was closed. */
  push(item: T): boolean {
    if (this.#error) return false;
    const w = this.#waiters.shift();
    if (w) w.resolve(item);
    else this.#items.push(item);
    return true;
  }

  /** The next item, waiting for one if needed. */
  shift(): Promise<T> {
    if (this.#items.length > 0) return Promise.resolve(this.#items.shift() as T);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Fails waiting and future `shift()`s with `err`; returns the items never taken. */
  close(err: Error): T[] {
    this.#error ??= err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
    return this.#items.splice(0);
  }
}
