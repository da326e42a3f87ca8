/**
 * The endpoint: one UDP socket's worth of connections. It validates every
 * datagram (cheap magic/version check, CRC-32, full decode) and routes it by
 * destination connection id; opens connections actively (`connect`) and
 * passively (SYNs while listening); answers strays with rate-limited RSTs;
 * and multiplexes the connections' output and timers (one earliest-deadline
 * heap, so a driver needs a single timer). Malformed input is counted and
 * dropped, never thrown.
 */

import { type Address, addressKey, sameAddress } from "./address.js";
import { AddressTokens } from "./address-token.js";
import { PROFILES, resolveConfig, type TransportConfig } from "./config.js";
import { CONTROLLER_NAMES } from "./congestion/index.js";
import { Connection, type ConnectionHost, handshakeFieldsFor, handshakeFieldsOf } from "./connection/connection.js";
import { readHandshakeExtensions } from "./connection/handshake-ext.js";
import type { AcceptedHandshake, HandshakeResponder } from "./connection/security.js";
import type { CryptoProvider } from "./crypto/provider.js";
import { createInitiator, createResponder, type EncryptionOptions } from "./crypto/session.js";
import { RudpArgumentError, RudpConnectionError } from "./errors.js";
import type { ConnectionEvent } from "./events.js";
import { nonZeroU32, type Rng } from "./rng.js";
import { socketBufferWindow } from "./socket-buffer.js";
import { type Instant, NEVER, SECOND } from "./time.js";
import { TimerHeap } from "./timer-heap.js";

const EMPTY = new Uint8Array(0);

import { type Checksum, crc32 } from "./wire/crc32.js";
import {
  CHECKSUM_SIZE,
  checksumValid,
  emitPacket,
  Flag,
  type HandshakeRepr,
  HEADER_SIZE,
  type PacketRepr,
  parsePacket,
  peekDcid,
  peekFlags,
  RstReason,
} from "./wire/packet.js";

/** Endpoint options: transport defaults for its connections plus endpoint limits. */
export interface EndpointOptions extends Partial<TransportConfig> {
  /** A named bundle of transport defaults ("default", "low-latency"); explicit options override it. */
  profile?: string;
  /** Most connections held at once (incoming handshakes beyond it are dropped). Default 10,000. */
  maxConnections?: number;
  /** RSTs the endpoint may send per second to strays (token bucket). Default 100. */
  rstRateLimit?: number;
  /** Most incoming handshakes in progress at once (as listen's backlog); more are dropped. Default 511. */
  backlog?: number;
  /**
   * When a SYN must first prove its source address with a RETRY token before
   * the endpoint keeps any state for it: "always"; "under-load" (default: once
   * half the backlog is in use, as SYN cookies); or "never".
   */
  addressValidation?: "always" | "under-load" | "never";
  /** How long a RETRY token stays valid (µs). Default 10 s. */
  tokenLifetime?: number;
  /** Called for every datagram sent, received or dropped (tracing; leave unset for speed). */
  onTrace?: (event: TraceEvent) => void;
  /**
   * Most receive bytes all connections together may buffer (unread or out of
   * order). Beyond it, advertised windows close and arriving data is dropped
   * (counted in `bufferLimitDrops`) until applications read. Default 256 MiB.
   */
  maxBufferedBytes?: number;
  /**
   * Encryption (docs/PROTOCOL.md §12): this endpoint's keys. A server with
   * keys accepts encrypted connections (and, unless `requireEncryption` is
   * false, only those); `connect()` uses them unless it is given its own.
   */
  encryption?: EncryptionOptions;
  /** The cryptographic primitives encryption needs (the core has none of its own); required with `encryption`. */
  crypto?: CryptoProvider;
  /** A faster implementation of the wire checksum (CRC-32), such as Node's zlib.crc32; the pure one by default. */
  checksum?: Checksum;
}

/** Something the endpoint reports to its driver. */
export type EndpointEvent =
  /** A passively opened connection completed its handshake and waits to be accepted. */
  | { type: "incoming"; connection: Connection }
  /** An event on one connection. */
  | { type: "event"; connection: Connection; event: ConnectionEvent };

/** Why a datagram was dropped, in traces. */
export type DropReason =
  | "foreign"
  | "corrupt"
  | "malformed"
  | "unknown-connection"
  | "forged-token"
  | "handshake-refused"
  | "unauthenticated";

