/**
 * A seeded fuzz engine for the endpoint and its connections. One run builds a
 * client/server pair on the simulated network (test/helpers/pair.ts) and runs
 * waves of real transfers (stream and messages both ways, staggered
 * handshakes, graceful closes and aborts) while an attacker injects random
 * datagrams and mutations of captured real ones (see mutate.ts) from spoofed
 * and foreign addresses. After every step it checks invariants on what the
 * endpoints expose; at the end every legitimate transfer must have completed
 * byte-exact and both endpoints must have forgotten every connection.
 *
 * Forgeries that carry the right connection ids can do what an on-path
 * attacker can do to an unencrypted transport (reset it, feed it data at the
 * right sequence number, acknowledge data the peer never got, hijack a
 * handshake). Those would break the "byte-exact" oracle by design, so the
 * engine works out where each decodable datagram would go and skips those
 * (`skipped`, by reason); everything else must be harmless. Known blind
 * weaknesses (KNOWN_ISSUES) are skipped too unless `allow` names them.
 */

import {
  type Address,
  addressKey,
  type Connection,
  type ConnectionStats,
  type EndpointOptions,
  type EndpointStats,
  SeededRng,
  TRANSITIONS,
  wire,
} from "../../src/core/index.js";
import { MS, SECOND } from "../../src/core/time.js";
import { deriveSeed, type LinkConfig, type SimNetwork } from "../../src/sim/index.js";
import { type ConnLog, makePair, type SimPeer } from "../helpers/pair.js";
import {
  bare,
  bitFlip,
  bytes,
  type Checksum,
  encode,
  extend,
  extremes,
  fieldExtreme,
  type Packet,
  padSize,
  pick,
  randomDatagram,
  reflag,
  sackRanges,
  synPacket,
  truncate,
} from "./mutate.js";

const { Flag, checksumValid, parsePacket, DATA_PACKET_OVERHEAD, MIN_MAX_PACKET_SIZE, MAX_DATAGRAM_SIZE } = wire;

/** How a run is set up. */
export interface FuzzOptions {
  /** Everything in the run derives from it. */
  seed: number;
  /** Datagrams to inject (the run continues until all legitimate transfers are done). */
  datagrams: number;
  /**
   * Skip reasons (see FuzzResult.skipped) whose forgeries are injected anyway:
   * the names in KNOWN_ISSUES to hunt known weaknesses, or any other to check
   * that the oracle notices the damage they do.
   */
  allow?: readonly string[];
  /** Receives one line per datagram injected or sent by an endpoint (for replaying a failing seed with --verbose). */
  log?: (line: string) => void;
}

/** Why a run failed. */
export interface FuzzFailure {
  seed: number;
  /** The invariant that broke, as a short sentence. */
  invariant: string;
  /** What was observed. */
  detail: string;
  /** Virtual time (µs) and datagrams injected when it broke. */
  time: number;
  injected: number;
}

/** What a run did. */
export interface FuzzResult {
  seed: number;
  /** Datagrams injected, in total and by mutation kind. */
  injected: number;
  byKind: Record<string, number>;
  /** Forgeries not sent because an attacker with the connection ids may legitimately do harm with them, by reason. */
  skipped: Record<string, number>;
  /** Drops counted by the endpoints and their connections, by reason. */
  drops: Record<string, number>;
  /** Transfers run (and completed byte-exact), connections aborted on purpose, bytes and messages delivered. */
  transfers: number;
  aborted: number;
  bytesDelivered: number;
  messagesDelivered: number;
  /** Connections the attacker got accepted (then aborted by the application). */
  forgedAccepts: number;
  /** Steps taken and virtual time reached (µs). */
  steps: number;
  virtualTime: number;
  failure?: FuzzFailure;
}

/**
 * Why a decodable forgery is held back (FuzzResult.skipped): each is something
 * an attacker who sees the traffic can do to an unencrypted transport, so it
 * is no fault when it does damage. test/security/attacks.test.ts shows several.
 */
export const SKIP_REASONS: Readonly<Record<string, string>> = Object.freeze({
  "valid-rst": "an RST with both ids tears the connection down",
  "handshake-hijack": "a packet for a connection still in SYN-SENT (its id and SYN timestamp seen on the wire)",
  "elicits-rst": "it makes an endpoint send a stateless RST that carries a live connection's ids",
  "reflected-rst": "valid ids from another rudp endpoint's address: the path challenge sent there comes back as an RST",
  "in-window-data": "data with valid ids at a sequence number the receiver may accept",
  "acks-unreceived-data": "an ACK for data sent but not yet received, so never resent",
  "window-inflation": "a window beyond the receiver's buffer: the sender overruns it (fixed; allow it to check)",
  "timestamp-poison": "a timestamp far ahead freezes window updates (they need a newer timestamp)",
  "path-hijack": "a response echoing a path challenge seen on the wire moves the connection",
  "probe-echo":
    "a path MTU probe's data delivered although the path dropped it: the sender stalls for four timeouts before its fallback resends in fragments (attacks.test.ts)",
  "simultaneous-open": "see KNOWN_ISSUES",
});

/** Weaknesses a blind attacker can exploit today, by skip reason; their forgeries are skipped unless allowed. */
export const KNOWN_ISSUES: Readonly<Record<string, string>> = Object.freeze({
  "simultaneous-open":
    "a SYN spoofed from the server's address reaches a client in SYN-SENT through the simultaneous-open path. The client now recovers when the real SYN-ACK or the server's RST for the forged cid arrives (test/security/attacks.test.ts), but a stream of such SYNs while handshake packets are being lost can still make it time out or be reset",
});

/** Sequence numbers of slack in the safety rules, for segments sent between classification and arrival. */
const MARGIN = 1 << 16;
/** How far past `next` a receiver buffers (receive-buffer.ts MAX_SEGMENTS_AHEAD). */
const SEGMENTS_AHEAD = 16384;
const HALF = 0x80000000;
const CLIENT: Address = { address: "10.0.0.1", port: 1000 };
const SERVER: Address = { address: "10.0.0.2", port: 2000 };
const LEGAL = new Set(TRANSITIONS.map((t) => `${t.from}>${t.to}`));

class Failure extends Error {
  constructor(
    readonly invariant: string,
    readonly detail: string,
  ) {
    super(`${invariant}: ${detail}`);
  }
}

/** What one side of a legitimate connection writes: stream bytes and messages, in timed operations. */
interface Plan {
  stream: Uint8Array;
  messages: Uint8Array[];
  /** Offsets (µs after the side starts) and what to write then; `end()` follows the last. */
  ops: { at: number; stream?: [number, number]; message?: number }[];
  next: number;
  ended: boolean;
}

