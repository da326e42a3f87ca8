/**
 * One rudp connection as a pure state machine. Theory of operation:
 *
 * - Inputs: `handlePacket(now, packet)` for each validated datagram the
 *   endpoint routed here, `handleTimeout(now)` when `pollTimeout()` falls due,
 *   and the application's `write`/`sendMessage`/`end`/`abort`/`read*` calls.
 * - Outputs: `pollTransmit(now, buf)` writes the next datagram to send (0 when
 *   none), `pollEvent()` yields events, `pollTimeout()` gives the next deadline.
 * - Data is cut into segments numbered by unwrapped sequence numbers (32 bits on
 *   the wire). The receiver acknowledges cumulatively with SACK ranges and
 *   echoes timestamps, which give unambiguous RTT samples (RFC 7323).
 * - Loss is found by duplicate ACKs / SACK count (RFC 6675), RACK time
 *   threshold (RFC 8985), a tail-loss probe, and the RTO (RFC 6298), in
 *   `loss-recovery.ts`; only lost segments are resent. The window is
 *   min(cwnd, peer's advertised window).
 * - States follow RFC 9293 and move only along the edges of `state.ts`.
 */

import { type Address, sameAddress } from "../address.js";
import { mssFor, type TransportConfig } from "../config.js";
import type { CongestionController } from "../congestion/controller.js";
import { CONTROLLER_NAMES, CONTROLLERS } from "../congestion/index.js";
import { type ConnectionErrorCode, RudpArgumentError, RudpConnectionError, RudpStateError } from "../errors.js";
import type { ConnectionEvent } from "../events.js";
import { nonZeroU32, type Rng } from "../rng.js";
import { type Instant, MS, NEVER } from "../time.js";
import { type Checksum, crc32 } from "../wire/crc32.js";
import {
  ACK_SECTION_SIZE,
  CHECKSUM_SIZE,
  emitPacket,
  Flag,
  FRAGMENT_HEADER_SIZE,
  type HandshakeRepr,
  HEADER_SIZE,
  MAX_DATAGRAM_SIZE,
  MAX_SACK_RANGES,
  type PacketRepr,
  PIGGYBACK_SACK_RANGES,
  RstReason,
  SACK_RANGE_SIZE,
  SEAL_OVERHEAD,
  SYN_SECTION_SIZE,
} from "../wire/packet.js";
import { unwrapSeq, wrapSeq } from "../wire/seq.js";
import { AckState } from "./ack-state.js";
import { readHandshakeExtensions, writeHandshakeExtensions } from "./handshake-ext.js";
import { LossRecovery } from "./loss-recovery.js";
import { PathMtu } from "./pmtu.js";
import { Fragment, Reassembly } from "./reassembly.js";
import { Arrival, MAX_SEGMENTS_AHEAD, ReceiveBuffer } from "./receive-buffer.js";
import { RttEstimator } from "./rtt.js";
import {
  type AcceptedHandshake,
  type ClientHandshake,
  type ClientHandshakeFactory,
  EncryptionError,
  type EncryptionErrorCode,
  type HandshakeFields,
  type SecureChannel,
} from "./security.js";
import { SendQueue } from "./send-queue.js";
import { LossCause, SentSegment } from "./sent-segments.js";
import { isSynchronized, nextState, type State, type StateEvent } from "./state.js";
import { type ConnectionStats, type Counters, newCounters } from "./stats.js";

/** How a connection starts. */
export interface ConnectionInit {
  config: TransportConfig;
  rng: Rng;
  /** The wire checksum implementation (CRC-32); the pure one by default. */
  checksum?: Checksum;
  now: Instant;
  remote: Address;
  /** Our connection identifier (non-zero); the endpoint routes packets carrying it here. */
  localCid: number;
  /** For a passive open: the SYN that created the connection. */
  syn?: PacketRepr;
  /** Forces the initial sequence number (tests of wrap-around); random otherwise. */
  isn?: number;
  /**
   * For a passive open: true when the SYN carried a valid address token. Until
   * the address is validated, the connection sends at most 3× the bytes it
   * received (anti-amplification, RFC 9000 §8).
   */
  addressValidated?: boolean;
  /** Bytes of the SYN datagram (counts toward the anti-amplification allowance). */
  synSize?: number;
  /** Who hosts the connection (the endpoint): told of events and of output made ready by application calls. */
  host?: ConnectionHost;
  /** Active open, encrypted: makes the client's key exchange (§12). */
  encrypt?: ClientHandshakeFactory;
  /** Passive open, encrypted: the endpoint already answered the client's key exchange. */
  accepted?: AcceptedHandshake;
}

/** The connection's link to its endpoint. Without a host, events queue for `pollEvent()`. */
export interface ConnectionHost {
  /** An event happened on `conn`. */
  onEvent(conn: Connection, event: ConnectionEvent): void;
  /** An application call gave `conn` something to transmit. */
  onWake(conn: Connection): void;
  /**
   * Receive bytes the host still lets its connections buffer (a limit across
   * connections); less for out-of-order data, so that it can never take the
   * room the in-order segments that drain it need.
   */
  receiveBudget?(outOfOrder?: boolean): number;
  /** `conn`'s buffered receive bytes (unread + out of order) changed by `delta`. */
  onBufferedBytes?(delta: number): void;
  /** A data segment was dropped because `receiveBudget()` had no room for it. */
  onBufferLimitDrop?(): void;
  /** The largest window whose data segments, in datagrams of `datagramSize` bytes, fit the socket's receive buffer. */
  socketWindow?(datagramSize: number, payloadSize: number): number;
}

const EMPTY = new Uint8Array(0);
/** Sending time a paced sender that woke late may catch up at once, and the fewest packets that may be. */
const PACING_BURST = 2 * MS;
const MIN_PACING_BURST_PACKETS = 10;
/**
 * Where inner packets are built before they are sealed: one buffer for every
 * connection, since a packet is built and sealed (into the caller's buffer) in one go.
 */
let innerScratch: Uint8Array | undefined;

function innerBuffer(): Uint8Array {
  if (!innerScratch) innerScratch = new Uint8Array(MAX_DATAGRAM_SIZE);
  return innerScratch;
}

/** What a side's SYN or SYN-ACK says of it under `config`, as the key exchange authenticates it. */
export function handshakeFieldsFor(config: TransportConfig, cid: number, isn: number): HandshakeFields {
  return {
    cid,
    isn,
    window: Math.min(config.receiveWindow, 0xffffffff),
    maxPacketSize: Math.max(config.maxPacketSize, config.maxProbePacketSize), // the largest we accept
    maxMessageSize: config.maxMessageSize,
  };
}

/**
 * What a received SYN or SYN-ACK says of its sender, to check against its
 * key-exchange payload; `defaultMaxMessageSize` stands in for a missing
 * MAX_MESSAGE_SIZE extension.
 */
export function handshakeFieldsOf(p: PacketRepr, defaultMaxMessageSize: number): HandshakeFields {
  const h = p.handshake as HandshakeRepr;
  return {
    cid: p.scid,
    isn: h.isn,
    window: h.window,
    maxPacketSize: h.maxPacketSize,
    maxMessageSize: readHandshakeExtensions(h.ext).maxMessageSize ?? defaultMaxMessageSize,
  };
}

/** Bytes of the RST a connection sends (no reason byte), before sealing. */
const RST_SIZE = HEADER_SIZE + CHECKSUM_SIZE;

/** What a RST's reason (§2.19) makes of a connection attempt. */
const REFUSALS: Readonly<Record<number, readonly [EncryptionErrorCode, string]>> = {
  [RstReason.AUTH_FAILED]: [
    "ERR_RUDP_AUTH_FAILED",
    "the server could not authenticate the handshake (wrong pre-shared key, or not the server key expected)",
  ],
  [RstReason.NOT_ALLOWED]: ["ERR_RUDP_NOT_ALLOWED", "the server does not allow this client's key"],
  [RstReason.ENCRYPTION_REQUIRED]: ["ERR_RUDP_ENCRYPTION_REQUIRED", "the server accepts encrypted connections only"],
  [RstReason.ENCRYPTION_UNSUPPORTED]: ["ERR_RUDP_ENCRYPTION_UNSUPPORTED", "the server does not support encryption"],
};

