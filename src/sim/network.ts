/**
 * Deterministic in-memory network with a virtual clock. Time only moves when
 * an event runs: a datagram arriving or a node's timer firing. Events at equal
 * times run datagrams first (in the order they were scheduled), then timers
 * (in attach order). Everything random comes from streams derived from one
 * seed, so a run replays exactly. No wall clock, timers or platform APIs.
 */

import type { Address } from "../core/address.js";
import { SeededRng } from "../core/rng.js";
import type { Duration, Instant } from "../core/time.js";
import { EventHeap } from "./heap.js";
import type { DatagramFate, LinkConfig, LinkSink, LinkStats } from "./link.js";
import { addLinkStats, emptyLinkStats, Link, resolveLinkConfig } from "./link.js";
import type { DatagramNode } from "./node.js";
import { deriveSeed, normalizeSeed } from "./seed.js";

/** A datagram's fate, as passed to `SimNetwork.onDatagram`. */
export interface DatagramEvent {
  readonly time: Instant;
  readonly from: Address;
  readonly to: Address;
  readonly size: number;
  /**
   * Each datagram (and each duplicate copy) gets exactly one terminal fate:
   * delivered, lost, queue-drop, mtu-drop, partition-drop or no-host.
   * `corrupted` and `duplicated` are extra notes emitted when that happens.
   */
  readonly fate: DatagramFate;
}

/** Options for `new SimNetwork`. */
export interface SimNetworkOptions {
  /** Seed for every random stream in the simulation. */
  seed: number;
  /** Settings for links not configured with `setLink`/`setPath` (over `DEFAULT_LINK_CONFIG`). */
  defaultLink?: Partial<LinkConfig>;
  /** Initial virtual time, µs (default 0). */
  startTime?: Instant;
  /** Trace hook, see `SimNetwork.onDatagram`. */
  onDatagram?: (ev: DatagramEvent) => void;
}

/** Limits for the `run*` methods. The earliest of `maxTime` and `now + timeout` applies. */
export interface RunOptions {
  /** Absolute virtual time not to run past. */
  maxTime?: Instant;
  /** Virtual time not to run past, relative to the call. */
  timeout?: Duration;
  /** Maximum number of events to process. */
  maxSteps?: number;
}

/** Counters for one link direction, as listed by `SimNetwork.stats()`. */
export interface LinkStatsEntry {
  readonly from: string;
  readonly to: string;
  readonly stats: LinkStats;
}

/** Snapshot of the whole network's counters. */
export interface NetworkStats {
  /** Sum over every link and the direct injection path. */
  readonly total: LinkStats;
  /** Per link direction, in creation order. */
  readonly links: LinkStatsEntry[];
  /** Injected datagrams from hosts without links (see `inject`). */
  readonly direct: LinkStats;
  /** Datagrams scheduled but not yet arrived. */
  readonly inFlight: number;
}

/** How many consecutive timer firings a node may ask for without time advancing. */
export const MAX_TIMEOUTS_PER_INSTANT = 1000;
/** How many datagrams one node may emit in a single drain before it is considered runaway. */
export const MAX_TRANSMITS_PER_DRAIN = 1_000_000;

interface Attachment {
  readonly addr: Address;
  readonly node: DatagramNode;
  attached: boolean;
  spinAt: Instant;
  spinCount: number;
}

interface Packet {
  data: Uint8Array;
  from: Address;
  to: Address;
  link: Link | undefined;
  /** Injected for a future time and not yet on a link. */
  injecting: boolean;
}

const EVENT = 0;
const LIMIT = 1;
const IDLE = 2;
type Advance = typeof EVENT | typeof LIMIT | typeof IDLE;