/** One packet event, for `--trace`-style tools (qlog-like). Times are µs. */
export interface TraceEvent {
  time: Instant;
  event: "send" | "recv" | "drop";
  /** The local connection id (0 when none), the peer's address. */
  conn: number;
  peer: Address;
  /** Header flags and fields of the packet (absent for undecodable drops). */
  flags: number;
  seq?: number;
  ack?: number;
  size: number;
  /** For sends: a retransmission. For drops: why. */
  retransmit?: boolean;
  reason?: DropReason;
  /** The connection's congestion window and smoothed RTT after the event. */
  cwnd?: number;
  srtt?: number;
}

/** Room `pollTransmit` needs in its output buffer: the largest datagram any connection may build. */
export const MAX_TRANSMIT_SIZE = 65536;

/** A datagram to send. `data` is valid until the next `pollTransmit` call (or, with a caller's buffer, as long as it). */
export interface Transmit {
  to: Address;
  data: Uint8Array;
}

/** Endpoint-wide counters. */
export interface EndpointStats {
  datagramsReceived: number;
  datagramsSent: number;
  /** Not rudp v1 (bad magic/version or too short). */
  foreignDrops: number;
  /** Checksum mismatches. */
  corruptDrops: number;
  /** Valid checksum but undecodable. */
  malformedDrops: number;
  /** Addressed to a connection id we do not have. */
  unknownConnectionDrops: number;
  /** Packets for a known connection from an address other than its own (each starts a path challenge). */
  unvalidatedPathPackets: number;
  /** SYNs refused (not listening) or dropped (connection limit). */
  refusedHandshakes: number;
  droppedHandshakes: number;
  /** droppedHandshakes by cause: maxConnections reached, backlog full, stateless queue full (no RETRY sent). */
  connectionLimitDrops: number;
  backlogDrops: number;
  statelessQueueDrops: number;
  /** Connections that failed with ETIMEDOUT before their handshake completed (half-open expiry, unanswered SYNs). */
  handshakeTimeouts: number;
  /** Established connections that failed with ETIMEDOUT (idle timeout, retransmission limit). */
  timeouts: number;
  /** Connections reset for a protocol violation (EPROTO, e.g. a message larger than maxMessageSize). */
  protocolErrors: number;
  /** Stateless RETRYs sent, and SYNs dropped for a forged token. */
  retriesSent: number;
  invalidTokens: number;
  /** Connections that moved to a new, validated address. */
  migrations: number;
  rstsSent: number;
  rstsRateLimited: number;
  /** Exceptions raised inside a connection while handling input (bugs; the connection is aborted). */
  internalErrors: number;
  /** Exceptions thrown by the onTrace hook (swallowed). */
  traceErrors: number;
  connectionsOpened: number;
  connectionsClosed: number;
  /** Connections currently held. */
  connections: number;
  /** Receive bytes buffered across all connections (unread or out of order), against maxBufferedBytes. */
  bufferedBytes: number;
  /** Data segments dropped because maxBufferedBytes was reached. */
  bufferLimitDrops: number;
  /** Sealed datagrams that failed authentication or were replays, and handshakes refused for a wrong key or an unknown client. */
  authFailures: number;
}

interface Stateless {
  to: Address;
  length: number;
  data: Uint8Array;
}