/** A reliable, ordered, congestion-controlled connection. */
export class Connection {
  readonly #config: TransportConfig;
  #remote: Address;
  /** Where the datagram last written by pollTransmit goes (the remote, or a path being validated). */
  #destination: Address;
  #lastWasRetransmit = false;
  readonly #rng: Rng;
  readonly #checksum: Checksum;
  readonly localCid: number;
  #peerCid = 0;
  #state: State = "CLOSED";
  #error: RudpConnectionError | undefined;
  readonly #events: ConnectionEvent[] = [];
  #eventsHead = 0;
  readonly #counters: Counters = newCounters();
  readonly #host: ConnectionHost | undefined;
  readonly #passive: boolean;

  // Sending.
  readonly #isn: number;
  readonly #queue = new SendQueue();
  /** The scoreboard, loss detection, retransmission timers and the congestion controller they drive. */
  readonly #loss: LossRecovery;
  #maxPacketSize: number;
  /** Payload bytes of a full data packet that carries no ACK section. */
  #mss: number;
  /** SACK ranges the data packet being emitted piggybacks; −1: it carries no ACK section. */
  #dataAckRanges = -1;
  /** True once a packet from the peer shows it has left the handshake, so our data need not carry ACKs. */
  #peerEstablished = false;
  /** When the peer's last data segment arrived (data flowing both ways: every data packet carries an ACK). */
  #lastSegmentAt: Instant = Number.NEGATIVE_INFINITY;
  /** The largest datagram that brought us a data segment, and the window whose segments fit the socket's buffer. */
  #largestSegmentDatagram = 0;
  #socketWindow = Number.POSITIVE_INFINITY;
  readonly #rtt: RttEstimator;
  #peerWindow = 0;
  #peerWindowTs = 0;
  #finSeq = -1;
  #deferredClose = false;
  /** The largest message the peer accepts (from its SYN; our own limit until known). */
  #peerMaxMessageSize: number;
  #orphaned = false;
  #awaitingDrain = false;

  // Receiving.
  #recv: ReceiveBuffer | undefined;
  readonly #ack: AckState;

  // Handshake.
  #sendHandshake = false;
  #synAttempts = 0;
  #synDeadline: Instant = NEVER;
  #synTsvals: number[] = [];

  /** Encryption (§12): the client's pending key exchange, then the packet protection of both sides. */
  #handshake: ClientHandshake | undefined;
  #channel: SecureChannel | undefined;
  #peerStaticKey: Uint8Array | undefined;
  #encryption = "none";
  /** Bytes sealing adds to each packet (0 for a plaintext connection). */
  readonly #sealOverhead: number;
  /** Buffered receive bytes last reported to the host (its limit across connections). */
  #reportedBuffered = 0;

  // Liveness.
  #lastReceivedAt: Instant;
  #lastPingAt: Instant = -1;
  #keepaliveInterval: number;
  #sendPing = false;
  #persistDeadline: Instant = NEVER;
  #persistBackoff = 0;
  #timeWaitDeadline: Instant = NEVER;
  #sendRst = false;