/** The simulated network: hosts, links between them, and the virtual clock. */
export class SimNetwork {
  /** Trace hook called for every datagram fate; leave unset for speed. */
  onDatagram: ((ev: DatagramEvent) => void) | undefined;
  /**
   * Test hook called for each datagram a node sends, before its link sees it;
   * returning false drops it silently (for scripted losses and attackers).
   */
  intercept: ((from: Address, to: Address, data: Uint8Array, now: Instant) => boolean) | undefined;
  readonly #seed: number;
  readonly #rng: SeededRng;
  readonly #defaults: LinkConfig;
  readonly #heap = new EventHeap<Packet>();
  readonly #pool: Packet[] = [];
  readonly #hosts = new Map<string, Map<number, Attachment>>();
  #nodes: Attachment[] = [];
  readonly #links = new Map<string, Map<string, Link>>();
  readonly #linkList: Link[] = [];
  readonly #configuredFrom = new Set<string>();
  readonly #sink: LinkSink;
  readonly #direct: Link;
  #now: Instant;
  #nextTimer: Attachment | undefined;

  constructor(options: SimNetworkOptions) {
    this.#seed = normalizeSeed(options.seed);
    this.#rng = new SeededRng(deriveSeed(this.#seed, "test"));
    this.#now = options.startTime ?? 0;
    this.onDatagram = options.onDatagram;
    this.#sink = {
      schedule: (at, link, from, to, data) => {
        const p = this.#pool.pop() ?? { data, from, to, link, injecting: false };
        p.data = data;
        p.from = from;
        p.to = to;
        p.link = link;
        p.injecting = false;
        this.#heap.push(at, p);
      },
      trace: (time, from, to, size, fate) => {
        this.onDatagram?.({ time, from, to, size, fate });
      },
    };
    this.#defaults = resolveLinkConfig(options.defaultLink ?? {});
    this.#direct = new Link("*", "*", { delay: this.#defaults.delay }, deriveSeed(this.#seed, "direct"), this.#sink);
  }

  /** Current virtual time, µs. */
  get now(): Instant {
    return this.#now;
  }

  /** The (normalized, unsigned 32-bit) seed this network was built with. */
  get seed(): number {
    return this.#seed;
  }

  /** A random stream for test code, derived from the seed and independent of the links' streams. */
  get rng(): SeededRng {
    return this.#rng;
  }

  /** Number of datagrams scheduled but not yet arrived (including future injections). */
  get inFlight(): number {
    return this.#heap.size;
  }

  /** Attaches `node` at `address`:`port`. Throws if something is already attached there. */
  attach(address: string, port: number, node: DatagramNode): void {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`invalid port ${port}`);
    let ports = this.#hosts.get(address);
    if (ports === undefined) {
      ports = new Map();
      this.#hosts.set(address, ports);
    }
    if (ports.has(port)) throw new Error(`a node is already attached at ${address}:${port}`);
    const a: Attachment = {
      addr: Object.freeze({ address, port }),
      node,
      attached: true,
      spinAt: Number.NaN,
      spinCount: 0,
    };
    ports.set(port, a);
    this.#nodes = [...this.#nodes, a];
  }

  /** Removes the node at `address`:`port` as if its host vanished: datagrams still arriving there are lost. */
  detach(address: string, port: number): void {
    const ports = this.#hosts.get(address);
    const a = ports?.get(port);
    if (ports === undefined || a === undefined) return;
    a.attached = false;
    ports.delete(port);
    if (ports.size === 0) this.#hosts.delete(address);
    this.#nodes = this.#nodes.filter((n) => n !== a);
  }

  /** The link from host `from` to host `to`, created with the default settings if needed. */
  link(from: string, to: string): Link {
    let byTo = this.#links.get(from);
    if (byTo === undefined) {
      byTo = new Map();
      this.#links.set(from, byTo);
    }
    let l = byTo.get(to);
    if (l === undefined) {
      l = new Link(from, to, this.#defaults, deriveSeed(this.#seed, `link ${from} > ${to}`), this.#sink);
      byTo.set(to, l);
      this.#linkList.push(l);
    }
    return l;
  }

  /** Configures the link from host `from` to host `to`; unspecified fields keep their current value. */
  setLink(from: string, to: string, config: Partial<LinkConfig>): void {
    this.link(from, to).configure(config);
    this.#configuredFrom.add(from);
  }

  /** Configures both directions between hosts `a` and `b` alike. */
  setPath(a: string, b: string, config: Partial<LinkConfig>): void {
    this.setLink(a, b, config);
    this.setLink(b, a, config);
  }

  /**
   * Puts an arbitrary datagram on the wire at `at` (default now), e.g. a
   * spoofed one. It goes through the link from `from`'s host to `to`'s host
   * when `from`'s host has a node attached or a configured link; otherwise it
   * arrives after the default link's base delay, unimpaired. `data` is copied.
   */
  inject(from: Address, to: Address, data: Uint8Array, at?: Instant): void {
    const src = { address: from.address, port: from.port };
    const dst = { address: to.address, port: to.port };
    if (at === undefined || at <= this.#now) {
      this.#injectNow(src, dst, data);
      return;
    }
    const p = this.#pool.pop() ?? { data, from: src, to: dst, link: undefined, injecting: true };
    p.data = new Uint8Array(data);
    p.from = src;
    p.to = dst;
    p.link = undefined;
    p.injecting = true;
    this.#heap.push(at, p);
  }

  /** Processes the next event; returns false when nothing is scheduled. */
  step(): boolean {
    return this.#advance(Number.POSITIVE_INFINITY) === EVENT;
  }

  /**
   * Runs events until `predicate()` holds (returns true), or a limit is hit or
   * nothing is left to do (returns false). The predicate is checked before the
   * first event and after each one. When stopped by a time limit the clock is
   * left at that limit.
   */
  runUntil(predicate: () => boolean, opts: RunOptions = {}): boolean {
    const limit = this.#limit(opts);
    const maxSteps = opts.maxSteps ?? Number.POSITIVE_INFINITY;
    for (let steps = 0; ; steps++) {
      if (predicate()) return true;
      if (steps >= maxSteps) return false;
      const r = this.#advance(limit);
      if (r === LIMIT) {
        if (limit > this.#now) this.#now = limit;
        return false;
      }
      if (r === IDLE) return false;
    }
  }

  /** Processes every event up to and including `now + duration`, then sets the clock to exactly that time. */
  runFor(duration: Duration): void {
    const target = this.#now + duration;
    while (this.#advance(target) === EVENT) {}
    if (target > this.#now) this.#now = target;
  }

  /**
   * Runs until no datagram is in flight and no node has a timer (returns
   * true), or a limit is hit (returns false). Nodes with periodic timers are
   * never idle, so pass a limit for them.
   */
  runUntilIdle(opts: RunOptions = {}): boolean {
    const limit = this.#limit(opts);
    const maxSteps = opts.maxSteps ?? Number.POSITIVE_INFINITY;
    for (let steps = 0; steps < maxSteps; steps++) {
      const r = this.#advance(limit);
      if (r === IDLE) return true;
      if (r === LIMIT) {
        if (limit > this.#now) this.#now = limit;
        return false;
      }
    }
    return false;
  }

  /** A snapshot of every link's counters and their sum. */
  stats(): NetworkStats {
    const total = emptyLinkStats();
    const links: LinkStatsEntry[] = [];
    for (const l of this.#linkList) {
      const stats = { ...l.stats };
      links.push({ from: l.from, to: l.to, stats });
      addLinkStats(total, stats);
    }
    const direct = { ...this.#direct.stats };
    addLinkStats(total, direct);
    return { total, links, direct, inFlight: this.#heap.size };
  }

  #limit(opts: RunOptions): Instant {
    let limit = opts.maxTime ?? Number.POSITIVE_INFINITY;
    if (opts.timeout !== undefined && this.#now + opts.timeout < limit) limit = this.#now + opts.timeout;
    return limit;
  }

  /** Drains all nodes, then runs the earliest event if it is due by `limit`. */
  #advance(limit: Instant): Advance {
    const nodes = this.#nodes;
    for (let i = 0; i < nodes.length; i++) this.#drain(nodes[i]);
    const timerAt = this.#earliestTimer();
    const packetAt = this.#heap.peekTime();
    if (packetAt <= timerAt) {
      if (packetAt === Number.POSITIVE_INFINITY) return IDLE;
      if (packetAt > limit) return LIMIT;
      if (packetAt > this.#now) this.#now = packetAt;
      const touched = this.#arrive(this.#heap.pop() as Packet);
      if (touched !== undefined) this.#drain(touched);
      return EVENT;
    }
    if (timerAt > limit) return LIMIT;
    if (timerAt > this.#now) this.#now = timerAt;
    const a = this.#nextTimer as Attachment;
    this.#fire(a);
    this.#drain(a);
    return EVENT;
  }

  #earliestTimer(): Instant {
    const nodes = this.#nodes;
    let best = Number.POSITIVE_INFINITY;
    let bestNode: Attachment | undefined;
    for (let i = 0; i < nodes.length; i++) {
      const a = nodes[i];
      const t = a.node.pollTimeout();
      if (t !== undefined && t < best) {
        best = t;
        bestNode = a;
      }
    }
    this.#nextTimer = bestNode;
    return best;
  }

  #fire(a: Attachment): void {
    const now = this.#now;
    if (a.spinAt === now) {
      if (++a.spinCount > MAX_TIMEOUTS_PER_INSTANT) {
        throw new Error(
          `sim: node ${a.addr.address}:${a.addr.port} asked for ${MAX_TIMEOUTS_PER_INSTANT} timeouts at t=${now} without time advancing (pollTimeout keeps returning <= now)`,
        );
      }
    } else {
      a.spinAt = now;
      a.spinCount = 1;
    }
    a.node.handleTimeout(now);
  }

  #drain(a: Attachment): void {
    for (let n = 0; a.attached; n++) {
      const tx = a.node.pollTransmit(this.#now);
      if (tx === undefined) return;
      if (n >= MAX_TRANSMITS_PER_DRAIN) {
        throw new Error(
          `sim: node ${a.addr.address}:${a.addr.port} emitted over ${MAX_TRANSMITS_PER_DRAIN} datagrams at t=${this.#now}`,
        );
      }
      if (this.intercept !== undefined && !this.intercept(a.addr, tx.to, tx.data, this.#now)) continue;
      this.link(a.addr.address, tx.to.address).send(this.#now, a.addr, tx.to, tx.data);
    }
  }

  #injectNow(from: Address, to: Address, data: Uint8Array): void {
    const viaLink = this.#hosts.has(from.address) || this.#configuredFrom.has(from.address);
    const link = viaLink ? this.link(from.address, to.address) : this.#direct;
    link.send(this.#now, from, to, data);
  }

  /** Handles a popped event; returns the node that received a datagram, if any. */
  #arrive(p: Packet): Attachment | undefined {
    const { data, from, to, link } = p;
    const injecting = p.injecting;
    p.data = EMPTY;
    p.link = undefined;
    this.#pool.push(p);
    if (injecting) {
      this.#injectNow(from, to, data);
      return undefined;
    }
    const a = this.#hosts.get(to.address)?.get(to.port);
    link?.noteArrival(data.length, a !== undefined);
    if (this.onDatagram !== undefined) {
      this.onDatagram({
        time: this.#now,
        from,
        to,
        size: data.length,
        fate: a === undefined ? "no-host" : "delivered",
      });
    }
    if (a === undefined) return undefined;
    a.spinAt = Number.NaN;
    a.node.handleDatagram(this.#now, from, data);
    return a;
  }
}

const EMPTY = new Uint8Array(0);