/** Demultiplexes one socket's datagrams to its connections. */
export class Endpoint implements ConnectionHost {
  readonly config: TransportConfig;
  /** The wire checksum implementation shared by this endpoint's connections. */
  readonly checksum: Checksum;
  readonly #rng: Rng;
  #maxConnections: number;
  readonly #backlog: number;
  readonly #maxBufferedBytes: number;
  #socketReceiveBuffer = 0;
  readonly #crypto: CryptoProvider | undefined;
  readonly #encryption: EncryptionOptions | undefined;
  readonly #responder: HandshakeResponder | undefined;
  #bufferedBytes = 0;
  readonly #addressValidation: "always" | "under-load" | "never";
  readonly #tokens: AddressTokens;
  readonly #onTrace: ((event: TraceEvent) => void) | undefined;
  /** Passive connections still in their handshake. */
  readonly #halfOpen = new Set<Connection>();
  /** Connections that completed their handshake (for counting how they end). */
  readonly #established = new WeakSet<Connection>();
  readonly #rstRate: number;
  #rstTokens: number;
  #rstRefillAt: Instant = 0;
  #listening = false;
  readonly #byCid = new Map<number, Connection>();
  /** Connections by (peer address, peer cid), so a retransmitted SYN finds its connection. */
  readonly #byPeer = new Map<string, Connection>();
  /** Active opens still in SYN-SENT, by peer address (simultaneous open). */
  readonly #connecting = new Map<string, Connection>();
  readonly #peerKeyOf = new Map<Connection, string>();
  readonly #ready = new Set<Connection>();
  readonly #timers = new TimerHeap<Connection>();
  readonly #events: EndpointEvent[] = [];
  #eventsHead = 0;
  readonly #stateless: Stateless[] = [];
  /** Where pollTransmit builds datagrams when the caller gives no buffer (allocated on first use). */
  #scratch: Uint8Array | undefined;
  readonly #stats: EndpointStats = {
    datagramsReceived: 0,
    datagramsSent: 0,
    foreignDrops: 0,
    corruptDrops: 0,
    malformedDrops: 0,
    unknownConnectionDrops: 0,
    unvalidatedPathPackets: 0,
    refusedHandshakes: 0,
    droppedHandshakes: 0,
    connectionLimitDrops: 0,
    backlogDrops: 0,
    statelessQueueDrops: 0,
    handshakeTimeouts: 0,
    timeouts: 0,
    protocolErrors: 0,
    retriesSent: 0,
    invalidTokens: 0,
    migrations: 0,
    rstsSent: 0,
    rstsRateLimited: 0,
    internalErrors: 0,
    traceErrors: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
    connections: 0,
    bufferedBytes: 0,
    bufferLimitDrops: 0,
    authFailures: 0,
  };

  constructor(options: EndpointOptions & { rng: Rng }) {
    const {
      maxConnections = 10_000,
      rstRateLimit = 100,
      backlog = 511,
      addressValidation = options.encryption ? "always" : "under-load",
      tokenLifetime = 10 * SECOND,
      rng,
      onTrace,
      checksum = crc32,
      maxBufferedBytes = 256 * 1024 * 1024,
      encryption,
      crypto,
      ...transport
    } = options;
    if (encryption !== undefined && !crypto)
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "crypto" option is required with "encryption"');
    this.#crypto = crypto;
    this.#encryption = encryption;
    this.#responder = encryption && crypto ? createResponder(crypto, encryption) : undefined;
    if (typeof checksum !== "function")
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "checksum" option must be a function');
    this.checksum = checksum;
    this.#onTrace = onTrace;
    if (!["always", "under-load", "never"].includes(addressValidation))
      throw new RudpArgumentError(
        "ERR_INVALID_ARG_VALUE",
        `The "addressValidation" option must be "always", "under-load" or "never"; received ${String(addressValidation)}`,
      );
    if (typeof tokenLifetime !== "number" || !(tokenLifetime > 0))
      throw new RudpArgumentError(
        "ERR_OUT_OF_RANGE",
        `The "tokenLifetime" option must be a positive number; received ${tokenLifetime}`,
      );
    if (onTrace !== undefined && typeof onTrace !== "function")
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "onTrace" option must be a function');
    this.#addressValidation = addressValidation;
    this.#tokens = new AddressTokens(rng, tokenLifetime);
    for (const [name, v] of Object.entries({ maxConnections, rstRateLimit, backlog, maxBufferedBytes }))
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0)
        throw new RudpArgumentError(
          "ERR_OUT_OF_RANGE",
          `The "${name}" option must be a non-negative integer; received ${v}`,
        );
    this.config = resolveConfig(transport, CONTROLLER_NAMES);
    this.#rng = rng;
    this.#maxConnections = maxConnections;
    this.#maxBufferedBytes = maxBufferedBytes;
    this.#backlog = backlog;
    this.#rstRate = rstRateLimit;
    this.#rstTokens = rstRateLimit;
  }

  /** Starts accepting incoming connections. */
  listen(): void {
    this.#listening = true;
  }
  /** Stops accepting incoming connections; existing ones are unaffected. */
  stopListening(): void {
    this.#listening = false;
  }
  /** True while accepting. */
  get listening(): boolean {
    return this.#listening;
  }
  /**
   * Tells the endpoint how many bytes its UDP socket's receive buffer holds, as
   * the kernel counts them (0: unknown). Receive windows are then capped so that
   * a connection's data in flight fits it (see socket-buffer.ts).
   */
  setSocketReceiveBuffer(bytes: number): void {
    if (!Number.isFinite(bytes) || bytes < 0)
      throw new RudpArgumentError(
        "ERR_OUT_OF_RANGE",
        `socket receive buffer must be a non-negative number; received ${bytes}`,
      );
    this.#socketReceiveBuffer = bytes;
  }

  /** @internal (ConnectionHost) */
  socketWindow(datagramSize: number, payloadSize: number): number {
    const buffer = this.#socketReceiveBuffer;
    return buffer > 0 ? socketBufferWindow(buffer, datagramSize, payloadSize) : Number.POSITIVE_INFINITY;
  }

  /** Changes the connection limit (existing connections are kept). */
  setMaxConnections(n: number): void {
    if (!Number.isInteger(n) || n < 0)
      throw new RudpArgumentError("ERR_OUT_OF_RANGE", `maxConnections must be a non-negative integer; received ${n}`);
    this.#maxConnections = n;
  }
  /** Incoming handshakes in progress. */
  get halfOpenCount(): number {
    return this.#halfOpen.size;
  }
  /** Connections currently held. */
  get connectionCount(): number {
    return this.#byCid.size;
  }
  /** Every connection currently held. */
  connections(): IterableIterator<Connection> {
    return this.#byCid.values();
  }

  /** A copy of the endpoint counters. */
  stats(): EndpointStats {
    return { ...this.#stats, connections: this.#byCid.size, bufferedBytes: this.#bufferedBytes };
  }

  /**
   * Opens a connection to `remote` (active open). `options` override the
   * endpoint's transport settings for this connection.
   */
  connect(
    now: Instant,
    remote: Address,
    options: Partial<TransportConfig> & { isn?: number; profile?: string; encryption?: EncryptionOptions | null } = {},
  ): Connection {
    // By default a connection encrypts as the endpoint does when that works for a client (a pre-shared key).
    const fallback = this.#encryption?.psk ? { psk: this.#encryption.psk } : undefined;
    const { isn, profile, encryption = fallback, ...overrides } = options;
    if (encryption && !this.#crypto)
      throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The endpoint needs the "crypto" option to encrypt');
    const encrypt = encryption && this.#crypto ? createInitiator(this.#crypto, encryption) : undefined;
    if (profile !== undefined) resolveConfig({ profile }); // validates the name
    const base = profile !== undefined ? { ...this.config, ...PROFILES[profile] } : this.config;
    const config =
      Object.keys(overrides).length || profile !== undefined
        ? resolveConfig({ ...base, ...overrides }, CONTROLLER_NAMES)
        : this.config;
    const conn = new Connection({
      config,
      rng: this.#rng,
      checksum: this.checksum,
      now,
      remote,
      localCid: this.#newCid(),
      isn,
      host: this,
      encrypt,
    });
    this.#register(conn);
    this.#connecting.set(addressKey(remote), conn);
    this.#ready.add(conn);
    this.#afterTouch(conn);
    return conn;
  }

  // ----- ConnectionHost --------------------------------------------------------

  /** @internal */
  onEvent(conn: Connection, event: ConnectionEvent): void {
    this.#events.push({ type: "event", connection: conn, event });
    if (event.type === "closed" && event.error) this.#countFailure(conn, event.error.code);
    if (event.type === "connected") {
      this.#established.add(conn);
      const key = addressKey(conn.remote);
      if (this.#connecting.get(key) === conn) this.#connecting.delete(key);
      this.#reindexPeer(conn); // a simultaneous open may have settled on another peer cid
      if (conn.passive) {
        this.#halfOpen.delete(conn);
        this.#events.push({ type: "incoming", connection: conn });
      }
    }
  }

  /** Counts a connection's failure by its kind: the limits and timeouts of docs/SECURITY.md. */
  #countFailure(conn: Connection, code: string): void {
    const s = this.#stats;
    if (code === "ETIMEDOUT") {
      if (!this.#established.has(conn)) s.handshakeTimeouts++;
      else s.timeouts++;
    } else if (code === "EPROTO") s.protocolErrors++;
    this.#established.delete(conn);
  }

  /** @internal */
  onWake(conn: Connection): void {
    if (this.#byCid.get(conn.localCid) === conn) this.#ready.add(conn);
  }

  /**
   * @internal (ConnectionHost) Receive bytes the connections may still buffer
   * under maxBufferedBytes; out-of-order data leaves an eighth of it free for
   * the in-order segments that fill holes (else unreadable data could wedge every connection).
   */
  receiveBudget(outOfOrder = false): number {
    const reserve = outOfOrder ? this.#maxBufferedBytes >> 3 : 0;
    return Math.max(0, this.#maxBufferedBytes - this.#bufferedBytes - reserve);
  }

  /** @internal (ConnectionHost) */
  onBufferedBytes(delta: number): void {
    this.#bufferedBytes += delta;
  }

  /** @internal (ConnectionHost) */
  onBufferLimitDrop(): void {
    this.#stats.bufferLimitDrops++;
  }

  // ----- Inputs ------------------------------------------------------------------

  /** Handles one received datagram. The core keeps views into `data`: the caller must not reuse it. */
  handleDatagram(now: Instant, from: Address, data: Uint8Array): void {
    const stats = this.#stats;
    stats.datagramsReceived++;
    const dcid = peekDcid(data);
    if (dcid < 0) {
      stats.foreignDrops++;
      this.#traceDrop(now, from, data.length, "foreign", undefined);
      return;
    }
    const conn = dcid === 0 ? undefined : this.#byCid.get(dcid);
    if (peekFlags(data) & Flag.SEALED) {
      this.#handleSealed(now, from, data, dcid, conn);
      return;
    }
    if (!checksumValid(data, this.checksum)) {
      stats.corruptDrops++;
      conn?.countDrop("corrupt");
      this.#traceDrop(now, from, data.length, "corrupt", undefined);
      return;
    }
    let p: PacketRepr;
    try {
      p = parsePacket(data);
    } catch {
      stats.malformedDrops++;
      conn?.countDrop("malformed");
      this.#traceDrop(now, from, data.length, "malformed", undefined);
      return;
    }
    if (this.#onTrace && dcid === 0) this.#trace(now, "recv", undefined, from, p, data.length, false);
    if (dcid === 0) {
      if ((p.flags & (Flag.SYN | Flag.ACK)) === Flag.SYN) this.#handleSyn(now, from, p, data.length);
      else stats.malformedDrops++;
      return;
    }
    if (!conn) {
      stats.unknownConnectionDrops++;
      this.#traceDrop(now, from, data.length, "unknown-connection", p);
      if (!(p.flags & Flag.RST)) this.#sendRst(now, from, p.scid, dcid, p.tsval);
      return;
    }
    this.#route(now, from, conn, p, data.length, false);
  }

  /** A sealed datagram: authenticated and decrypted by its connection, then handled as any packet. */
  #handleSealed(now: Instant, from: Address, data: Uint8Array, dcid: number, conn: Connection | undefined): void {
    const stats = this.#stats;
    if (!conn) {
      stats.unknownConnectionDrops++; // no stateless RST: the peer could not trust an unsealed one
      this.#traceDrop(now, from, data.length, "unknown-connection", undefined);
      return;
    }
    const inner = conn.open(data);
    if (!inner) {
      stats.authFailures++;
      this.#traceDrop(now, from, data.length, "unauthenticated", undefined);
      return;
    }
    let p: PacketRepr;
    try {
      p = parsePacket(inner, inner.length);
      if (p.dcid !== dcid || p.flags & Flag.SYN) throw new Error("inner header disagrees");
    } catch {
      stats.malformedDrops++;
      conn.countDrop("malformed");
      this.#traceDrop(now, from, data.length, "malformed", undefined);
      return;
    }
    this.#route(now, from, conn, p, data.length, true);
  }

  /** Delivers a decoded packet to its connection, validating a new path first if it came from one. */
  #route(now: Instant, from: Address, conn: Connection, p: PacketRepr, size: number, sealed: boolean): void {
    const stats = this.#stats;
    if (!sameAddress(from, conn.remote) && p.scid === conn.peerCid && !(p.flags & Flag.RST)) {
      // A new path (NAT rebinding): the packet is processed, but nothing but a challenge goes
      // to the new address until it echoes the challenge (RFC 9000 §8.2, §9.3).
      if (p.flags & Flag.RESPONSE && conn.handlePathResponse(from, p.path)) {
        stats.migrations++;
        this.#reindexPeer(conn);
      } else {
        stats.unvalidatedPathPackets++;
        conn.startPathValidation(now, from);
      }
    }
    this.#deliver(now, conn, p, size, sealed);
    if (this.#onTrace) this.#trace(now, "recv", conn, from, p, size, false); // after: cwnd/srtt include it
  }

  /** The network reported `remote` unreachable (ICMP): connections still opening to it are refused. */
  handleUnreachable(now: Instant, remote: Address): void {
    const conn = this.#connecting.get(addressKey(remote));
    if (!conn) return;
    conn.handleUnreachable();
    this.#afterTouch(conn);
    void now;
  }

  /** Runs the timers of every connection due at `now`. */
  handleTimeout(now: Instant): void {
    // Each due connection runs once per call, even if it (wrongly) stays due: no spinning here.
    const due: Connection[] = [];
    for (let c = this.#timers.popDue(now); c; c = this.#timers.popDue(now)) due.push(c);
    for (const conn of due) {
      try {
        conn.handleTimeout(now);
      } catch (err) {
        this.#internalError(conn, err);
      }
      this.#ready.add(conn);
      this.#afterTouch(conn);
    }
  }

  // ----- Outputs -----------------------------------------------------------------

  #scratchBuffer(): Uint8Array {
    if (!this.#scratch) this.#scratch = new Uint8Array(MAX_TRANSMIT_SIZE);
    return this.#scratch;
  }

  /**
   * The next datagram to send, or undefined. It is built in `out` (at least
   * MAX_TRANSMIT_SIZE bytes) when given, so a driver can hand it to the socket
   * without a copy; otherwise in a scratch buffer valid until the next call.
   */
  pollTransmit(now: Instant, out: Uint8Array = this.#scratchBuffer()): Transmit | undefined {
    if (out.length < MAX_TRANSMIT_SIZE)
      throw new RudpArgumentError("ERR_OUT_OF_RANGE", "pollTransmit needs 65536 bytes of room");
    if (this.#stateless.length > 0) {
      const s = this.#stateless.shift() as Stateless;
      this.#stats.datagramsSent++;
      out.set(s.data.subarray(0, s.length));
      const data = out.subarray(0, s.length);
      if (this.#onTrace) this.#traceSent(now, undefined, s.to, data);
      return { to: s.to, data };
    }
    for (const conn of this.#ready) {
      let n = 0;
      try {
        n = conn.pollTransmit(now, out);
      } catch (err) {
        this.#internalError(conn, err);
      }
      this.#ready.delete(conn);
      if (n > 0) this.#ready.add(conn); // round robin: back of the line
      this.#afterTouch(conn);
      if (n > 0) {
        this.#stats.datagramsSent++;
        const data = out.subarray(0, n);
        if (this.#onTrace) this.#traceSent(now, conn, conn.destination, data);
        return { to: conn.destination, data };
      }
    }
    return undefined;
  }

  /** The earliest deadline over all connections, or undefined when none. */
  pollTimeout(): Instant | undefined {
    const t = this.#timers.peekTime();
    return t === NEVER ? undefined : t;
  }

  /** The next event, or undefined. */
  pollEvent(): EndpointEvent | undefined {
    if (this.#eventsHead === this.#events.length) return undefined;
    const ev = this.#events[this.#eventsHead++];
    if (this.#eventsHead === this.#events.length) {
      this.#events.length = 0;
      this.#eventsHead = 0;
    }
    return ev;
  }

  // ----- Internals ---------------------------------------------------------------

  #handleSyn(now: Instant, from: Address, p: PacketRepr, size: number): void {
    const fromKey = addressKey(from);
    const existing = this.#byPeer.get(`${fromKey}|${p.scid}`);
    if (existing) {
      this.#deliver(now, existing, p, size); // a retransmitted SYN
      return;
    }
    const connecting = this.#connecting.get(fromKey);
    if (connecting && connecting.peerCid === 0) {
      this.#deliver(now, connecting, p, size); // simultaneous open
      if (connecting.peerCid !== 0) this.#indexPeer(connecting);
      return;
    }
    if (!this.#listening) {
      this.#stats.refusedHandshakes++;
      this.#traceDrop(now, from, size, "handshake-refused", p);
      this.#sendRst(now, from, p.scid, 0, p.tsval);
      return;
    }
    let validated = false;
    const token = readHandshakeExtensions(p.handshake?.ext ?? EMPTY).token;
    if (token) {
      const verdict = this.#tokens.check(now, token, from, p.scid);
      if (verdict === "forged") {
        this.#stats.invalidTokens++;
        this.#traceDrop(now, from, size, "forged-token", p);
        return;
      }
      validated = verdict === "valid"; // an expired token earns a fresh RETRY below
    }
    const mode = this.#addressValidation;
    const loaded = this.#halfOpen.size >= this.#backlog >> 1; // backlog 0 or 1: always validate first
    if (!validated && (mode === "always" || (mode === "under-load" && loaded))) {
      this.#sendRetry(now, from, p);
      return;
    }
    if (this.#byCid.size >= this.#maxConnections || (!validated && this.#halfOpen.size >= this.#backlog)) {
      this.#stats.droppedHandshakes++;
      if (this.#byCid.size >= this.#maxConnections) this.#stats.connectionLimitDrops++;
      else this.#stats.backlogDrops++;
      this.#traceDrop(now, from, size, "handshake-refused", p);
      return;
    }
    const localCid = this.#newCid();
    const isn = nonZeroU32(this.#rng);
    const accepted = this.#acceptKeyExchange(now, from, p, size, localCid, isn);
    if (accepted === false) return;
    const conn = new Connection({
      config: this.config,
      rng: this.#rng,
      checksum: this.checksum,
      now,
      remote: from,
      localCid,
      isn,
      accepted,
      syn: p,
      synSize: size,
      addressValidated: validated,
      host: this,
    });
    this.#register(conn);
    this.#indexPeer(conn);
    this.#halfOpen.add(conn);
    this.#ready.add(conn);
    this.#afterTouch(conn);
  }

  /**
   * The encryption side of a SYN that may open a connection: the server's
   * reply and packet protection, undefined for a plaintext connection, or
   * false when the SYN was refused (a RST with the reason went out).
   */
  #acceptKeyExchange(
    now: Instant,
    from: Address,
    p: PacketRepr,
    size: number,
    localCid: number,
    isn: number,
  ): AcceptedHandshake | undefined | false {
    const h = p.handshake as HandshakeRepr;
    const ext = readHandshakeExtensions(h.ext);
    const responder = this.#responder;
    let refuse: number | undefined;
    let accepted: AcceptedHandshake | undefined;
    if (!ext.noise) {
      if (!responder?.required) return undefined;
      refuse = RstReason.ENCRYPTION_REQUIRED;
    } else if (!responder) {
      refuse = RstReason.ENCRYPTION_UNSUPPORTED;
    } else {
      // A client always announces its maxMessageSize; without one (-1) the fields cannot match.
      const client = handshakeFieldsOf(p, -1);
      const answer = responder.respond(ext.noise, client, handshakeFieldsFor(this.config, localCid, isn));
      if ("refuse" in answer) refuse = answer.refuse;
      else accepted = answer;
    }
    if (refuse !== undefined) {
      this.#stats.refusedHandshakes++;
      if (refuse === RstReason.AUTH_FAILED || refuse === RstReason.NOT_ALLOWED) this.#stats.authFailures++;
      this.#traceDrop(now, from, size, "handshake-refused", p);
      this.#sendRst(now, from, p.scid, 0, p.tsval, refuse);
      return false;
    }
    return accepted;
  }

  #deliver(now: Instant, conn: Connection, p: PacketRepr, size: number, sealed = false): void {
    try {
      conn.handlePacket(now, p, size, sealed);
    } catch (err) {
      this.#internalError(conn, err);
    }
    this.#ready.add(conn);
    this.#afterTouch(conn);
  }

  #internalError(conn: Connection, err: unknown): void {
    this.#stats.internalErrors++;
    this.lastInternalError = err;
    conn.abort(new RudpConnectionError("ECONNABORTED", "internal error while handling the connection"));
  }

  /** The last exception caught inside a connection (for diagnostics and tests). */
  lastInternalError: unknown;

  #register(conn: Connection): void {
    this.#byCid.set(conn.localCid, conn);
    this.#stats.connectionsOpened++;
  }

  #reindexPeer(conn: Connection): void {
    const old = this.#peerKeyOf.get(conn);
    if (old !== undefined && this.#byPeer.get(old) === conn) this.#byPeer.delete(old);
    this.#indexPeer(conn);
  }

  #indexPeer(conn: Connection): void {
    const key = `${addressKey(conn.remote)}|${conn.peerCid}`;
    this.#byPeer.set(key, conn);
    this.#peerKeyOf.set(conn, key);
  }

  /** Re-files a connection after it was touched: forgotten when done, rescheduled otherwise. */
  #afterTouch(conn: Connection): void {
    if (conn.isDone) {
      if (this.#byCid.get(conn.localCid) !== conn) return;
      this.#byCid.delete(conn.localCid);
      const key = this.#peerKeyOf.get(conn);
      if (key !== undefined && this.#byPeer.get(key) === conn) this.#byPeer.delete(key);
      this.#peerKeyOf.delete(conn);
      const rk = addressKey(conn.remote);
      if (this.#connecting.get(rk) === conn) this.#connecting.delete(rk);
      this.#ready.delete(conn);
      this.#halfOpen.delete(conn);
      this.#timers.remove(conn);
      this.#bufferedBytes -= conn.bufferedReceiveBytes;
      this.#stats.connectionsClosed++;
      return;
    }
    this.#timers.schedule(conn, conn.pollTimeout());
  }

  #newCid(): number {
    for (;;) {
      const cid = nonZeroU32(this.#rng);
      if (!this.#byCid.has(cid)) return cid;
    }
  }

  #traceSent(now: Instant, conn: Connection | undefined, to: Address, data: Uint8Array): void {
    try {
      this.#trace(now, "send", conn, to, parsePacket(data), data.length, conn?.lastWasRetransmit ?? false);
    } catch {
      // Our own datagrams always parse; a trace must never break sending.
    }
  }

  #traceDrop(now: Instant, from: Address, size: number, reason: DropReason, p: PacketRepr | undefined): void {
    if (this.#onTrace)
      this.#emitTrace({
        time: now,
        event: "drop",
        conn: p ? p.dcid : 0,
        peer: from,
        flags: p?.flags ?? 0,
        seq: p && p.flags & Flag.DATA ? p.seq : undefined,
        ack: p?.ack?.cumAck,
        size,
        reason,
      });
  }

  /** Hands a trace event to the hook; a throwing hook must not break the receive or send path. */
  #emitTrace(ev: TraceEvent): void {
    try {
      this.#onTrace?.(ev);
    } catch {
      this.#stats.traceErrors++;
    }
  }

  #trace(
    now: Instant,
    event: "send" | "recv",
    conn: Connection | undefined,
    peer: Address,
    p: PacketRepr,
    size: number,
    retransmit: boolean,
  ): void {
    const st = conn?.stats();
    this.#emitTrace({
      time: now,
      event,
      conn: conn?.localCid ?? 0,
      peer,
      flags: p.flags,
      seq: p.flags & Flag.DATA ? p.seq : undefined,
      ack: p.ack?.cumAck,
      size,
      retransmit,
      cwnd: st?.cwnd,
      srtt: st?.srtt,
    });
  }

  /** Answers a SYN statelessly with a RETRY carrying an address token (smaller than 3× the SYN). */
  #sendRetry(now: Instant, to: Address, syn: PacketRepr): void {
    if (this.#stateless.length >= 64) {
      this.#stats.droppedHandshakes++;
      this.#stats.statelessQueueDrops++;
      return;
    }
    const token = this.#tokens.mint(now, to, syn.scid);
    const data = new Uint8Array(HEADER_SIZE + 1 + token.length + CHECKSUM_SIZE);
    const length = emitPacket(
      {
        flags: Flag.RETRY,
        dcid: syn.scid,
        scid: 0,
        tsval: Math.floor(now) >>> 0,
        tsecr: syn.tsval,
        handshake: undefined,
        ack: undefined,
        token,
        seq: 0,
        payload: EMPTY,
      },
      data,
      this.checksum,
    );
    this.#stats.retriesSent++;
    this.#stateless.push({ to, length, data });
  }

  /** Queues a stateless RST to `to`, addressed to its `dcid` and echoing its `tsval`, if the rate limit allows. */
  #sendRst(now: Instant, to: Address, dcid: number, scid: number, tsecr: number, reason?: number): void {
    const elapsed = now - this.#rstRefillAt;
    if (elapsed > 0) {
      this.#rstTokens = Math.min(this.#rstRate, this.#rstTokens + (elapsed * this.#rstRate) / SECOND);
      this.#rstRefillAt = now;
    }
    if (this.#rstTokens < 1 || this.#stateless.length >= 64) {
      this.#stats.rstsRateLimited++;
      return;
    }
    this.#rstTokens -= 1;
    const data = new Uint8Array(HEADER_SIZE + 1 + CHECKSUM_SIZE);
    const length = emitPacket(
      {
        flags: Flag.RST,
        dcid,
        scid,
        tsval: Math.floor(now) >>> 0,
        tsecr,
        handshake: undefined,
        ack: undefined,
        reason,
        seq: 0,
        payload: data.subarray(0, 0),
      },
      data,
      this.checksum,
    );
    this.#stats.rstsSent++;
    this.#stateless.push({ to, length, data });
  }
}