  // Reused output description.
  readonly #out: PacketRepr = {
    flags: 0,
    dcid: 0,
    scid: 0,
    tsval: 0,
    tsecr: 0,
    handshake: undefined,
    ack: undefined,
    seq: 0,
    payload: EMPTY,
  };
  readonly #handshakeOut: HandshakeRepr = { isn: 0, window: 0, maxPacketSize: 0, ext: EMPTY };
  #handshakeExt: Uint8Array;
  #retryToken: Uint8Array | undefined;

  // Address validation and path changes.
  #addressValidated: boolean;
  #ampReceived = 0;
  #ampSent = 0;
  #challenge: { to: Address; data: Uint8Array; sentAt: Instant; pending: boolean } | undefined;
  #response: Uint8Array | undefined;
  #pmtu: PathMtu | undefined;
  /** Fragments of the peer's segments resent after its path MTU shrank, until each segment is whole. */
  readonly #reassembly = new Reassembly();
  /** The peer announced FRAGMENTS: segments too large for the path now may be resent to it in fragments. */
  #peerReassembles = false;
  /** A segment being resent in fragments, and the payload offset of its next fragment. */
  #fragmenting: SentSegment | undefined;
  #fragmentOffset = 0;
  readonly #random = (): number => this.#rng.nextU32();

  // Pacing.
  #paceAt: Instant = 0;
  #pacingDeadline: Instant = NEVER;

  constructor(init: ConnectionInit) {
    const { config } = init;
    this.#config = config;
    this.#remote = init.remote;
    this.#destination = init.remote;
    this.#rng = init.rng;
    this.#checksum = init.checksum ?? crc32;
    this.#addressValidated = init.syn === undefined || init.addressValidated === true;
    this.#ampReceived = init.synSize ?? 0;
    this.#host = init.host;
    this.#passive = init.syn !== undefined;
    this.localCid = init.localCid;
    this.#isn = init.isn ?? nonZeroU32(init.rng);
    this.#maxPacketSize = config.maxPacketSize;
    this.#sealOverhead = init.encrypt || init.accepted ? SEAL_OVERHEAD : 0;
    this.#mss = this.#mssFor(this.#maxPacketSize);
    this.#rtt = new RttEstimator(config.initialRto, config.minRto, config.maxRto);
    this.#loss = new LossRecovery(this.#isn, config, this.#rtt, this.#counters, this.#newController());
    this.#ack = new AckState(config.ackEveryPackets, config.maxAckDelay);
    this.#peerMaxMessageSize = config.maxMessageSize;
    this.#channel = init.accepted?.channel;
    this.#peerStaticKey = init.accepted?.peerKey;
    this.#encryption = init.accepted?.pattern ?? "none";
    this.#handshake = init.encrypt?.(this.#ownHandshakeFields());
    if (this.#handshake) this.#encryption = this.#handshake.pattern;
    this.#handshakeExt = writeHandshakeExtensions({
      maxMessageSize: config.maxMessageSize,
      noise: this.#handshake?.message ?? init.accepted?.reply,
      fragments: true,
    });
    this.#lastReceivedAt = init.now;
    this.#keepaliveInterval = config.keepaliveInterval;
    if (init.syn) {
      this.#transition("listen");
      this.#acceptPeerHandshake(init.syn);
      this.#ack.onPacket(init.now, init.syn.tsval);
      this.#transition("rcv SYN");
    } else {
      this.#transition("connect");
    }
    this.#sendHandshake = true;
    this.#synDeadline = init.now + this.#rtt.rto;
  }

  // ----- Observers -----------------------------------------------------------

  /** Current RFC 9293 state. */
  get state(): State {
    return this.#state;
  }
  /** The peer's address (it changes when a new path is validated). */
  get remote(): Address {
    return this.#remote;
  }
  /** True when the datagram last returned by pollTransmit resent data (for traces). */
  get lastWasRetransmit(): boolean {
    return this.#lastWasRetransmit;
  }
  /** Where the datagram last returned by pollTransmit must be sent. */
  get destination(): Address {
    return this.#destination;
  }
  /** The peer's connection identifier (0 until known). */
  get peerCid(): number {
    return this.#peerCid;
  }
  /** The error the connection failed with, if it did. */
  get error(): RudpConnectionError | undefined {
    return this.#error;
  }
  /** Bytes the application queued that are not yet acknowledged. */
  get bufferedAmount(): number {
    return this.#queue.bytes + this.#loss.sent.outstandingBytes;
  }
  /**
   * Bytes queued or sent and not yet acknowledged in any way: `bufferedAmount` without what the peer
   * selectively acknowledged. Write backpressure counts these, so a hole lost several times in a
   * row, which holds every later byte until it is filled, does not stall the writer as well.
   */
  get undeliveredAmount(): number {
    const sent = this.#loss.sent;
    return this.#queue.bytes + sent.outstandingBytes - sent.sackedBytes;
  }
  /** Bytes delivered and not yet read. */
  get readableLength(): number {
    return this.#recv?.unreadBytes ?? 0;
  }
  /** True when stream bytes wait to be read (unread messages aside). */
  get hasStreamData(): boolean {
    return this.#recv?.hasStreamData ?? false;
  }
  /** Payload bytes per data packet. */
  get mss(): number {
    return this.#mss;
  }
  /** True once CLOSED with nothing left to transmit: the endpoint may forget it. */
  get isDone(): boolean {
    return this.#state === "CLOSED" && !this.#sendRst;
  }
  /** True when the peer's FIN was delivered. */
  get peerEnded(): boolean {
    return this.#recv?.finished ?? false;
  }
  /** True for a connection opened by a peer's SYN (accepted), false for one we opened. */
  get passive(): boolean {
    return this.#passive;
  }
  /** Receive bytes this connection holds as far as its host knows (unread + out of order). */
  get bufferedReceiveBytes(): number {
    return this.#reportedBuffered;
  }
  /** The initial sequence number of our data (for tests and traces). */
  get isn(): number {
    return this.#isn;
  }

  /** A snapshot of counters and estimates. */
  stats(): ConnectionStats {
    // One object literal for the estimates, then the counters copied in: spreading the counters into
    // a literal with this many more fields cost ~25 µs per call (V8 fell back to dictionary properties).
    const cc = this.#loss.cc;
    const s: Omit<ConnectionStats, keyof Counters> = {
      state: this.#state,
      srtt: this.#rtt.srtt,
      rttvar: this.#rtt.rttvar,
      minRtt: this.#rtt.minRtt,
      latestRtt: this.#rtt.latest,
      rto: this.#loss.rto,
      cwnd: cc.window,
      ssthresh: cc.ssthresh,
      pacingRate: cc.pacingRate ?? 0,
      bytesInFlight: this.#loss.sent.bytesInFlight,
      peerWindow: this.#peerWindow,
      localWindow: this.#recv ? this.#advertisedWindow(this.#recv) : this.#config.receiveWindow,
      sendBuffered: this.bufferedAmount,
      receiveBuffered: this.readableLength,
      mss: this.#mss,
      packetSize: this.#maxPacketSize,
      congestionControl: cc.name,
      encryption: this.#encryption,
      authFailures: this.#channel?.counters.authFailures ?? 0,
      replays: this.#channel?.counters.replays ?? 0,
      keyUpdates: this.#channel?.counters.keyUpdates ?? 0,
    };
    return Object.assign(s, this.#counters);
  }

  /** Counts a datagram for this connection that failed its checksum or could not be decoded. */
  countDrop(kind: "corrupt" | "malformed"): void {
    if (kind === "corrupt") this.#counters.corruptDrops++;
    else this.#counters.malformedDrops++;
  }

  // ----- Application interface ----------------------------------------------

  /** Queues stream bytes. Data written before the handshake completes is sent after it. */
  write(data: Uint8Array): void {
    this.#checkWritable("write");
    this.#queue.pushStream(data);
    this.#host?.onWake(this);
  }

  /** Queues one message, delivered whole and in order with the stream. */
  sendMessage(data: Uint8Array): void {
    this.#checkWritable("sendMessage");
    const limit = Math.min(this.#config.maxMessageSize, this.#peerMaxMessageSize);
    if (data.length > limit)
      throw new RudpArgumentError(
        "ERR_OUT_OF_RANGE",
        `Message of ${data.length} bytes exceeds the maximum message size (${limit}${limit < this.#config.maxMessageSize ? ", the peer's limit" : ""})`,
      );
    this.#queue.pushMessage(data);
    this.#host?.onWake(this);
  }

  /** Ends our writing (half-close): a FIN follows the queued data. Idempotent. */
  end(): void {
    if (this.#queue.finQueued || this.#state === "CLOSED") return;
    this.#queue.pushFin();
    if (isSynchronized(this.#state)) this.#transition("close");
    else this.#deferredClose = true; // RFC 9293 §3.10.4: queued until ESTABLISHED
    this.#host?.onWake(this);
  }

  /** Sets the keepalive interval for this connection (µs; 0 disables keepalive probes). */
  setKeepalive(interval: number): void {
    if (!(interval >= 0)) throw new RudpArgumentError("ERR_OUT_OF_RANGE", "keepalive interval must be >= 0");
    this.#keepaliveInterval = interval;
    this.#host?.onWake(this);
  }

  /**
   * The application is gone (as close(2) on a TCP socket): with unread data
   * the connection is reset; otherwise queued data and a FIN still go out and
   * the close completes in the background, but any new data from the peer
   * resets it (RFC 9293 §3.6.1, RFC 2525 §2.17).
   */
  close(): void {
    if (this.#state === "CLOSED") return;
    if (this.readableLength > 0) {
      this.abort();
      return;
    }
    this.#orphaned = true;
    this.end();
  }

  /** True once the application closed the connection (`close()`). */
  get orphaned(): boolean {
    return this.#orphaned;
  }

  /**
   * Tears the connection down at once with a RST; queued data is discarded.
   * `error` (for example ECONNABORTED after an internal fault) is reported in the closed event.
   */
  abort(error?: RudpConnectionError): void {
    if (this.#state === "CLOSED") return;
    this.#sendRst = this.#peerCid !== 0;
    this.#enterClosed(error);
    this.#host?.onWake(this);
  }

  /** Next chunk of received stream bytes, or undefined. Reading opens the receive window. */
  read(): Uint8Array | undefined {
    const chunk = this.#recv?.readStream();
    if (chunk) this.#afterRead();
    return chunk;
  }

  /** Next received message, or undefined. */
  readMessage(): Uint8Array | undefined {
    const msg = this.#recv?.readMessage();
    if (msg) this.#afterRead();
    return msg;
  }

  #checkWritable(op: string): void {
    if (this.#queue.finQueued || this.#state === "CLOSED")
      throw new RudpStateError("ERR_STREAM_WRITE_AFTER_END", `${op} after end`);
  }

  #afterRead(): void {
    this.#syncBuffered();
    const recv = this.#recv;
    if (!recv || !isSynchronized(this.#state)) return;
    // Window update when the window reopens meaningfully (avoids silly-window updates).
    const last = this.#ack.lastAdvertisedWindow;
    const current = this.#advertisedWindow(recv);
    if ((last < 2 * this.#mss && current >= 2 * this.#mss) || current - last >= recv.capacity / 4) {
      this.#ack.ackNow = true;
      this.#host?.onWake(this);
    }
  }

  /**
   * The receive window to advertise: our free buffer, within what the host still allows. The
   * socket cap bounds only the part of the window not yet received: segments held out of order
   * were read from the socket already, so a persistent hole does not close the window on a sender
   * whose every later segment arrived (at 10 % loss a head lost four times in a row did so).
   */
  #advertisedWindow(recv: ReceiveBuffer): number {
    const host = this.#host;
    let window = recv.window;
    const budget = host?.receiveBudget?.();
    if (budget !== undefined && budget < window) window = budget;
    const socketRoom = this.#socketWindow + recv.outOfOrderBytes;
    if (socketRoom < window) window = socketRoom;
    return window;
  }

  #syncBuffered(): void {
    const recv = this.#recv;
    if (!recv || !this.#host?.onBufferedBytes) return;
    const buffered = recv.unreadBytes + recv.outOfOrderBytes;
    if (buffered === this.#reportedBuffered) return;
    this.#host.onBufferedBytes(buffered - this.#reportedBuffered);
    this.#reportedBuffered = buffered;
  }

  // ----- Events and deadlines ------------------------------------------------

  /** The next event, or undefined. */
  pollEvent(): ConnectionEvent | undefined {
    if (this.#eventsHead === this.#events.length) return undefined;
    const ev = this.#events[this.#eventsHead++];
    if (this.#eventsHead === this.#events.length) {
      this.#events.length = 0;
      this.#eventsHead = 0;
    }
    return ev;
  }

  /** The earliest time `handleTimeout` must be called, or NEVER. */
  pollTimeout(): Instant {
    if (this.#state === "CLOSED") return NEVER;
    if (this.#state === "TIME-WAIT") return this.#timeWaitDeadline;
    let t = Math.min(this.#synDeadline, this.#loss.deadline, this.#ack.deadline);
    t = Math.min(t, this.#persistDeadline, this.#pacingDeadline);
    if (this.#pmtu && this.#searchesPath()) t = Math.min(t, this.#pmtu.deadline());
    if (isSynchronized(this.#state)) {
      const c = this.#config;
      if (this.#loss.sent.count === 0) {
        if (c.idleTimeout > 0) t = Math.min(t, this.#lastReceivedAt + c.idleTimeout);
        if (this.#keepaliveInterval > 0)
          t = Math.min(t, Math.max(this.#lastReceivedAt, this.#lastPingAt) + this.#keepaliveInterval);
      }
    }
    return t;
  }

  /** Runs every timer due at `now`. */
  handleTimeout(now: Instant): void {
    const state = this.#state;
    if (state === "CLOSED") return;
    if (state === "TIME-WAIT") {
      if (now >= this.#timeWaitDeadline) this.#transition("timeout");
      return;
    }
    const c = this.#config;
    if (now >= this.#synDeadline) {
      if (++this.#synAttempts > c.maxSynRetransmissions) {
        this.#fail("ETIMEDOUT", "handshake timed out");
        return;
      }
      this.#sendHandshake = true;
      this.#synDeadline = now + this.#rtt.backedOff(this.#synAttempts);
    }
    if (isSynchronized(state)) {
      // With data outstanding the retransmission limit decides instead (RFC 9293 §3.8.3 user timeout).
      if (c.idleTimeout > 0 && this.#loss.sent.count === 0 && now >= this.#lastReceivedAt + c.idleTimeout) {
        this.#fail("ETIMEDOUT", "peer silent for longer than the idle timeout");
        return;
      }
      if (
        this.#keepaliveInterval > 0 &&
        this.#loss.sent.count === 0 &&
        now >= Math.max(this.#lastReceivedAt, this.#lastPingAt) + this.#keepaliveInterval
      ) {
        this.#sendPing = true;
        this.#lastPingAt = now;
      }
    }
    this.#loss.onTimeout(now);
    if (this.#loss.rtoDue(now)) {
      this.#onRetransmissionTimeout(now);
      if (this.#state === "CLOSED") return;
    }
    if (now >= this.#pacingDeadline) this.#pacingDeadline = NEVER; // pollTransmit may send again
    this.#pmtu?.onTimer(now);
    if (now >= this.#persistDeadline) {
      this.#sendPing = true;
      this.#persistBackoff++;
      this.#persistDeadline = now + this.#rtt.backedOff(this.#persistBackoff);
    }
    this.#ack.onTimeout(now);
  }

  // ----- Receiving -----------------------------------------------------------

  /**
   * Handles one validated packet addressed to this connection; `sealed` when
   * it arrived encrypted and authenticated (see `open`). An encrypted
   * connection takes in the clear only what its handshake needs.
   */
  handlePacket(now: Instant, p: PacketRepr, size: number, sealed = false): void {
    if (this.#state === "CLOSED") return;
    const flags = p.flags;
    if (!sealed && this.encrypted && !this.#takesPlaintext(flags)) {
      this.#counters.unauthenticatedDrops++;
      return;
    }
    if (flags & Flag.RST) {
      this.#onRst(p);
      return;
    }
    if (flags & Flag.RETRY) {
      this.#onRetry(now, p);
      return;
    }
    if (this.#peerCid !== 0 && p.scid !== this.#peerCid) {
      if (!this.#isAnswerToOurSyn(p)) {
        this.#counters.malformedDrops++;
        return;
      }
      // Our SYN crossed a SYN we took as a simultaneous open, but the SYN-ACK that echoes our SYN
      // comes from another cid: that SYN was forged (anyone can send one). The real answer wins.
      this.#acceptPeerHandshake(p);
    }
    this.#counters.packetsReceived++;
    this.#counters.bytesReceived += size;
    if (!this.#addressValidated) this.#ampReceived += size;
    // Copies (a Buffer's slice() is a view, which would keep the whole datagram alive).
    if (flags & Flag.CHALLENGE && p.path) this.#response = new Uint8Array(p.path);
    if (flags & Flag.RESPONSE && p.path && this.#pmtu) {
      const size = this.#pmtu.onResponse(p.path);
      if (size !== undefined) this.#setPacketSize(size);
    }
    this.#lastReceivedAt = now;
    this.#ack.onPacket(now, p.tsval);

    switch (this.#state) {
      case "SYN-SENT":
        this.#handleInSynSent(now, p);
        return;
      case "SYN-RECEIVED":
        if (flags & Flag.SYN) {
          if (flags & Flag.ACK)
            this.#establish(now, p); // simultaneous open: the peer's SYN-ACK
          else this.#sendHandshake = true; // our SYN-ACK was lost: send it again
          return;
        }
        if (!(flags & Flag.ACK)) return;
        this.#establish(now, p);
        this.#peerEstablished = true;
        break;
      default:
        if (flags & Flag.SYN) {
          this.#ack.ackNow = true; // the peer missed our ACK of its SYN
          return;
        }
        this.#peerEstablished = true;
    }
    if (p.ack) this.#onAck(now, p);
    if ((this.#state as State) === "CLOSED") return;
    if (flags & Flag.DATA) this.#onSegment(now, p, size);
    if (flags & Flag.PING) this.#ack.ackNow = true;
  }

  /** The client's static public key, on a server connection whose client sent one (IK). */
  get peerStaticKey(): Uint8Array | undefined {
    return this.#peerStaticKey?.slice();
  }

  /** True for a connection that encrypts (or will, once its handshake completes). */
  get encrypted(): boolean {
    return this.#sealOverhead !== 0;
  }

  /**
   * The inner packet of a sealed datagram for this connection, or undefined
   * when it is not authentic or a replay (counted; nothing else changes).
   */
  open(datagram: Uint8Array): Uint8Array | undefined {
    const channel = this.#channel;
    if (!channel) {
      this.#counters.unauthenticatedDrops++;
      return undefined;
    }
    return channel.open(datagram);
  }

  /** What an encrypted connection accepts unsealed: the handshake, and RSTs before keys are confirmed. */
  #takesPlaintext(flags: number): boolean {
    if (flags & Flag.SYN) return true; // SYN-ACK (keys come with it), or a SYN or SYN-ACK sent again
    const s = this.#state;
    return (
      (s === "SYN-SENT" && (flags & (Flag.RETRY | Flag.RST)) !== 0) || (s === "SYN-RECEIVED" && flags === Flag.RST)
    );
  }

  /**
   * The network reported the peer unreachable (ICMP port unreachable on a
   * connected socket). A hard error only while opening (RFC 1122 §4.2.3.9).
   */
  handleUnreachable(): void {
    if (this.#state === "SYN-SENT") this.#fail("ECONNREFUSED", "nothing listens at the peer's port", false);
  }

  /** The server asks us to prove our address: send the SYN again with its token (once). */
  #onRetry(now: Instant, p: PacketRepr): void {
    if (this.#state !== "SYN-SENT" || this.#retryToken || !p.token || !this.#synTsvals.includes(p.tsecr)) return;
    this.#counters.packetsReceived++;
    this.#retryToken = new Uint8Array(p.token);
    this.#handshakeExt = writeHandshakeExtensions({
      maxMessageSize: this.#config.maxMessageSize,
      token: this.#retryToken,
      noise: this.#handshake?.message,
      fragments: true,
    });
    this.#sendHandshake = true;
    this.#synDeadline = now + this.#rtt.rto;
  }

  /**
   * A packet for this connection arrived from `from`, not the known remote:
   * challenge the new path (RFC 9000 §8.2) before sending anything else there.
   */
  startPathValidation(now: Instant, from: Address): void {
    if (!isSynchronized(this.#state)) return;
    const c = this.#challenge;
    if (c && sameAddress(c.to, from) && now - c.sentAt < this.#rtt.rto) return;
    const data = new Uint8Array(8);
    const view = new DataView(data.buffer);
    view.setUint32(0, this.#rng.nextU32());
    view.setUint32(4, this.#rng.nextU32());
    this.#challenge = { to: from, data, sentAt: now, pending: true };
    this.#counters.pathChallenges++;
  }

  /** A path response from `from`: if it answers our challenge, the connection moves to that address. */
  handlePathResponse(from: Address, data: Uint8Array | undefined): boolean {
    // (The endpoint checked the packet's source cid; the 8 random bytes prove the address receives.)
    const c = this.#challenge;
    if (!c || !data || !sameAddress(c.to, from)) return false;
    for (let i = 0; i < 8; i++) if (c.data[i] !== data[i]) return false;
    this.#challenge = undefined;
    this.#remote = from;
    this.#counters.migrations++;
    this.#push({ type: "path", remote: from });
    return true;
  }

  #handleInSynSent(now: Instant, p: PacketRepr): void {
    if (!(p.flags & Flag.SYN) || !p.handshake) return;
    if (this.#handshake) {
      // Simultaneous open is not supported encrypted: the Noise roles need a responder.
      if (!(p.flags & Flag.ACK)) return;
      const ext = readHandshakeExtensions(p.handshake.ext);
      let channel: SecureChannel | undefined;
      try {
        channel = this.#handshake.finish(ext.noise, handshakeFieldsOf(p, this.#config.maxMessageSize));
      } catch (err) {
        if (!(err instanceof EncryptionError)) throw err;
        this.#peerCid = p.scid; // so the RST reaches the server's half-open connection
        this.#fail(err.code, err.message);
        return;
      }
      if (!channel) {
        this.#counters.unauthenticatedDrops++;
        return;
      }
      this.#channel = channel;
      this.#handshake = undefined;
    }
    this.#acceptPeerHandshake(p);
    if (p.flags & Flag.ACK) {
      this.#sampleHandshakeRtt(now, p);
      this.#transition("rcv SYN-ACK");
      this.#onEstablished(now);
      this.#ack.ackNow = true;
    } else {
      // Simultaneous open (RFC 9293 §3.5): answer with SYN-ACK, carrying our original ISN.
      this.#transition("rcv SYN");
      this.#sendHandshake = true;
      this.#synAttempts = 0;
      this.#synDeadline = now + this.#rtt.rto;
    }
  }

  #acceptPeerHandshake(p: PacketRepr): void {
    const h = p.handshake as HandshakeRepr;
    this.#peerCid = p.scid;
    this.#peerWindow = h.window;
    this.#peerWindowTs = p.tsval;
    const agreed = Math.min(this.#config.maxPacketSize, h.maxPacketSize);
    const probeMax = Math.min(this.#config.maxProbePacketSize, h.maxPacketSize);
    this.#pmtu = probeMax > agreed ? new PathMtu(agreed, probeMax) : undefined;
    if (agreed !== this.#maxPacketSize) {
      this.#maxPacketSize = agreed;
      this.#mss = this.#mssFor(agreed);
      this.#loss.cc = this.#newController(); // nothing was sent yet: start with windows in the agreed packet size
    }
    const ext = readHandshakeExtensions(h.ext);
    this.#peerMaxMessageSize = ext.maxMessageSize ?? this.#peerMaxMessageSize;
    this.#peerReassembles = ext.fragments === true;
    this.#recv = new ReceiveBuffer(h.isn, this.#config.receiveWindow, this.#config.maxMessageSize);
  }

  #sampleHandshakeRtt(now: Instant, p: PacketRepr): void {
    if (!this.#synTsvals.includes(p.tsecr)) return;
    const sample = (wrapSeq(now) - p.tsecr) >>> 0;
    if (sample < 120_000_000) this.#rtt.update(sample, 0);
  }

  /** A SYN-ACK on an actively opened connection in SYN-RECEIVED that echoes one of our SYNs' timestamps. */
  #isAnswerToOurSyn(p: PacketRepr): boolean {
    return (
      this.#state === "SYN-RECEIVED" &&
      !this.#passive &&
      (p.flags & (Flag.SYN | Flag.ACK)) === (Flag.SYN | Flag.ACK) &&
      p.handshake !== undefined &&
      this.#synTsvals.includes(p.tsecr)
    );
  }

  #establish(now: Instant, p: PacketRepr): void {
    this.#sampleHandshakeRtt(now, p);
    this.#transition("rcv ACK of SYN");
    this.#onEstablished(now);
    if (p.flags & Flag.SYN) this.#ack.ackNow = true;
  }

  #onEstablished(now: Instant): void {
    this.#addressValidated = true; // the peer answered with our cid: it receives at its address
    this.#sendHandshake = false;
    this.#synDeadline = NEVER;
    this.#lastReceivedAt = now;
    this.#push({ type: "connected" });
    if (this.#deferredClose) {
      this.#deferredClose = false;
      this.#transition("close");
    }
  }

  #onRst(p: PacketRepr): void {
    if (this.#state === "TIME-WAIT") return; // RFC 1337: ignore RST in TIME-WAIT
    if (this.#state === "SYN-SENT") {
      // A refusal answers one of our SYNs: it echoes that SYN's timestamp and names no connection of
      // the peer's (a stateless RST for a cid we took from a forged SYN carries that cid instead).
      if (!this.#synTsvals.includes(p.tsecr) || p.scid !== 0) return;
      this.#counters.packetsReceived++;
      const refusal = p.reason === undefined ? undefined : REFUSALS[p.reason];
      if (refusal) this.#fail(refusal[0], refusal[1], false);
      else this.#fail("ECONNREFUSED", "connection refused by the peer", false);
      return;
    }
    if (p.scid !== this.#peerCid) return;
    if (this.#state === "SYN-RECEIVED" && !this.#passive) {
      // After a simultaneous open the peer's cid came from a SYN nobody vouched for (anyone can
      // send one), and a RST for it (the real server's stateless RST, answering our SYN-ACK sent to
      // a cid it does not have) says so: forget that SYN and go back to sending ours.
      this.#counters.packetsReceived++;
      this.#peerCid = 0;
      this.#recv = undefined;
      this.#transition("rcv RST of simultaneous open");
      this.#sendHandshake = true;
      return;
    }
    this.#counters.packetsReceived++;
    // RFC 9293 §3.10.7.4: in LAST-ACK/CLOSING a RST closes; it is a clean close if all our data was acknowledged.
    const s = this.#state;
    if ((s === "LAST-ACK" || s === "CLOSING") && this.#finSeq >= 0 && this.#loss.sent.una >= this.#finSeq) {
      this.#enterClosed(undefined);
      return;
    }
    this.#fail("ECONNRESET", "connection reset by the peer", false);
  }

  /**
   * Whether the first fragment of segment `seq` may set aside `length` bytes: no more than a segment
   * in the largest datagram we accept, and room for it (with the other segments in progress) in the
   * receive buffer and the host's budget, as the whole segment would need.
   */
  #fragmentedSegmentFits(seq: number, length: number): boolean {
    const largest = this.#mssFor(Math.max(this.#config.maxPacketSize, this.#config.maxProbePacketSize));
    if (length > largest) return false;
    const recv = this.#recv as ReceiveBuffer;
    if (!recv.hasRoom(seq, length + this.#reassembly.bytes)) return false;
    const budget = this.#host?.receiveBudget?.(seq !== recv.next);
    return budget === undefined || length + this.#reassembly.bytes <= budget;
  }

  #onSegment(now: Instant, p: PacketRepr, size: number): void {
    this.#lastSegmentAt = now;
    if (size > this.#largestSegmentDatagram) {
      this.#largestSegmentDatagram = size;
      const fits = this.#host?.socketWindow?.(size, mssFor(size - this.#sealOverhead));
      this.#socketWindow = fits ?? Number.POSITIVE_INFINITY;
    }
    const recv = this.#recv as ReceiveBuffer;
    const seq = unwrapSeq(p.seq, recv.next);
    let flags = p.flags;
    let payload = p.payload;
    if (flags & Flag.FRAG) {
      this.#counters.fragmentsReceived++;
      // A fragment of a segment that is still expected waits for the rest; one of a segment already
      // received (or out of reach) goes on as that segment would, to be counted and acknowledged.
      flags &= ~Flag.FRAG;
      if (recv.expects(seq)) {
        const length = p.segmentLength ?? 0;
        if (!this.#reassembly.has(seq) && !this.#fragmentedSegmentFits(seq, length)) {
          this.#counters.outOfWindowDrops++;
          this.#ack.ackNow = true;
          return;
        }
        const r = this.#reassembly.add(seq, p.fragmentOffset ?? 0, length, payload);
        if (r === Fragment.Pending) return;
        if (r !== Fragment.Complete) {
          if (r === Fragment.Inconsistent) this.#counters.malformedDrops++;
          else this.#counters.outOfWindowDrops++;
          return;
        }
        payload = this.#reassembly.payload;
        this.#ack.ackNow = true; // the sender resent it because it was lost: tell it at once
      }
    } else if (this.#reassembly.size > 0) {
      this.#reassembly.discard(seq);
    }
    const wasNext = seq === recv.next;
    const hadHoles = recv.outOfOrderCount > 0;
    const before = recv.unreadBytes;
    const wasFinished = recv.finished;
    const budget = payload.length > 0 ? this.#host?.receiveBudget?.(seq !== recv.next) : undefined;
    if (budget !== undefined && payload.length > budget && seq >= recv.next && !recv.received.has(seq)) {
      // The host's limit across connections is reached: drop (the peer resends once windows reopen).
      this.#counters.bufferLimitDrops++;
      this.#host?.onBufferLimitDrop?.();
      this.#ack.ackNow = true;
      return;
    }
    const arrival = recv.receive(seq, flags, payload);
    if (arrival === Arrival.Accepted) {
      this.#syncBuffered();
      if (this.#reassembly.size > 0) this.#reassembly.discardBelow(recv.next);
    }
    switch (arrival) {
      case Arrival.Duplicate:
        this.#counters.duplicateSegments++;
        this.#ack.ackNow = true; // the peer may have missed our ACK (RFC 5681 §4.2)
        if (this.#state === "TIME-WAIT") this.#timeWaitDeadline = now + this.#config.timeWait;
        return;
      case Arrival.OutOfWindow:
        this.#counters.outOfWindowDrops++;
        this.#ack.ackNow = true;
        return;
      case Arrival.MessageTooLarge:
        this.#fail("EPROTO", `peer sent a message larger than maxMessageSize (${this.#config.maxMessageSize})`);
        return;
    }
    if (this.#orphaned && recv.unreadBytes > 0) {
      this.#fail("ECONNABORTED", "data arrived after the application closed the connection");
      return;
    }
    if (!wasNext || hadHoles || flags & Flag.FIN) this.#ack.ackNow = true;
    else this.#ack.onInOrder(now);
    this.#counters.payloadBytesReceived += Math.max(0, recv.unreadBytes - before);
    if (recv.streamArrived) {
      recv.streamArrived = false;
      this.#push({ type: "readable" });
    }
    if (recv.messageArrived) {
      recv.messageArrived = false;
      this.#push({ type: "message" });
    }
    if (!wasFinished && recv.finished) {
      this.#push({ type: "end" });
      this.#transition("rcv FIN");
      if (this.#state === "TIME-WAIT") this.#timeWaitDeadline = now + this.#config.timeWait;
    }
  }

  // ----- Acknowledgements and the retransmission timeout ---------------------

  #onAck(now: Instant, p: PacketRepr): void {
    const ack = p.ack as NonNullable<PacketRepr["ack"]>;
    const sent = this.#loss.sent;
    const cum = unwrapSeq(ack.cumAck, sent.una);
    if (cum < sent.una) return; // an old ACK overtaken by newer ones
    if (cum > sent.nxt) {
      this.#counters.invalidAcks++; // acknowledges data never sent
      return;
    }
    const advanced = cum > sent.una;
    if (advanced || p.tsval === this.#peerWindowTs || ((p.tsval - this.#peerWindowTs) | 0) > 0) {
      this.#peerWindow = ack.window;
      this.#peerWindowTs = p.tsval;
    }
    if (advanced) this.#persistBackoff = 0;
    this.#loss.onAck(now, p, cum, this.#queue.isEmpty);
    if (this.#finSeq >= 0 && cum > this.#finSeq) {
      const s = this.#state;
      if (s === "FIN-WAIT-1" || s === "CLOSING" || s === "LAST-ACK") {
        this.#transition("rcv ACK of FIN");
        if (this.#state === "TIME-WAIT") this.#timeWaitDeadline = now + this.#config.timeWait;
        this.#loss.clearTimers();
      }
    }
    if (this.#awaitingDrain && sent.count === 0 && this.#queue.isEmpty) {
      this.#awaitingDrain = false;
      this.#push({ type: "drained" });
    }
  }

  #onRetransmissionTimeout(now: Instant): void {
    const loss = this.#loss;
    if (!loss.onRetransmissionTimeout(now)) {
      this.#fail("ETIMEDOUT", `no acknowledgement after ${this.#config.maxRetransmissions} retransmissions`);
      return;
    }
    // Four timeouts in a row after the packet size was raised: a PMTU black hole (RFC 8899 §4.3).
    if (loss.silentTimeouts >= 4 && this.#pmtu?.onBlackHole(now)) this.#setPacketSize(this.#pmtu.base);
  }

  // ----- Sending -------------------------------------------------------------

  /**
   * Path MTU discovery runs while this side may still send data: also after close() (FIN-WAIT-1,
   * LAST-ACK), or a sender that writes a file and ends at once would move all of it at 1200 bytes.
   */
  #searchesPath(): boolean {
    const state = this.#state;
    return state === "ESTABLISHED" || state === "CLOSE-WAIT" || state === "FIN-WAIT-1" || state === "LAST-ACK";
  }

  /** Writes the next datagram into `out` and returns its length, or 0 when there is nothing to send now. */
  pollTransmit(now: Instant, out: Uint8Array): number {
    this.#destination = this.#remote;
    this.#lastWasRetransmit = false;
    if (this.#sendRst) {
      this.#sendRst = false;
      if (!this.#mayAmplify(RST_SIZE + (this.#channel ? this.#sealOverhead : 0))) return 0;
      return this.#emit(now, out, Flag.RST, undefined);
    }
    const state = this.#state;
    if (state === "CLOSED") return 0;
    if (this.#sendHandshake && (state === "SYN-SENT" || state === "SYN-RECEIVED")) {
      this.#sendHandshake = false;
      return this.#emitHandshake(now, out);
    }
    if (!isSynchronized(state)) return 0;
    if (this.#response) {
      this.#out.path = this.#response;
      this.#response = undefined;
      return this.#emit(now, out, Flag.ACK | Flag.RESPONSE, undefined);
    }
    if (this.#challenge?.pending) {
      this.#challenge.pending = false;
      this.#challenge.sentAt = now;
      this.#out.path = this.#challenge.data;
      this.#destination = this.#challenge.to;
      return this.#emit(now, out, Flag.PING | Flag.CHALLENGE, undefined);
    }
    if (this.#pmtu && this.#searchesPath() && this.#rtt.hasSample) {
      const probe = this.#pmtu.poll(now, this.#rtt.rto, this.#random);
      if (probe) {
        this.#counters.pmtuProbes++;
        this.#out.path = probe.data;
        this.#out.padTo = probe.size;
        const n = this.#emit(now, out, Flag.PING | Flag.CHALLENGE | Flag.PAD, undefined);
        this.#out.padTo = undefined;
        return n;
      }
    }
    const loss = this.#loss;
    const sent = loss.sent;
    const cwnd = loss.cc.window;
    this.#pacingDeadline = NEVER;
    const paced = loss.cc.pacingRate !== undefined && now < this.#paceAt;
    if (paced) this.#pacingDeadline = this.#paceAt;

    const fragmenting = this.#fragmenting;
    if (fragmenting) {
      if (fragmenting.inFlight && fragmenting.seq >= sent.una) {
        if (!paced) return this.#emitFragment(now, out, fragmenting);
      } else {
        this.#fragmenting = undefined; // acknowledged (an earlier copy arrived) or declared lost again
      }
    }

    if (!paced && (sent.bytesInFlight < cwnd || loss.takeResendNow())) {
      const seg = loss.nextRetransmission();
      if (seg) {
        const n = this.#emitSegment(now, out, seg, true);
        // Copies where a lost resend costs most: nothing new follows it for RACK to see it lost by,
        // or the segment was lost twice already (its hole holds back delivery and the window).
        if ((this.#queue.isEmpty || seg.retransmits >= 2) && !this.#fragmenting) loss.queueCopies(seg);
        return n;
      }
      const copy = loss.nextCopy();
      if (copy && copy.payloadLength <= this.#mss) return this.#emitCopy(now, out, copy);
    }

    if (!this.#fragmenting && loss.takeProbe()) {
      const n = this.#sendNewSegment(now, out, true);
      if (n > 0) {
        this.#counters.tailLossProbes++;
        loss.onProbeSent();
        return n;
      }
      // The highest unacknowledged segment, in flight or declared lost and waiting behind the window.
      const last = sent.lastUnacked();
      if (last && (last.inFlight || last.lost)) {
        this.#counters.tailLossProbes++;
        loss.onProbeSent();
        last.lossCause = LossCause.Probe;
        return this.#emitSegment(now, out, last, true);
      }
    }

    if (!paced && sent.bytesInFlight < cwnd) {
      const n = this.#sendNewSegment(now, out, false);
      if (n > 0) return n;
      // Nothing more to send with room in the window: rate samples taken now are application-limited.
      if (this.#queue.isEmpty) loss.onAppLimited();
    }

    if (this.#sendPing) {
      this.#sendPing = false;
      return this.#emit(now, out, Flag.PING | Flag.ACK, undefined);
    }
    if (this.#ack.due) return this.#emit(now, out, Flag.ACK, undefined);
    return 0;
  }

  #sendNewSegment(now: Instant, out: Uint8Array, probe: boolean): number {
    if (this.#queue.isEmpty) return 0;
    const sent = this.#loss.sent;
    if (sent.count >= MAX_SEGMENTS_AHEAD) return 0;
    const room = this.#mss - this.#piggybackAckSize(now);
    const want = this.#queue.peekSize(room);
    const allowed = this.#peerWindow - sent.outstandingBytes;
    let max = Math.min(room, allowed);
    if (want > max) {
      // Flow control (RFC 9293 §3.8.6.2): a blocked sender with nothing outstanding probes the window.
      const blocked = max <= 0 || (max < this.#mss / 2 && sent.count > 0);
      if (blocked) {
        if (sent.count === 0 && this.#persistDeadline === NEVER)
          this.#persistDeadline = now + this.#rtt.backedOff(this.#persistBackoff);
        return 0;
      }
    }
    if (want === 0) max = 0;
    this.#persistDeadline = NEVER;
    const draft = this.#queue.cut(Math.max(max, 0)) as NonNullable<ReturnType<SendQueue["cut"]>>;
    const seg = new SentSegment(sent.nxt, draft.flags, draft.payload, 0, now, draft.tail);
    if (draft.flags & Flag.FIN) this.#finSeq = seg.seq;
    const n = this.#emitSegment(now, out, seg, false);
    (seg as { size: number }).size = n;
    sent.push(seg);
    this.#counters.segmentsSent++;
    this.#counters.payloadBytesSent += seg.payloadLength;
    this.#awaitingDrain = true;
    if (!probe) this.#loss.armTlp(now);
    return n;
  }

  #emitSegment(now: Instant, out: Uint8Array, seg: SentSegment, resend: boolean): number {
    if (seg.payloadLength > this.#mss && this.#peerReassembles) {
      // Cut for a larger path MTU than the path carries now (black-hole fallback, §4.9): resent in fragments.
      this.#fragmenting = seg;
      this.#fragmentOffset = 0;
      return this.#emitFragment(now, out, seg);
    }
    const n = this.#writeSegment(now, out, seg);
    this.#loss.onSegmentSent(now, seg, n, resend);
    if (resend) this.#lastWasRetransmit = true;
    this.#pace(now, n);
    return n;
  }

  /** Another copy of the resend `seg` (`tailResendCopies`): sent as it was, leaving its loss-recovery state alone. */
  #emitCopy(now: Instant, out: Uint8Array, seg: SentSegment): number {
    const n = this.#writeSegment(now, out, seg);
    this.#loss.onCopySent(now, n);
    this.#lastWasRetransmit = true;
    this.#pace(now, n);
    return n;
  }

  /** Writes `seg` whole into `out`, with the ACK owed piggybacked; returns the datagram's size. */
  #writeSegment(now: Instant, out: Uint8Array, seg: SentSegment): number {
    this.#out.seq = wrapSeq(seg.seq);
    this.#out.payload = seg.payload;
    this.#out.payloadTail = seg.payloadTail;
    this.#dataAckRanges = this.#piggybackRanges(now, seg.payloadLength);
    return this.#emit(now, out, seg.flags, undefined);
  }

  /**
   * The next fragment of `seg` (§4.10): as much of its payload from `#fragmentOffset` as one packet
   * carries now. The first one counts as the segment's resend for loss recovery; the others follow
   * on the next polls, paced but not held back by the window the segment already occupies.
   */
  #emitFragment(now: Instant, out: Uint8Array, seg: SentSegment): number {
    const offset = this.#fragmentOffset;
    const room = this.#mss - FRAGMENT_HEADER_SIZE - this.#piggybackAckSize(now);
    const length = Math.min(seg.payloadLength - offset, room);
    const p = this.#out;
    const head = seg.payload;
    const end = offset + length;
    if (end <= head.length) {
      p.payload = head.subarray(offset, end);
      p.payloadTail = undefined;
    } else if (offset >= head.length) {
      p.payload = seg.payloadTail.subarray(offset - head.length, end - head.length);
      p.payloadTail = undefined;
    } else {
      p.payload = head.subarray(offset);
      p.payloadTail = seg.payloadTail.subarray(0, end - head.length);
    }
    p.seq = wrapSeq(seg.seq);
    p.fragmentOffset = offset;
    p.segmentLength = seg.payloadLength;
    this.#dataAckRanges = this.#piggybackRanges(now, length + FRAGMENT_HEADER_SIZE);
    const n = this.#emit(now, out, seg.flags | Flag.FRAG, undefined);
    if (offset === 0) this.#loss.onSegmentSent(now, seg, n, true);
    this.#fragmentOffset = end;
    if (end >= seg.payloadLength) this.#fragmenting = undefined;
    this.#counters.fragmentsSent++;
    this.#lastWasRetransmit = true;
    this.#pace(now, n);
    return n;
  }

  /**
   * Anti-amplification (§7.4): true, counting it, when `size` more bytes stay within 3× what an
   * unvalidated address sent us; false (counted as blocked) when they would not. Always true once validated.
   */
  #mayAmplify(size: number): boolean {
    if (this.#addressValidated) return true;
    if (this.#ampSent + size > 3 * this.#ampReceived) {
      this.#counters.amplificationBlocked++;
      return false;
    }
    this.#ampSent += size;
    return true;
  }

  #emitHandshake(now: Instant, out: Uint8Array): number {
    const h = this.#handshakeOut;
    const own = this.#ownHandshakeFields();
    h.isn = own.isn;
    h.window = own.window;
    h.maxPacketSize = own.maxPacketSize; // what we accept
    h.ext = this.#handshakeExt;
    const flags = this.#state === "SYN-SENT" ? Flag.SYN : Flag.SYN | Flag.ACK;
    // SYN-ACK = header + SYN section + ext + empty ACK section + checksum.
    if (!this.#mayAmplify(HEADER_SIZE + SYN_SECTION_SIZE + h.ext.length + ACK_SECTION_SIZE + CHECKSUM_SIZE)) return 0;
    const n = this.#emit(now, out, flags, h);
    this.#synTsvals.push(this.#out.tsval);
    if (this.#synTsvals.length > 16) this.#synTsvals.shift();
    return n;
  }

  #emit(now: Instant, out: Uint8Array, flags: number, handshake: HandshakeRepr | undefined): number {
    const p = this.#out;
    const rst = (flags & Flag.RST) !== 0;
    p.dcid = this.#peerCid;
    p.scid = this.localCid;
    p.tsval = wrapSeq(Math.floor(now));
    p.tsecr = this.#ack.tsRecent;
    p.handshake = handshake;
    p.ack = undefined;
    const dataAckRanges = flags & Flag.DATA ? this.#dataAckRanges : 0;
    if (!rst && this.#recv && dataAckRanges >= 0 && (flags & Flag.ACK || isSynchronized(this.#state))) {
      flags |= Flag.ACK;
      // Path packets go to unvalidated addresses: keep them small (anti-amplification), no SACK ranges.
      const ranges =
        flags & (Flag.CHALLENGE | Flag.RESPONSE) ? 0 : flags & Flag.DATA ? dataAckRanges : this.#pureAckRanges();
      p.ack = this.#ack.build(now, this.#recv, ranges, this.#advertisedWindow(this.#recv));
    }
    if (!(flags & Flag.DATA)) {
      p.seq = 0;
      p.payload = EMPTY;
      p.payloadTail = undefined;
    }
    p.flags = flags;
    let n: number;
    const channel = this.#channel;
    if (channel && !(flags & Flag.SYN)) {
      const inner = innerBuffer();
      if (p.padTo !== undefined) p.padTo -= this.#sealOverhead;
      const length = emitPacket(p, inner, null);
      if (p.padTo !== undefined) p.padTo += this.#sealOverhead;
      n = channel.seal(inner, length, this.#peerCid, out);
    } else {
      n = emitPacket(p, out, this.#checksum);
    }
    p.path = undefined;
    this.#counters.packetsSent++;
    this.#counters.bytesSent += n;
    return n;
  }

  /** Payload bytes per data packet for a datagram size, sealing included. */
  #mssFor(size: number): number {
    return mssFor(size - this.#sealOverhead);
  }

  #ownHandshakeFields(): HandshakeFields {
    return handshakeFieldsFor(this.#config, this.localCid, this.#isn);
  }

  /** Adopts a new datagram size (path MTU discovery); segments already cut keep their size. */
  #setPacketSize(size: number): void {
    if (size === this.#maxPacketSize) return;
    this.#maxPacketSize = size;
    this.#mss = this.#mssFor(size);
    this.#push({ type: "mtu", size });
  }

  /**
   * Spaces data packets at the controller's pacing rate. A sender woken late may catch up by a burst
   * of PACING_BURST of sending time (at least MIN_PACING_BURST_PACKETS packets), as quinn does:
   * timers fire a millisecond or more late, and time lost beyond the burst is never sent.
   */
  #pace(now: Instant, bytes: number): void {
    const rate = this.#loss.cc.pacingRate;
    if (rate === undefined || rate <= 0) return;
    const perByte = 1e6 / rate; // µs per byte
    const burst = Math.max(MIN_PACING_BURST_PACKETS * this.#maxPacketSize * perByte, PACING_BURST);
    this.#paceAt = Math.max(this.#paceAt, now - burst) + bytes * perByte;
  }

  /**
   * True when data should carry an ACK: one is owed, the peer sent data within the last RTT (so ACKs
   * will be owed and ride along instead of going alone), or it may still wait for the ACK of its SYN-ACK.
   */
  #ackRidesOnData(now: Instant): boolean {
    if (this.#recv === undefined) return false;
    return this.#ack.pending || !this.#peerEstablished || now - this.#lastSegmentAt <= this.#rtt.srtt;
  }

  /** Bytes a piggybacked ACK would take on the next data packet (0 when none is needed). */
  #piggybackAckSize(now: Instant): number {
    if (!this.#ackRidesOnData(now)) return 0;
    const ranges = Math.min(PIGGYBACK_SACK_RANGES, (this.#recv as ReceiveBuffer).received.count);
    return ACK_SECTION_SIZE + ranges * SACK_RANGE_SIZE;
  }

  /**
   * SACK ranges to piggyback on a data packet of `payloadBytes`, or −1 for no ACK section: when no
   * ACK is needed, or it would not fit whole beside a payload cut before it was owed (a pure ACK follows).
   */
  #piggybackRanges(now: Instant, payloadBytes: number): number {
    if (!this.#ackRidesOnData(now)) return -1;
    const ranges = Math.min(PIGGYBACK_SACK_RANGES, (this.#recv as ReceiveBuffer).received.count);
    return payloadBytes + ACK_SECTION_SIZE + ranges * SACK_RANGE_SIZE <= this.#mss ? ranges : -1;
  }

  /** SACK ranges that fit a pure ACK (or PING) within the agreed packet size. */
  #pureAckRanges(): number {
    const room = this.#maxPacketSize - this.#sealOverhead - HEADER_SIZE - ACK_SECTION_SIZE - CHECKSUM_SIZE;
    return Math.max(0, Math.min(MAX_SACK_RANGES, Math.floor(room / SACK_RANGE_SIZE)));
  }

  #newController(): CongestionController {
    const factory = CONTROLLERS[this.#config.congestionControl];
    if (!factory)
      throw new RudpArgumentError(
        "ERR_INVALID_ARG_VALUE",
        `Unknown congestion controller "${this.#config.congestionControl}" (known: ${CONTROLLER_NAMES.join(", ")})`,
      );
    // Windows count whole datagrams, as bytesInFlight does (RFC 9002 §7).
    return factory(this.#maxPacketSize, this.#config.initialWindowPackets);
  }

  // ----- State ---------------------------------------------------------------

  #transition(event: StateEvent): void {
    const from = this.#state;
    const to = nextState(from, event);
    if (to === undefined) throw new Error(`internal: no transition from ${from} on "${event}"`);
    this.#state = to;
    if (from !== to) this.#push({ type: "state", from, to });
    if (to === "CLOSED" && event !== "abort") this.#push({ type: "closed", error: undefined });
  }

  #fail(code: ConnectionErrorCode, message: string, sendRst = true): void {
    this.#sendRst = sendRst && this.#peerCid !== 0;
    this.#enterClosed(new RudpConnectionError(code, message));
  }

  #enterClosed(error: RudpConnectionError | undefined): void {
    if (this.#state === "CLOSED") return;
    this.#error = error;
    this.#transition("abort");
    this.#loss.stop();
    this.#synDeadline = NEVER;
    this.#persistDeadline = this.#timeWaitDeadline = NEVER;
    this.#push({ type: "closed", error });
  }

  #push(ev: ConnectionEvent): void {
    if (this.#host) this.#host.onEvent(this, ev);
    else this.#events.push(ev);
  }
}
