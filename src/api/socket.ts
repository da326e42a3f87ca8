/**
 * `Socket`: one rudp connection as a `stream.Duplex` that behaves like a
 * `net.Socket`. Backpressure is end to end: the Duplex pulls from the core
 * only while its readable buffer has room (a slow reader keeps data in the
 * core, whose receive window then closes and stops the peer), and a write's
 * callback is held while the core holds more than `sendBufferSize` unacked
 * bytes. `finish` fires once the peer acknowledged our FIN, so every byte
 * written has been received. Messages (`sendMessage`, `message`,
 * `messages()`) travel on the same connection and keep their boundaries.
 */

import { Duplex } from "node:stream";
import type { Address } from "../core/address.js";
import type { Connection } from "../core/connection/connection.js";
import type { ConnectionStats } from "../core/connection/stats.js";
import type { RudpConnectionError } from "../core/errors.js";
import type { ConnectionEvent } from "../core/events.js";
import { MS } from "../core/time.js";
import type { ConnectionSink, EndpointDriver } from "../driver/endpoint-driver.js";
import type { Timer } from "../runtime/runtime.js";
import { RudpSocketError, validateBytes } from "./errors.js";

/** Options shared by sockets made by `connect()` and by servers. */
export interface SocketOptions {
  /** Keep the writable side open after the peer ends (default false, as node:net). */
  allowHalfOpen?: boolean;
  /** Bytes the core may hold unacknowledged before write callbacks wait (default 4 MiB: a smaller buffer would cap goodput at sendBufferSize / RTT). Bytes the peer acknowledged selectively do not count, so a hole lost several times in a row does not stall the writer. */
  sendBufferSize?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

const DEFAULT_SEND_BUFFER = 4 * 1024 * 1024;

type SocketState = "opening" | "open" | "closed";

/** A connected rudp socket: a Duplex stream plus a message channel. */
export class Socket extends Duplex implements ConnectionSink {
  #conn: Connection | undefined;
  #driver: EndpointDriver | undefined;
  #ownsDriver = false;
  #state: SocketState = "opening";
  #connectCallback: ((err?: Error | null) => void) | undefined;
  #reading = false;
  #peerEnded = false;
  #pushedEnd = false;
  #writeCallback: ((err?: Error | null) => void) | undefined;
  /** Bytes of the write whose callback is held (already in the core). */
  #heldBytes = 0;
  #finalCallback: ((err?: Error | null) => void) | undefined;
  #messageWaiters: (() => void)[] = [];
  #earlyMessages: Uint8Array[] = [];
  /** A keepalive interval set before the connection existed (µs), applied at attach. */
  #keepalive: number | undefined;
  #messageDrainPending = false;
  #bytesRead = 0;
  #bytesWritten = 0;
  #timeoutMs = 0;
  #timeoutTimer: Timer | undefined;
  #lastActivity = 0;
  #held = false;
  readonly #sendBufferSize: number;
  /** Where the socket is connecting to, for error messages before it is connected. */
  #target: Address | undefined;