/** A reading position in what a receiver delivered. */
interface Cursor {
  chunk: number;
  offset: number;
  messages: number;
  states: number;
}

/** One legitimate connection and what each side should receive. */
interface Legit {
  client: Connection;
  server: Connection | undefined;
  up: Plan;
  down: Plan;
  startAt: number;
  acceptedAt: number;
  /** The client aborts at this time (µs) instead of completing; -1 for a transfer that must complete. */
  abortAt: number;
  done: boolean;
  upCursor: Cursor;
  downCursor: Cursor;
}

interface Captured {
  data: Uint8Array;
  from: Address;
  to: Address;
  p: Packet;
}

/** Acknowledgement facts learned from the real receiver's ACKs, per acknowledged connection. */
interface Truth {
  /** Highest cumulative ACK the real peer sent. */
  cum: number;
  /** SACK ranges the real peer reported ("start:end"). */
  ranges: Set<string>;
  /** Hashes of real data segments the peer of this connection sent to it, by wire seq. */
  segments: Map<number, number>;
}

/** Runs one seeded fuzz session and reports what happened (never throws). */
export function runFuzz(options: FuzzOptions): FuzzResult {
  return new Fuzzer(options).run();
}

class Fuzzer {
  readonly #opts: FuzzOptions;
  readonly #rng: SeededRng;
  readonly #net: SimNetwork;
  readonly #client: SimPeer;
  readonly #server: SimPeer;
  readonly #checksum: Checksum;
  readonly #backlog: number;
  readonly #maxConnections: number;
  readonly #receiveWindow: number;
  readonly #maxPacket: number;
  readonly #legit: Legit[] = [];
  /** The current wave: connections started, and those still to start (at `startAt`). */
  #wave: Legit[] = [];
  #pending: Omit<Legit, "client">[] = [];
  #waveStartedAt = 0;
  readonly #recent: Captured[] = [];
  #recentAt = 0;
  readonly #old: Captured[] = [];
  readonly #truth = new Map<number, Truth>();
  /** Path challenge and path MTU probe data seen on the wire. */
  readonly #challenges = new Set<string>();
  readonly #probes = new Set<string>();
  readonly #foreign: Address[] = [];
  /** Random bytes that forged payloads are cut from. */
  readonly #noise: Uint8Array;
  #acceptedSeen = 0;
  #rotation = 0;
  /** Connection stats as of the last check (stats() is costly: one call per connection per step). */
  #stats = new Map<Connection, ConnectionStats>();
  readonly #prev = new WeakMap<Connection, Record<string, number>>();
  readonly #cursorOf = new WeakMap<Connection, Cursor>();
  readonly #result: FuzzResult;