  constructor(options: SocketOptions = {}) {
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
      emitClose: false, // 'close' carries hadError, as net.Socket's does (see _destroy)
      autoDestroy: true,
    });
    this.#sendBufferSize = options.sendBufferSize ?? DEFAULT_SEND_BUFFER;
  }

  // ----- Wiring (used by connect() and Server) ------------------------------------

  /** @internal Binds the socket to its connection. `connected` is true for accepted sockets. */
  _attach(driver: EndpointDriver, conn: Connection, connected: boolean, ownsDriver: boolean): void {
    this.#driver = driver;
    this.#conn = conn;
    this.#ownsDriver = ownsDriver;
    this.#target = conn.remote;
    this.#lastActivity = driver.runtime.now();
    driver.attach(conn, this);
    for (const m of this.#earlyMessages) conn.sendMessage(m);
    if (this.#keepalive !== undefined) conn.setKeepalive(this.#keepalive);
    this.#earlyMessages = [];
    driver.hold();
    this.#held = true;
    if (connected) this.#state = "open";
    if (this.#connectCallback) {
      const cb = this.#connectCallback;
      this.#connectCallback = undefined;
      cb();
    }
  }

  /** @internal Records the target before the connection exists (for errors). */
  _setTarget(target: Address): void {
    this.#target = target;
  }

  override _construct(callback: (error?: Error | null) => void): void {
    if (this.#conn) callback();
    else this.#connectCallback = callback;
  }

  // ----- node:net-like properties ------------------------------------------------

  /** True until the handshake completes. */
  get connecting(): boolean {
    return this.#state === "opening";
  }
  /** True while not yet connected (as net.Socket#pending). */
  get pending(): boolean {
    return this.#state !== "open";
  }
  /** "opening", "open", "readOnly", "writeOnly" or "closed", as net.Socket#readyState. */
  get readyState(): string {
    if (this.#state === "opening") return "opening";
    if (this.#state === "closed" || this.destroyed) return "closed";
    if (this.readable && this.writable) return "open";
    if (this.readable) return "readOnly";
    if (this.writable) return "writeOnly";
    return "closed";
  }
  get remoteAddress(): string | undefined {
    return this.#target?.address;
  }
  get remotePort(): number | undefined {
    return this.#target?.port;
  }
  get remoteFamily(): string | undefined {
    const a = this.#target?.address;
    return a === undefined ? undefined : a.includes(":") ? "IPv6" : "IPv4";
  }
  get localAddress(): string | undefined {
    return this.#driver?.local.address;
  }
  get localPort(): number | undefined {
    return this.#driver?.local.port;
  }
  get localFamily(): string | undefined {
    return this.#driver?.local.family;
  }
  /** Stream bytes delivered to the application. */
  get bytesRead(): number {
    return this.#bytesRead;
  }
  /** Stream bytes accepted by write(). */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }
  /** True when the connection encrypts (docs/SECURITY.md); false before it exists. */
  get encrypted(): boolean {
    return this.#conn?.encrypted ?? false;
  }

  /** On a server, the client's static public key when it presented one (allow-list setups); else undefined. */
  get remotePublicKey(): Uint8Array | undefined {
    return this.#conn?.peerStaticKey;
  }

  /** Bytes written but not yet acknowledged by the peer. */
  get bufferSize(): number {
    // writableLength still counts the chunk whose callback is held, which the core already has.
    return (this.#conn?.bufferedAmount ?? 0) + this.writableLength - this.#heldBytes;
  }

  /** The local address, as net.Socket#address(). */
  address(): { address: string; family: string; port: number } | Record<string, never> {
    const l = this.#driver?.local;
    return l ? { address: l.address, family: l.family, port: l.port } : {};
  }

  /** The core's statistics for this connection (times in µs). */
  stats(): ConnectionStats & { bytesRead: number; bytesWritten: number } {
    const base = this.#conn?.stats();
    if (!base) throw new RudpSocketError("ERR_SOCKET_CLOSED", "socket is not connected", "stats");
    return { ...base, bytesRead: this.#bytesRead, bytesWritten: this.#bytesWritten };
  }

  /** rudp sends every write at the next flush (no Nagle); accepted for compatibility. */
  setNoDelay(_noDelay = true): this {
    return this;
  }

  /** Enables or disables keepalive probes; `initialDelay` (ms) sets their interval. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    this.#keepalive = enable ? (initialDelay > 0 ? initialDelay : 15_000) * MS : 0;
    if (this.#conn) this.#conn.setKeepalive(this.#keepalive);
    this.#driver?.wake();
    return this;
  }

  /** Emits 'timeout' after `ms` of inactivity (0 disables), as net.Socket#setTimeout. */
  setTimeout(ms: number, callback?: () => void): this {
    if (callback) {
      if (ms === 0) this.off("timeout", callback);
      else this.once("timeout", callback);
    }
    this.#timeoutMs = ms;
    if (ms === 0) {
      this.#timeoutTimer?.cancel();
      return this;
    }
    this.#armIdleTimer();
    return this;
  }

  /** Lets the process exit while this socket is open. */
  unref(): this {
    if (this.#held) {
      this.#held = false;
      this.#driver?.release();
    }
    this.#timeoutTimer?.unref();
    return this;
  }
  /** Undoes unref(). */
  ref(): this {
    if (!this.#held && this.#driver && this.#state !== "closed") {
      this.#held = true;
      this.#driver.hold();
    }
    this.#timeoutTimer?.ref();
    return this;
  }

  /** Closes at once with a reset (RST), discarding unsent and unread data, as net.Socket#resetAndDestroy. */
  resetAndDestroy(): this {
    if (this.#conn && this.#conn.state !== "CLOSED") this.#conn.abort();
    this.#driver?.wake();
    return this.destroy();
  }

  // ----- Messages ------------------------------------------------------------------

  /**
   * Sends one message, delivered whole and in order with the stream. Returns
   * false when the send buffer is full; 'drain' follows when it empties.
   */
  sendMessage(message: Uint8Array): boolean {
    validateBytes(message, "message");
    if (this.destroyed || this.writableEnded)
      throw new RudpSocketError("ERR_STREAM_WRITE_AFTER_END", "sendMessage after end", "sendMessage");
    if (!this.#conn) {
      // Still resolving/binding: hold the message until the connection exists.
      this.#earlyMessages.push(Buffer.from(message));
      return true;
    }
    this.#conn.sendMessage(Buffer.from(message)); // copied: the caller may reuse its buffer at once
    this.#touch();
    this.#driver?.wake();
    if (this.#conn.undeliveredAmount < this.#sendBufferSize) return true;
    this.#messageDrainPending = true;
    this.#driver?.watchFlushes(this, true);
    return false;
  }

  /** Received messages, each whole, in order; pulls from the connection only as fast as it is consumed. */
  async *messages(): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      const m = this.#conn?.readMessage();
      if (m) {
        this.#touch();
        this.#driver?.wake(); // reading opens the receive window
        if (this.#peerEnded) this.#pump();
        yield toBuffer(m);
        continue;
      }
      if (this.#state === "closed" || this.#peerEnded || this.destroyed) return;
      await new Promise<void>((resolve) => this.#messageWaiters.push(resolve));
    }
  }

  // ----- Duplex implementation ----------------------------------------------------------

  override _read(_size: number): void {
    this.#reading = true;
    this.#pump();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeChunks([chunk], callback);
  }

  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    this.#writeChunks(
      chunks.map((c) => c.chunk),
      callback,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    const conn = this.#conn;
    if (!conn || conn.state === "CLOSED") {
      callback();
      return;
    }
    conn.end();
    this.#finalCallback = callback;
    this.#driver?.wake();
    this.#checkFinal();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const conn = this.#conn;
    // As close(2) on a TCP socket: reset on error or unread data, else finish gracefully in the background.
    if (conn && conn.state !== "CLOSED") {
      // Data already pulled into the stream's buffer but never read counts as unread, as in the kernel.
      if (error || (this.readableLength > 0 && !this.readableEnded)) conn.abort();
      else conn.close();
    }
    this.#teardown();
    this.#connectCallback?.(error);
    this.#connectCallback = undefined;
    callback(error);
    // After destroy's own 'error' tick, as net.Socket emits close(hadError).
    process.nextTick(() => this.emit("close", error != null));
  }

  #writeChunks(chunks: Buffer[], callback: (error?: Error | null) => void): void {
    const conn = this.#conn;
    if (!conn || conn.state === "CLOSED") {
      callback(new RudpSocketError("EPIPE", "This socket has been ended by the other party", "write"));
      return;
    }
    try {
      // The core holds data until it is acknowledged, but a caller may reuse its buffer once the
      // write callback ran (as with net.Socket, whose kernel copies it): so the core gets a copy.
      for (const c of chunks) {
        conn.write(Buffer.from(c));
        this.#bytesWritten += c.length;
      }
    } catch (err) {
      callback(err as Error);
      return;
    }
    this.#touch();
    this.#driver?.wake();
    if (conn.undeliveredAmount < this.#sendBufferSize) callback();
    else {
      this.#heldBytes = chunks.reduce((n, c) => n + c.length, 0);
      this.#writeCallback = callback;
      this.#driver?.watchFlushes(this, true);
    }
  }

  // ----- Connection events ------------------------------------------------------------

  /** @internal */
  onConnectionEvent(ev: ConnectionEvent): void {
    switch (ev.type) {
      case "connected":
        this.#state = "open";
        this.emit("connect");
        this.emit("ready");
        break;
      case "readable":
        this.#touch();
        if (this.#reading) this.#pump();
        break;
      case "message":
        this.#touch();
        this.#deliverMessages();
        break;
      case "end":
        this.#peerEnded = true;
        this.#pump();
        this.#wakeMessageWaiters();
        break;
      case "path":
        this.#target = ev.remote; // the peer moved (NAT rebinding) and the new path was validated
        break;
      case "mtu":
        this.emit("mtu", ev.size); // path MTU discovery changed the datagram size
        break;
      case "drained":
      case "state":
        this.#checkFinal();
        this.onFlushed();
        break;
      case "closed":
        this.#onClosed(ev.error);
        break;
    }
  }

  /** @internal Re-checks write backpressure after the driver flushed. */
  onFlushed(): void {
    const conn = this.#conn;
    if (!conn) return;
    if (conn.undeliveredAmount < this.#sendBufferSize) {
      const cb = this.#writeCallback;
      this.#writeCallback = undefined;
      this.#heldBytes = 0;
      if (this.#messageDrainPending) {
        this.#messageDrainPending = false;
        this.emit("drain");
      }
      if (!this.#writeCallback && !this.#messageDrainPending) this.#driver?.watchFlushes(this, false);
      cb?.();
    }
  }

  #pump(): void {
    const conn = this.#conn;
    if (!conn) return;
    while (this.#reading) {
      const chunk = readCoalesced(conn);
      if (!chunk) break;
      this.#bytesRead += chunk.length;
      this.#reading = this.push(chunk);
    }
    this.#driver?.wake(); // reading may have opened the receive window
    // The stream ends after the peer's FIN once everything before it was consumed, messages included.
    if (this.#peerEnded && !this.#pushedEnd && conn.readableLength === 0) {
      this.#pushedEnd = true;
      this.push(null);
      // With nothing buffered, let 'end' fire even if nobody reads the byte stream (message-only use).
      if (this.readableLength === 0) this.read(0);
    }
  }

  #deliverMessages(): void {
    if (this.listenerCount("message") > 0) {
      for (let m = this.#conn?.readMessage(); m; m = this.#conn?.readMessage()) this.emit("message", toBuffer(m));
      this.#driver?.wake();
      if (this.#peerEnded) this.#pump();
    }
    this.#wakeMessageWaiters();
  }

  #wakeMessageWaiters(): void {
    const waiters = this.#messageWaiters;
    this.#messageWaiters = [];
    for (const w of waiters) w();
  }

  #checkFinal(): void {
    const conn = this.#conn;
    if (!this.#finalCallback || !conn) return;
    const s = conn.state;
    // Our FIN was acknowledged: everything written has reached the peer (CLOSED only if not by an error).
    if (s === "FIN-WAIT-2" || s === "TIME-WAIT" || (s === "CLOSED" && !conn.error)) {
      const cb = this.#finalCallback;
      this.#finalCallback = undefined;
      cb();
    }
  }

  #onClosed(error: RudpConnectionError | undefined): void {
    this.#state = "closed";
    this.#wakeMessageWaiters();
    if (error) {
      const refused = error.code === "ECONNREFUSED" || error.code.startsWith("ERR_RUDP_"); // handshake failures
      const syscall = refused || this.connecting ? "connect" : "read";
      const err = new RudpSocketError(error.code, error.message, syscall, this.#target?.address, this.#target?.port);
      this.#failPending(err);
      this.destroy(err);
      return;
    }
    this.#checkFinal();
    const cb = this.#finalCallback;
    this.#finalCallback = undefined;
    cb?.();
    if (!this.#pushedEnd) {
      this.#peerEnded = true;
      this.#pump();
    }
    if (!this.writableFinished && !this.writableEnded) this.destroy();
  }

  #failPending(err: Error): void {
    const w = this.#writeCallback;
    this.#writeCallback = undefined;
    const f = this.#finalCallback;
    this.#finalCallback = undefined;
    w?.(err);
    f?.(err);
  }

  #teardown(): void {
    this.#state = "closed";
    this.#timeoutTimer?.cancel();
    this.#wakeMessageWaiters();
    const driver = this.#driver;
    if (!driver) return;
    if (this.#conn) driver.detach(this.#conn);
    if (this.#held) {
      this.#held = false;
      driver.release();
    }
    driver.wake();
    if (this.#ownsDriver) {
      // A client socket's UDP port lives until its connection is fully closed (TIME-WAIT included).
      driver.closeWhenIdle();
    }
  }

  #touch(): void {
    if (this.#timeoutMs > 0 && this.#driver) this.#lastActivity = this.#driver.runtime.now();
  }

  #armIdleTimer(): void {
    const driver = this.#driver;
    if (!driver) {
      this.once("connect", () => this.#armIdleTimer());
      return;
    }
    this.#lastActivity = driver.runtime.now();
    if (!this.#timeoutTimer) {
      this.#timeoutTimer = driver.runtime.createTimer(() => this.#onIdleTimer());
      if (!this.#held) this.#timeoutTimer.unref();
    }
    this.#timeoutTimer.arm(this.#lastActivity + this.#timeoutMs * MS);
  }

  #onIdleTimer(): void {
    if (this.#timeoutMs === 0 || this.destroyed || !this.#driver) return;
    const due = this.#lastActivity + this.#timeoutMs * MS;
    if (this.#driver.runtime.now() >= due) {
      this.#lastActivity = this.#driver.runtime.now();
      this.emit("timeout");
    }
    this.#timeoutTimer?.arm(this.#lastActivity + this.#timeoutMs * MS);
  }
}

/** Largest chunk `readCoalesced` builds: as a TCP socket's reads, so per-chunk stream overhead is paid per 64 KiB, not per packet. */
const READ_CHUNK = 64 * 1024;

/** The next stream bytes as one Buffer: one segment as is, or consecutive segments copied together up to READ_CHUNK. */
function readCoalesced(conn: Connection): Buffer | undefined {
  const first = conn.read();
  if (!first) return undefined;
  if (first.length >= READ_CHUNK) return toBuffer(first);
  const second = conn.read();
  if (!second) return toBuffer(first);
  const parts = [first, second];
  let length = first.length + second.length;
  while (length < READ_CHUNK) {
    const next = conn.read();
    if (!next) break;
    parts.push(next);
    length += next.length;
  }
  return Buffer.concat(parts, length);
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}