  constructor(opts: FuzzOptions) {
    this.#opts = opts;
    const seed = opts.seed >>> 0;
    const rng = new SeededRng(deriveSeed(seed, "fuzz"));
    this.#rng = rng;
    this.#backlog = pick(rng, [8, 32, 511]);
    this.#maxConnections = 1024;
    this.#receiveWindow = pick(rng, [16 * 1024, 64 * 1024, 256 * 1024, 4 * 1024 * 1024]);
    const pmtu = rng.nextInt(4) === 0;
    const link: Partial<LinkConfig> = {
      delay: (1 + rng.nextInt(30)) * MS,
      jitter: rng.nextInt(3) === 0 ? rng.nextInt(5) * MS : 0,
      loss: rng.nextInt(3) === 0 ? 0 : rng.nextFloat() * 0.03,
      duplicate: rng.nextInt(4) === 0 ? 0.02 : 0,
      corrupt: rng.nextInt(4) === 0 ? 0.01 : 0,
      mtu: pmtu ? 1500 : MAX_DATAGRAM_SIZE,
    };
    const config: EndpointOptions = {
      receiveWindow: this.#receiveWindow,
      congestionControl: pick(rng, ["cubic", "newreno", "bbr"]),
      profile: pick(rng, ["default", "low-latency"]),
      maxPacketSize: pick(rng, [MIN_MAX_PACKET_SIZE, 1200, 1200, 1400]),
      maxProbePacketSize: pmtu ? pick(rng, [1500, 9000]) : 0,
      timeWait: 1 * SECOND,
    };
    this.#maxPacket = Math.max(config.maxPacketSize ?? 1200, config.maxProbePacketSize ?? 0);
    const pair = makePair({
      seed,
      link,
      config,
      serverConfig: {
        backlog: this.#backlog,
        maxConnections: this.#maxConnections,
        addressValidation: pick(rng, ["under-load", "under-load", "always"] as const),
      },
    });
    this.#net = pair.net;
    this.#client = pair.client;
    this.#server = pair.server;
    this.#checksum = pair.server.endpoint.checksum;
    this.#noise = bytes(rng, 64 * 1024);
    for (let i = 0; i < 48; i++)
      this.#foreign.push({ address: `10.66.${rng.nextInt(4)}.${1 + rng.nextInt(250)}`, port: 1 + rng.nextInt(65535) });
    this.#net.intercept = (from, to, data) => {
      this.#capture(from, to, data);
      return true;
    };
    this.#result = {
      seed,
      injected: 0,
      byKind: {},
      skipped: {},
      drops: {},
      transfers: 0,
      aborted: 0,
      bytesDelivered: 0,
      messagesDelivered: 0,
      forgedAccepts: 0,
      steps: 0,
      virtualTime: 0,
    };
  }

  run(): FuzzResult {
    const r = this.#result;
    try {
      while (r.injected < this.#opts.datagrams) {
        if (this.#waveDone()) this.#startWave();
        this.#step(true);
      }
      this.#finish();
    } catch (err) {
      const f =
        err instanceof Failure
          ? err
          : new Failure(
              "nothing throws out of the receive path",
              err instanceof Error ? (err.stack ?? "") : String(err),
            );
      r.failure = { seed: r.seed, invariant: f.invariant, detail: f.detail, time: this.#net.now, injected: r.injected };
    }
    this.#tally();
    r.virtualTime = this.#net.now;
    return r;
  }

  // ----- Legitimate traffic ----------------------------------------------------

  #startWave(): void {
    const rng = this.#rng;
    const now = this.#net.now;
    this.#wave = [];
    this.#waveStartedAt = now;
    for (let i = 0, n = 2 + rng.nextInt(4); i < n; i++) {
      const startAt = now + rng.nextInt(400) * MS; // handshakes overlap other connections' transfers
      this.#pending.push({
        server: undefined,
        up: this.#plan(),
        down: this.#plan(),
        startAt,
        acceptedAt: -1,
        abortAt: rng.nextInt(6) === 0 ? startAt + rng.nextInt(600) * MS : -1,
        done: false,
        upCursor: { chunk: 0, offset: 0, messages: 0, states: 0 },
        downCursor: { chunk: 0, offset: 0, messages: 0, states: 0 },
      });
    }
  }

  #waveDone(): boolean {
    return this.#pending.length === 0 && this.#wave.every((l) => l.done);
  }

  #plan(): Plan {
    const rng = this.#rng;
    const size = pick(rng, [0, 1 + rng.nextInt(2000), rng.nextInt(60_000), rng.nextInt(300_000)]);
    const stream = bytes(rng, size);
    const messages: Uint8Array[] = [];
    for (let i = 0, n = pick(rng, [0, 0, 3, 12]); i < n; i++)
      messages.push(bytes(rng, pick(rng, [0, 1, rng.nextInt(1500), rng.nextInt(20_000)])));
    const ops: Plan["ops"] = [];
    let off = 0;
    let m = 0;
    let at = 0;
    while (off < stream.length || m < messages.length) {
      if (rng.nextInt(3) === 0) at += rng.nextInt(200) * MS;
      if (m < messages.length && (off === stream.length || rng.nextInt(3) === 0)) ops.push({ at, message: m++ });
      else {
        const n = Math.min(stream.length - off, 1 + rng.nextInt(rng.nextInt(2) ? 100_000 : 3000));
        ops.push({ at, stream: [off, off + n] });
        off += n;
      }
    }
    return { stream, messages, ops, next: 0, ended: false };
  }

  /** The applications: connect/write/end on schedule, accept (and abort forged accepts), abort on purpose. */
  #runApps(): void {
    const now = this.#net.now;
    const rng = this.#rng;
    for (const p of this.#pending.filter((x) => x.startAt <= now)) {
      const isn = rng.nextInt(3) === 0 ? (0xffffffff - rng.nextInt(400)) >>> 0 : undefined; // wraps mid-transfer
      const l: Legit = { ...p, client: this.#client.connect(SERVER, isn === undefined ? {} : { isn }) };
      this.#cursorOf.set(l.client, l.downCursor);
      this.#legit.push(l);
      this.#wave.push(l);
    }
    this.#pending = this.#pending.filter((x) => x.startAt > now);
    const accepted = this.#server.accepted;
    for (; this.#acceptedSeen < accepted.length; this.#acceptedSeen++) {
      const s = accepted[this.#acceptedSeen];
      const l = this.#legit.find(
        (x) => !x.done && x.server === undefined && x.client.localCid === s.peerCid && sameAddress(s.remote, CLIENT),
      );
      if (l) {
        l.server = s;
        l.acceptedAt = now;
        this.#cursorOf.set(s, l.upCursor);
      } else {
        this.#result.forgedAccepts++;
        s.abort();
      }
    }
    for (const l of this.#wave) {
      if (l.done) continue;
      if (l.abortAt >= 0 && now >= l.abortAt && l.client.state !== "CLOSED") l.client.abort();
      this.#write(l.client, l.up, now - l.startAt);
      if (l.server && l.abortAt < 0) this.#write(l.server, l.down, now - l.acceptedAt);
    }
  }

  #write(conn: Connection, plan: Plan, elapsed: number): void {
    if (conn.state === "CLOSED") return;
    while (plan.next < plan.ops.length && plan.ops[plan.next].at <= elapsed) {
      const op = plan.ops[plan.next++];
      if (op.stream) conn.write(plan.stream.subarray(op.stream[0], op.stream[1]));
      else conn.sendMessage(plan.messages[op.message as number]);
    }
    if (plan.next === plan.ops.length && !plan.ended) {
      plan.ended = true;
      conn.end();
    }
  }

  /** Marks finished connections done; fails a transfer that had to complete but broke. */
  #updateWave(): void {
    for (const l of this.#wave) {
      if (l.done) continue;
      const cl = this.#client.log(l.client);
      if (l.abortAt >= 0) {
        if (cl.closed && (!l.server || this.#server.log(l.server).closed)) {
          l.done = true;
          this.#result.aborted++;
        }
        continue;
      }
      const sl = l.server ? this.#server.log(l.server) : undefined;
      for (const [log, who] of [
        [cl, "client"],
        [sl, "server"],
      ] as const)
        if (log?.error)
          throw new Failure(
            "a legitimate connection is never torn down by injected datagrams",
            `${who} side failed with ${log.error.code} (${log.error.message}); ${this.#describe(l)}`,
          );
      if (
        sl?.ended &&
        cl.ended &&
        sl.byteCount === l.up.stream.length &&
        sl.messages.length === l.up.messages.length &&
        cl.byteCount === l.down.stream.length &&
        cl.messages.length === l.down.messages.length
      ) {
        l.done = true;
        this.#result.transfers++;
      }
    }
  }

  // ----- Steps -------------------------------------------------------------------

  #step(inject: boolean): void {
    const rng = this.#rng;
    this.#result.steps++;
    this.#runApps();
    if (inject) {
      const slice = 500 + rng.nextInt(3500);
      for (let i = 0, n = 4 + rng.nextInt(21); i < n; i++) this.#injectOne(slice);
      this.#net.runFor(slice);
    } else this.#net.runFor(10 * MS);
    this.#runApps();
    this.#updateWave();
    this.#check();
    if (!this.#waveDone() && this.#net.now - this.#waveStartedAt > 180 * SECOND) {
      const l = this.#wave.find((x) => !x.done) as Legit;
      throw new Failure(
        "legitimate transfers complete despite the injected datagrams",
        `stalled: ${this.#describe(l)}`,
      );
    }
  }

  /** Stops injecting, lets the transfers finish, then waits until both endpoints have forgotten every connection. */
  #finish(): void {
    while (!this.#waveDone()) this.#step(false);
    const deadline = this.#net.now + 400 * SECOND;
    const idle = () => this.#client.endpoint.connectionCount === 0 && this.#server.endpoint.connectionCount === 0;
    while (!idle() && this.#net.now < deadline) {
      this.#net.runFor(200 * MS);
      this.#runApps();
      this.#check();
    }
    if (!idle()) {
      const held = [...this.#client.endpoint.connections(), ...this.#server.endpoint.connections()]
        .slice(0, 5)
        .map((c) => `${c.passive ? "passive" : "active"} ${c.state} to ${addressKey(c.remote)}`);
      throw new Failure(
        "endpoints forget every connection once traffic stops (no leaked state)",
        `still held 400 s after the last injection: ${held.join(", ")}`,
      );
    }
    for (const l of this.#legit) {
      if (l.abortAt >= 0) continue;
      const cl = this.#client.log(l.client);
      const sl = l.server ? this.#server.log(l.server) : undefined;
      for (const [log, other, who] of [
        [cl, sl, "client"],
        [sl, cl, "server"],
      ] as const)
        if (!log?.closed || (log.error && !this.#lateReset(log, other)))
          throw new Failure(
            "completed transfers close cleanly",
            `${who} side ${log?.error ? `failed with ${log.error.code}` : "did not close"}; ${this.#describe(l)}`,
          );
    }
  }

  /**
   * The one way a transfer that completed may still end in an error, as in
   * TCP: the last closer's final FIN retransmission arrives after the other
   * side's TIME-WAIT ended (a long RTO, here possibly from RTT samples an
   * attacker skewed with valid-looking echoes) and is answered with an RST.
   */
  #lateReset(log: ConnLog, other: ConnLog | undefined): boolean {
    const last = log.states[log.states.length - 2];
    return (
      log.error?.code === "ECONNRESET" &&
      (last === "LAST-ACK" || last === "CLOSING") &&
      other?.closed === true &&
      other.error === undefined &&
      other.closedAt <= log.closedAt
    );
  }

  // ----- Injection ------------------------------------------------------------------

  #capture(from: Address, to: Address, data: Uint8Array): void {
    const copy = data.slice();
    let p: Packet;
    try {
      p = parsePacket(copy); // endpoints only ever send valid datagrams
    } catch (err) {
      throw new Failure("endpoints only send datagrams that decode", String(err));
    }
    if (this.#opts.log)
      this.#opts.log(
        `${this.#net.now} sent ${addressKey(from)} → ${addressKey(to)} ${describePacket(copy, this.#checksum)}`,
      );
    if (p.flags & Flag.CHALLENGE && p.path && this.#challenges.size < 100_000)
      (p.flags & Flag.PAD ? this.#probes : this.#challenges).add(hex(p.path));
    if (p.ack) {
      const t = this.#truthOf(p.dcid, p.scid);
      if (t && (p.ack.cumAck - t.cum) >>> 0 < HALF) t.cum = p.ack.cumAck;
      if (t && t.ranges.size < 20_000)
        for (let i = 0; i < p.ack.ranges.length; i += 2) t.ranges.add(`${p.ack.ranges[i]}:${p.ack.ranges[i + 1]}`);
    }
    if (p.flags & Flag.DATA) {
      const t = this.#truthOf(p.dcid, p.scid);
      t?.segments.set(p.seq, segmentHash(p, this.#checksum));
    }
    const c: Captured = { data: copy, from, to, p };
    if (this.#recent.length < 256) this.#recent.push(c);
    else {
      // Evicted recent datagrams are sampled into a reservoir of old ones, for replays long after.
      const evicted = this.#recent[this.#recentAt];
      this.#recent[this.#recentAt] = c;
      this.#recentAt = (this.#recentAt + 1) % 256;
      if (this.#old.length < 512) this.#old.push(evicted);
      else if (this.#rng.nextInt(8) === 0) this.#old[this.#rng.nextInt(512)] = evicted;
    }
  }

  /**
   * The truth record of a connection we run (by its local cid) for a packet
   * from its real peer (source cid `from`), or undefined for anything else
   * (such as the attacker's own connections writing to the same cid).
   */
  #truthOf(cid: number, from: number): Truth | undefined {
    const conn = this.#connByCid(this.#client, cid) ?? this.#connByCid(this.#server, cid);
    if (!conn || conn.peerCid === 0 || conn.peerCid !== from || !this.#isLegit(conn)) return undefined;
    let t = this.#truth.get(cid);
    if (t) return t;
    t = { cum: conn.isn, ranges: new Set(), segments: new Map() };
    this.#truth.set(cid, t);
    return t;
  }

  #injectOne(spread: number): void {
    const rng = this.#rng;
    for (let attempt = 0; attempt < 8; attempt++) {
      const g = this.#generate();
      if (!g) continue;
      const reason = this.#unsafe(g.data, g.from, g.to);
      if (reason && !this.#opts.allow?.includes(reason)) {
        this.#result.skipped[reason] = (this.#result.skipped[reason] ?? 0) + 1;
        continue;
      }
      const at = this.#net.now + rng.nextInt(spread);
      this.#opts.log?.(
        `${at} ${g.kind} ${addressKey(g.from)} → ${addressKey(g.to)} ${describePacket(g.data, this.#checksum)}`,
      );
      this.#net.inject(g.from, g.to, g.data, at);
      this.#result.injected++;
      this.#result.byKind[g.kind] = (this.#result.byKind[g.kind] ?? 0) + 1;
      return;
    }
  }

  #generate(): { kind: string; data: Uint8Array; from: Address; to: Address } | undefined {
    const rng = this.#rng;
    const cs = this.#checksum;
    const src = this.#pickCaptured();
    const to = src && rng.nextInt(5) > 0 ? src.to : rng.nextInt(2) ? SERVER : CLIENT;
    const from = this.#source(src?.from ?? (sameAddress(to, SERVER) ? CLIENT : SERVER), to);
    const kind = rng.nextInt(16);
    if (!src || kind === 0) {
      if (rng.nextInt(2)) return { kind: "random", data: randomDatagram(rng, cs), from, to };
      return { kind: "syn-flood", data: synPacket(rng, rng.nextU32() || 1, rng.nextU32(), cs), from, to: SERVER };
    }
    const { data, p } = src;
    switch (kind) {
      case 1:
        return { kind: "bit-flip", data: bitFlip(rng, data, false, cs), from, to };
      case 2:
        return { kind: "bit-flip-resealed", data: bitFlip(rng, data, true, cs), from, to };
      case 3:
        return { kind: "truncated", data: truncate(rng, data, rng.nextInt(2) === 0, cs), from, to };
      case 4:
        return { kind: "extended", data: extend(rng, data, rng.nextInt(2) === 0, cs), from, to };
      case 5:
      case 6:
        return { kind: "field-extreme", data: fieldExtreme(rng, data, p, cs), from, to };
      case 7:
        return { kind: "flags", data: reflag(rng, p, cs), from, to };
      case 8:
        return { kind: "replay", data: data.slice(), from, to };
      case 9:
        return { kind: "cid-swap", data: this.#cidSwap(p), from, to };
      case 10:
        return this.#forgeAck(from);
      case 11:
        return this.#forgeData(from);
      case 12:
        return this.#forgeRst(from);
      case 13:
        return this.#forgePath();
      case 14:
        return { kind: "pad", data: this.#pad(p), from, to };
      default:
        return { kind: "syn-extensions", data: synPacket(rng, this.#someCid(), rng.nextU32(), cs), from, to };
    }
  }

  #pickCaptured(): Captured | undefined {
    const rng = this.#rng;
    if (this.#old.length > 0 && rng.nextInt(4) === 0) return pick(rng, this.#old);
    return this.#recent.length > 0 ? pick(rng, this.#recent) : undefined;
  }

  /** A source address: the real sender (spoofed), a foreign host, the destination itself or a new port on the real host. */
  #source(real: Address, to: Address): Address {
    const rng = this.#rng;
    const r = rng.nextInt(20);
    if (r < 12) return real;
    if (r < 18) return pick(rng, this.#foreign);
    if (r < 19) return to;
    return { address: real.address, port: 1 + rng.nextInt(65535) };
  }

  /** A cid seen on the wire (live, closed or forged), or a random one. */
  #someCid(): number {
    const rng = this.#rng;
    const c = this.#pickCaptured();
    if (c && rng.nextInt(3) > 0) return rng.nextInt(2) ? c.p.scid || 1 : c.p.dcid || 1;
    return rng.nextU32() || 1;
  }

  #cidSwap(p: Packet): Uint8Array {
    const q = { ...p };
    if (this.#rng.nextInt(2)) q.dcid = this.#someCid();
    else q.scid = this.#someCid();
    return encode(q, this.#checksum);
  }

  #pad(p: Packet): Uint8Array {
    const rng = this.#rng;
    const q = bare(Flag.PING | Flag.PAD | (rng.nextInt(2) ? Flag.ACK : 0), p.dcid, p.scid || 1, p.tsval, p.tsecr);
    if (q.flags & Flag.ACK) q.ack = p.ack ?? { cumAck: rng.nextU32(), window: rng.nextU32(), ackDelay: 0, ranges: [] };
    if (rng.nextInt(3) === 0) {
      q.flags |= Flag.CHALLENGE;
      q.path = bytes(rng, 8);
    }
    q.padTo = padSize(rng);
    return encode(q, this.#checksum);
  }

  /** A live legitimate connection and its peer, or undefined. */
  #livePair(): { conn: Connection; peer: Connection; at: Address; peerAt: Address } | undefined {
    const live = this.#legit.filter((l) => l.server && l.client.state !== "CLOSED" && l.server.state !== "CLOSED");
    if (live.length === 0) return undefined;
    const l = pick(this.#rng, live);
    const s = l.server as Connection;
    return this.#rng.nextInt(2)
      ? { conn: l.client, peer: s, at: CLIENT, peerAt: SERVER }
      : { conn: s, peer: l.client, at: SERVER, peerAt: CLIENT };
  }

  /** An ACK with the right ids: cumulative ACKs and SACK ranges at extremes or beyond what was sent, odd windows and timestamps. */
  #forgeAck(from: Address) {
    const rng = this.#rng;
    const x = this.#livePair();
    if (!x) return undefined;
    const { conn } = x;
    const t = this.#truth.get(conn.localCid);
    const nxt = (conn.isn + this.#statsOf(conn).segmentsSent) >>> 0;
    const truthful = t?.cum ?? conn.isn;
    const cumAck = pick(rng, [
      truthful,
      truthful,
      (nxt + 1 + rng.nextInt(4)) >>> 0, // just past what was sent (optimistic)
      (nxt + MARGIN * 2 + rng.nextInt(1 << 20)) >>> 0, // far past it
      (truthful - 1 - rng.nextInt(1000)) >>> 0, // old
      (truthful + HALF) >>> 0,
      ...extremes(32),
    ]);
    const q = bare(Flag.ACK | (rng.nextInt(4) === 0 ? Flag.PING : 0), conn.localCid, conn.peerCid, 0, 0);
    const tsNow = Math.floor(this.#net.now) >>> 0;
    q.tsval = rng.nextInt(3) ? tsNow : pick(rng, [...extremes(32), (tsNow + 1_000_000) >>> 0]);
    q.tsecr = rng.nextInt(2) ? tsNow : pick(rng, [...extremes(32), (tsNow - 5_000_000) >>> 0]);
    q.ack = {
      cumAck,
      window: rng.nextInt(2) ? pick(rng, [...extremes(32), this.#receiveWindow]) : rng.nextU32(),
      ackDelay: rng.nextInt(2) ? 0 : pick(rng, extremes(32)),
      ranges: rng.nextInt(3) ? sackRanges(rng, cumAck, nxt) : [],
    };
    const data = encode(q, this.#checksum);
    return { kind: "forged-ack", data, from: rng.nextInt(4) ? x.peerAt : from, to: x.at };
  }

  /** Data with the right ids at sequence numbers far ahead, far behind or random, with odd flags and sizes. */
  #forgeData(from: Address) {
    const rng = this.#rng;
    const x = this.#livePair();
    if (!x) return undefined;
    const { conn, peer } = x;
    const sent = this.#statsOf(peer).segmentsSent;
    const seq = pick(rng, [
      (peer.isn + sent + SEGMENTS_AHEAD + MARGIN + rng.nextInt(1 << 24)) >>> 0,
      (peer.isn - 1 - rng.nextInt(1 << 24)) >>> 0,
      (peer.isn + HALF) >>> 0,
      rng.nextU32(),
      ...extremes(32),
    ]);
    const flags = pick(rng, [
      Flag.DATA,
      Flag.DATA | Flag.MSG,
      Flag.DATA | Flag.MSG | Flag.MSG_END,
      Flag.DATA | Flag.FIN,
      Flag.DATA | Flag.PING,
    ]);
    const q = bare(flags | Flag.ACK, conn.localCid, conn.peerCid, Math.floor(this.#net.now) >>> 0, 0);
    q.ack = {
      cumAck: this.#truth.get(conn.localCid)?.cum ?? conn.isn,
      window: this.#receiveWindow,
      ackDelay: 0,
      ranges: [],
    };
    q.seq = seq;
    const size = pick(rng, [0, 1, 100, conn.mss, conn.mss + 1, 20_000, 60_000]);
    const at = rng.nextInt(this.#noise.length - size);
    q.payload = flags & Flag.FIN ? new Uint8Array(0) : this.#noise.subarray(at, at + size);
    return { kind: "forged-data", data: encode(q, this.#checksum), from: rng.nextInt(4) ? x.peerAt : from, to: x.at };
  }

  /** An RST as a blind attacker would send it: right destination id (leaked) or a random one, a guessed source id. */
  #forgeRst(from: Address) {
    const rng = this.#rng;
    const x = this.#livePair();
    const dcid = x && rng.nextInt(2) ? x.conn.localCid : rng.nextU32();
    const q = bare(Flag.RST, dcid, rng.nextInt(4) ? rng.nextU32() : 0, rng.nextU32(), rng.nextU32());
    const data = encode(q, this.#checksum);
    return { kind: "forged-rst", data, from: x && rng.nextInt(2) ? x.peerAt : from, to: x?.at ?? SERVER };
  }

  /** Path validation noise: challenges and responses with the right ids from foreign hosts, echoing real challenges or not. */
  #forgePath() {
    const rng = this.#rng;
    const x = this.#livePair();
    if (!x) return undefined;
    const from = pick(rng, this.#foreign);
    const echo = this.#recent.find(
      (c) => c.p.flags & Flag.CHALLENGE && c.p.dcid === x.peer.localCid && sameAddress(c.to, from),
    );
    const response = rng.nextInt(2) === 0;
    const q = bare(
      Flag.ACK | (response ? Flag.RESPONSE : Flag.PING | Flag.CHALLENGE),
      x.conn.localCid,
      x.conn.peerCid,
      0,
      0,
    );
    q.tsval = Math.floor(this.#net.now) >>> 0;
    q.ack = {
      cumAck: this.#truth.get(x.conn.localCid)?.cum ?? x.conn.isn,
      window: this.#receiveWindow,
      ackDelay: 0,
      ranges: [],
    };
    q.path = echo?.p.path?.slice() ?? bytes(rng, 8);
    return { kind: "path", data: encode(q, this.#checksum), from, to: x.at };
  }

  // ----- What a forgery can do ------------------------------------------------------

  /**
   * Why the datagram must not be injected (it would reach a connection with
   * ids that only the peer or an on-path attacker knows, and do what such an
   * attacker legitimately can), or undefined when it must be harmless.
   */
  #unsafe(data: Uint8Array, from: Address, to: Address): string | undefined {
    if (!checksumValid(data, this.#checksum)) return undefined;
    let p: Packet;
    try {
      p = parsePacket(data);
    } catch {
      return undefined;
    }
    const dest = this.#peerAt(to);
    if (!dest) return undefined;
    if (p.dcid === 0) {
      if ((p.flags & (Flag.SYN | Flag.ACK)) !== Flag.SYN) return undefined;
      // The client connects to the server all the time: by arrival some connection may be in SYN-SENT.
      if (dest === this.#client && sameAddress(from, SERVER)) return "simultaneous-open";
      const l = this.#legit.find((x) => x.client.localCid === p.scid);
      if (l && sameAddress(from, CLIENT) && l.client.state === "SYN-SENT") return "handshake-hijack";
      // The client refuses it with a stateless RST to `from` echoing its tsval, which a SYN-SENT connection checks.
      const back = this.#peerAt(from);
      const d = back && dest === this.#client ? this.#connByCid(back, p.scid) : undefined;
      if (d?.state === "SYN-SENT") return "elicits-rst";
      return undefined;
    }
    if (!(p.flags & Flag.RST)) {
      // If no connection has that id by the time it arrives (connections come and go), the endpoint answers
      // with a stateless RST to `from`: dcid = p.scid, scid = p.dcid, tsecr = p.tsval.
      const back = this.#peerAt(from);
      const d = back ? this.#connByCid(back, p.scid) : undefined;
      if (d && (d.state === "SYN-SENT" || (d.peerCid === p.dcid && d.state !== "TIME-WAIT"))) return "elicits-rst";
    }
    const c = this.#connByCid(dest, p.dcid);
    if (!c) return undefined;
    if (p.flags & Flag.RST) {
      if (c.state === "SYN-SENT") return "handshake-hijack";
      return p.scid === c.peerCid && c.state !== "TIME-WAIT" ? "valid-rst" : undefined;
    }
    if (c.state === "SYN-SENT") return "handshake-hijack";
    if (p.scid !== c.peerCid) return undefined;
    if (!sameAddress(from, c.remote)) {
      // From an rudp endpoint other than its peer: the path challenge sent there comes back as a stateless RST
      // that carries both ids (an on-path attacker could forge that RST directly).
      if (this.#peerAt(from)) return "reflected-rst";
      // Echoing a challenge seen on the wire moves the connection there.
      if (p.flags & Flag.RESPONSE && p.path && this.#challenges.has(hex(p.path))) return "path-hijack";
    }
    if (p.flags & Flag.RETRY) return undefined;
    // A timestamp far ahead of the peer's clock freezes window updates (they need a newer tsval) and the echo.
    if (((p.tsval - Math.floor(this.#net.now)) | 0) > SECOND) return "timestamp-poison";
    // Delivering a path MTU probe's data the path dropped makes the peer confirm a size the path cannot carry.
    if (p.flags & Flag.CHALLENGE && p.path && this.#probes.has(hex(p.path))) return "probe-echo";
    if (!this.#isLegit(c)) return undefined;
    // The peer may already be gone from its endpoint (aborted): its Connection object still tells its numbers.
    const l = this.#legit.find((x) => x.client === c || x.server === c);
    const peer =
      (l && (l.client === c ? l.server : l.client)) ??
      (c.passive ? this.#connByCid(this.#client, c.peerCid) : this.#connByCid(this.#server, c.peerCid));
    if (p.flags & Flag.DATA && !c.peerEnded && (!peer || !this.#dataSafe(c, peer, p))) return "in-window-data";
    if (p.ack && !this.#ackSafe(c, p.ack)) return "acks-unreceived-data";
    // A window beyond the real receiver's buffer lets the sender overrun it (see the report in attacks.test.ts).
    if (p.ack && p.ack.window > this.#receiveWindow) return "window-inflation";
    return undefined;
  }

  /** Data is harmless when it repeats a real segment exactly, or lies behind the peer's first or beyond its window. */
  #dataSafe(c: Connection, sender: Connection, p: Packet): boolean {
    const real = this.#truth.get(c.localCid)?.segments.get(p.seq);
    if (real !== undefined && real === segmentHash(p, this.#checksum)) return true;
    const ahead = (p.seq - sender.isn) >>> 0;
    return ahead >= this.#statsOf(sender).segmentsSent + SEGMENTS_AHEAD + MARGIN;
  }

  /**
   * An ACK is harmless when everything it acknowledges was really received
   * (at or below the peer's cumulative ACK, or a SACK range the peer reported),
   * or lies beyond what `c` ever sent (such an ACK or range is ignored).
   */
  #ackSafe(c: Connection, ack: NonNullable<Packet["ack"]>): boolean {
    const t = this.#truth.get(c.localCid);
    const truthful = t?.cum ?? c.isn;
    const nxt = (c.isn + this.#statsOf(c).segmentsSent) >>> 0;
    const limit = ((nxt - truthful) >>> 0) + MARGIN;
    const d = (ack.cumAck - truthful) >>> 0;
    if (d !== 0 && d < HALF) return d > limit; // beyond nxt the whole ACK is dropped
    const r = ack.ranges;
    for (let i = 0; i < r.length; i += 2) {
      if (t?.ranges.has(`${r[i]}:${r[i + 1]}`)) continue;
      const len = (r[i + 1] - r[i]) >>> 0;
      const startAhead = (r[i] - truthful) >>> 0;
      const touches = startAhead < limit || (truthful - r[i]) >>> 0 < len;
      if (!touches) continue;
      const endAhead = (r[i + 1] - truthful) >>> 0;
      if (endAhead > limit && endAhead < HALF - MARGIN) continue; // ends beyond nxt: ignored
      return false;
    }
    return true;
  }

  // ----- Invariants ---------------------------------------------------------------

  /**
   * The invariants, after every step. Endpoint counters, state transitions and
   * delivered data are checked for every connection; the invariants read from
   * `Connection.stats()` (about 25 µs a call) rotate over the connections, a
   * few per step, so each is still checked every few steps.
   */
  #check(): void {
    this.#stats.clear();
    const legit: [SimPeer, string, Connection][] = [];
    const others: [SimPeer, string, Connection][] = [];
    for (const [peer, name] of [
      [this.#client, "client"],
      [this.#server, "server"],
    ] as const) {
      const e = peer.endpoint;
      const st = e.stats();
      if (st.internalErrors !== 0) {
        const err = e.lastInternalError;
        throw new Failure("no internal errors", `${name}: ${err instanceof Error ? err.stack : String(err)}`);
      }
      if (st.traceErrors !== 0) throw new Failure("no trace errors", name);
      if (st.connections !== e.connectionCount || st.connectionsOpened - st.connectionsClosed !== st.connections)
        throw new Failure("endpoint connection counts add up", `${name}: ${JSON.stringify(st)}`);
      const dropped = st.foreignDrops + st.corruptDrops + st.malformedDrops + st.unknownConnectionDrops;
      if (dropped > st.datagramsReceived)
        throw new Failure("drops never exceed datagrams received", `${name}: ${JSON.stringify(st)}`);
      const connecting = this.#wave.filter((l) => !l.done).length;
      if (e.halfOpenCount > this.#backlog + connecting)
        throw new Failure("half-open connections stay within the backlog", `${name}: ${e.halfOpenCount}`);
      if (e.connectionCount > this.#maxConnections + this.#legit.length)
        throw new Failure("connections stay within maxConnections", `${name}: ${e.connectionCount}`);
      for (const c of e.connections()) {
        this.#checkStates(peer, name, c);
        (this.#isLegit(c) ? legit : others).push([peer, name, c]);
      }
    }
    for (let i = 0; i < Math.min(3, legit.length); i++) this.#checkStats(...legit[this.#rotation++ % legit.length]);
    if (others.length > 0) this.#checkStats(...others[this.#rotation % others.length]);
    for (const l of this.#wave) {
      this.#checkDelivery(l.server, this.#server, l.up, l.upCursor, "client→server");
      this.#checkDelivery(l.client, this.#client, l.down, l.downCursor, "server→client");
      const a = this.#stats.get(l.client);
      const b = l.server && this.#stats.get(l.server);
      if (a && b && (b.payloadBytesReceived > a.payloadBytesSent || a.payloadBytesReceived > b.payloadBytesSent))
        throw new Failure("a receiver never counts more payload than its peer sent", this.#describe(l));
    }
  }

  /** Every state change of `c` so far followed an edge of the RFC 9293 table. */
  #checkStates(peer: SimPeer, name: string, c: Connection): void {
    const log = peer.log(c);
    let cur = this.#cursorOf.get(c);
    if (!cur) {
      cur = { chunk: 0, offset: 0, messages: 0, states: 0 };
      this.#cursorOf.set(c, cur);
    }
    for (; cur.states < log.states.length; cur.states++) {
      const from = cur.states === 0 ? "CLOSED" : log.states[cur.states - 1];
      if (!LEGAL.has(`${from}>${log.states[cur.states]}`))
        throw new Failure(
          "states change only along the RFC 9293 edges",
          `${name} connection: ${from} → ${log.states[cur.states]}`,
        );
    }
  }

  #checkStats(peer: SimPeer, name: string, c: Connection): void {
    const s = this.#statsOf(c);
    const where = `${name} ${c.passive ? "passive" : "active"} connection in ${s.state}`;
    const fail = (invariant: string, detail: string) => {
      throw new Failure(invariant, `${where}: ${detail}`);
    };
    if (!(s.bytesInFlight >= 0 && s.bytesInFlight <= s.bytesSent))
      fail("0 ≤ bytes in flight ≤ bytes sent", `${s.bytesInFlight} in flight, ${s.bytesSent} sent`);
    if (!(s.cwnd > 0 && Number.isFinite(s.cwnd))) fail("the congestion window is positive and finite", `${s.cwnd}`);
    if (!(s.ssthresh > 0)) fail("ssthresh is positive", `${s.ssthresh}`);
    for (const k of ["srtt", "rttvar", "minRtt", "latestRtt"] as const)
      if (!(s[k] >= 0 && Number.isFinite(s[k]))) fail("RTT estimates are finite and non-negative", `${k} = ${s[k]}`);
    const cfg = peer.endpoint.config;
    if (!(s.rto >= cfg.minRto && s.rto <= cfg.maxRto)) fail("minRto ≤ RTO ≤ maxRto", `${s.rto}`);
    if (!(Number.isInteger(s.peerWindow) && s.peerWindow >= 0 && s.peerWindow <= 0xffffffff))
      fail("the peer's window is a u32", `${s.peerWindow}`);
    if (!(s.localWindow >= 0 && s.localWindow <= this.#receiveWindow))
      fail("0 ≤ advertised window ≤ receiveWindow", `${s.localWindow}`);
    if (!(s.receiveBuffered >= 0 && s.receiveBuffered <= this.#receiveWindow))
      fail("unread bytes stay within the receive window", `${s.receiveBuffered}`);
    if (s.sendBuffered < 0) fail("send buffer is non-negative", `${s.sendBuffered}`);
    if (s.mss !== s.packetSize - DATA_PACKET_OVERHEAD) fail("mss = packet size − overhead", `${s.mss}/${s.packetSize}`);
    if (s.packetSize < MIN_MAX_PACKET_SIZE || s.packetSize > this.#maxPacket)
      fail("the packet size stays within what both sides allow", `${s.packetSize}`);
    const prev = this.#prev.get(c);
    const now: Record<string, number> = {};
    for (const k of COUNTERS) {
      const v = s[k];
      if (!(Number.isInteger(v) && v >= 0)) fail("counters are non-negative integers", `${k} = ${v}`);
      if (prev && v < prev[k]) fail("counters never decrease", `${k}: ${prev[k]} → ${v}`);
      now[k] = v;
    }
    this.#prev.set(c, now);
    const l = this.#legit.find((x) => x.client === c || x.server === c);
    const plan = l && (l.client === c ? l.up : l.down);
    if (plan && s.payloadBytesSent > plan.stream.length + plan.messages.reduce((n, m) => n + m.length, 0))
      fail("a connection never sends more payload than its application wrote", `${s.payloadBytesSent}`);
  }

  /** What `conn` delivered is a prefix of what its peer's application wrote (bytes and messages). */
  #checkDelivery(conn: Connection | undefined, peer: SimPeer, plan: Plan, cur: Cursor, dir: string): void {
    if (!conn) return;
    const log = peer.log(conn);
    for (; cur.chunk < log.chunks.length; cur.chunk++) {
      const chunk = log.chunks[cur.chunk];
      if (cur.offset + chunk.length > plan.stream.length)
        throw new Failure(
          "no injected byte reaches the application",
          `${dir}: ${cur.offset + chunk.length} stream bytes delivered, ${plan.stream.length} written`,
        );
      for (let i = 0; i < chunk.length; i++)
        if (chunk[i] !== plan.stream[cur.offset + i])
          throw new Failure(
            "no injected byte reaches the application",
            `${dir} (connection ${conn.localCid}): stream byte ${cur.offset + i} differs from what was written`,
          );
      cur.offset += chunk.length;
      this.#result.bytesDelivered += chunk.length;
    }
    for (; cur.messages < log.messages.length; cur.messages++) {
      const m = log.messages[cur.messages];
      const want = plan.messages[cur.messages];
      if (!want || !sameBytes(m, want))
        throw new Failure(
          "messages are delivered exactly as sent, in order, once",
          `${dir} (connection ${conn.localCid}): message ${cur.messages} (${m.length} bytes) is not the one sent (${want?.length} bytes)`,
        );
      this.#result.messagesDelivered++;
    }
  }

  // ----- Helpers --------------------------------------------------------------------

  /** `c.stats()`, cached until the next check (counters only grow, and the safety rules leave MARGIN for that). */
  #statsOf(c: Connection): ConnectionStats {
    let s = this.#stats.get(c);
    if (!s) {
      s = c.stats();
      this.#stats.set(c, s);
    }
    return s;
  }

  #peerAt(a: Address): SimPeer | undefined {
    if (sameAddress(a, SERVER)) return this.#server;
    if (sameAddress(a, CLIENT)) return this.#client;
    return undefined;
  }

  #connByCid(peer: SimPeer, cid: number): Connection | undefined {
    for (const c of peer.endpoint.connections()) if (c.localCid === cid) return c;
    return undefined;
  }

  /** True for the connections the fuzzer runs (not ones the attacker opened). */
  #isLegit(c: Connection): boolean {
    if (!c.passive) return true;
    return this.#legit.some((l) => l.server === c || (l.server === undefined && l.client.localCid === c.peerCid));
  }

  #describe(l: Legit): string {
    const side = (c: Connection | undefined, p: SimPeer) => {
      if (!c) return "none";
      const s = c.stats();
      const log = p.log(c);
      return `cid ${c.localCid}→${c.peerCid}@${addressKey(c.remote)} ${s.state} rx ${log.byteCount}B/${log.messages.length}msg ended=${log.ended} inflight=${s.bytesInFlight} cwnd=${s.cwnd} peerWnd=${s.peerWindow} rto=${s.rto}`;
    };
    return `client[${side(l.client, this.#client)}] (wants ${l.down.stream.length}B/${l.down.messages.length}msg) server[${side(l.server, this.#server)}] (wants ${l.up.stream.length}B/${l.up.messages.length}msg)`;
  }

  #tally(): void {
    const drops = this.#result.drops;
    const add = (k: string, v: number) => {
      drops[k] = (drops[k] ?? 0) + v;
    };
    for (const peer of [this.#client, this.#server]) {
      const st: EndpointStats = peer.endpoint.stats();
      add("foreign", st.foreignDrops);
      add("corrupt", st.corruptDrops);
      add("malformed", st.malformedDrops);
      add("unknown connection", st.unknownConnectionDrops);
      add("forged token", st.invalidTokens);
      add("handshake dropped", st.droppedHandshakes);
      add("handshake refused", st.refusedHandshakes);
      add("unvalidated path", st.unvalidatedPathPackets);
      for (const c of peer.logs.keys()) {
        const s = c.stats();
        add("wrong source cid or malformed (connection)", s.malformedDrops);
        add("out of window", s.outOfWindowDrops);
        add("duplicate segment", s.duplicateSegments);
        add("invalid ack", s.invalidAcks);
      }
    }
  }
}

const COUNTERS = [
  "packetsSent",
  "packetsReceived",
  "bytesSent",
  "bytesReceived",
  "payloadBytesSent",
  "payloadBytesReceived",
  "segmentsSent",
  "retransmits",
  "rtoCount",
  "duplicateSegments",
  "outOfWindowDrops",
  "malformedDrops",
  "corruptDrops",
  "invalidAcks",
  "amplificationBlocked",
  "pathChallenges",
  "migrations",
] as const;

function sameAddress(a: Address, b: Address): boolean {
  return a.address === b.address && a.port === b.port;
}

function hex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A one-line summary of a datagram for logs. */
function describePacket(data: Uint8Array, checksum: Checksum): string {
  if (!checksumValid(data, checksum)) return `${data.length} bytes, bad checksum`;
  try {
    const p = parsePacket(data);
    const names = Object.entries(Flag)
      .filter(([, bit]) => p.flags & bit)
      .map(([n]) => n)
      .join("|");
    const ack = p.ack ? ` ack=${p.ack.cumAck} wnd=${p.ack.window} sack=[${p.ack.ranges.join(",")}]` : "";
    const seq = p.flags & Flag.DATA ? ` seq=${p.seq} len=${p.payload.length}` : "";
    return `${names} dcid=${p.dcid} scid=${p.scid} tsval=${p.tsval} tsecr=${p.tsecr}${ack}${seq}`;
  } catch (err) {
    return `${data.length} bytes, malformed (${(err as Error).message})`;
  }
}

/** Identifies a data segment's content: the flags that shape delivery and the payload. */
function segmentHash(p: Packet, checksum: Checksum): number {
  const f = p.flags & (Flag.FIN | Flag.MSG | Flag.MSG_END);
  return (checksum(p.payload, 0, p.payload.length) ^ Math.imul(f, 0x9e3779b1)) >>> 0;
}
