/**
 * The simulated runtime: runs the public API (createServer, connect, Socket,
 * which are real node streams) on the virtual clock of a `SimNetwork`.
 *
 * Each simulated host gets a `SimRuntime`; all runtimes of one network share
 * a `SimLoop`, the virtual event loop. The loop owns every timer and deferred
 * callback of those runtimes and is pumped explicitly from a test:
 * `await loop.run(until, { timeout })` alternates between letting the real
 * event loop settle (stream callbacks, promises, deferred flushes) and
 * stepping the simulator to its next event, so virtual time only advances
 * when the JavaScript world is quiescent. Idle gaps cost nothing: a virtual
 * minute of retransmission back-off runs in milliseconds.
 *
 * ICMP "port unreachable" is emulated: a datagram that reaches a live host
 * (one with a `SimRuntime` that has not crashed) at a port where nothing is
 * bound reports ECONNREFUSED to the sender's socket if that socket is
 * connected to the destination, after the return path's base delay, unless
 * that path is down (Linux reports ICMP errors on connected UDP sockets only).
 * Hosts without a runtime (bare `DatagramNode`s) and crashed hosts stay silent.
 */

import { isIP } from "node:net";
import { setImmediate as immediate } from "node:timers/promises";
import type { Address } from "../core/address.js";
import type { CryptoProvider } from "../core/crypto/provider.js";
import { SeededRng } from "../core/rng.js";
import type { Duration, Instant } from "../core/time.js";
import type { DatagramEvent, SimNetwork } from "../sim/network.js";
import type { DatagramNode, Transmit } from "../sim/node.js";
import { deriveSeed } from "../sim/seed.js";
import { nodeCryptoProvider } from "./node-crypto.js";
import type { BindOptions, Runtime, Timer, UdpHandle } from "./runtime.js";

/** Limits for `SimLoop.run`. The earliest of `maxTime` and `now + timeout` applies. */
export interface SimRunOptions {
  /** Virtual time not to run past, µs, relative to the call. */
  timeout?: Duration;
  /** Absolute virtual time not to run past, µs. */
  maxTime?: Instant;
  /** Most pump steps (each runs the next simulator event, plus up to 31 more due at the same instant). */
  maxSteps?: number;
  /** Real milliseconds after which the run throws (a guard against runaway simulations). Default 60,000. */
  realTimeoutMs?: number;
}

/** Counters of a `SimLoop`, for checking that a simulation ran efficiently. */
export interface SimLoopStats {
  /** Simulator events processed (datagram arrivals and timer batches, any node). */
  steps: number;
  /** Turns of the real event loop the pump waited for. */
  yields: number;
  /** Timer callbacks run. */
  timersFired: number;
  /** Deferred callbacks run. */
  deferredRun: number;
  /** ECONNREFUSED errors delivered (emulated ICMP port unreachable). */
  unreachables: number;
}

/** Where the loop's timer node sits on the network (not an IP, so no host can collide with it). */
const TIMER_HOST = "sim-runtime-timers";
const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_LAST = 65535;
/** Simulator events at one virtual instant processed before the real event loop gets a turn (as libuv reads up to 32 datagrams per poll). */
const EVENTS_PER_TURN = 32;
/** Extra real event-loop turns a settle may take for foreign `setImmediate` work before it gives up waiting. */
const MAX_FOREIGN_TURNS = 8;
/** Settle rounds (deferred callbacks queueing more deferred callbacks) at one instant before a livelock is reported. */
const MAX_SETTLE_ROUNDS = 100_000;

const loops = new WeakMap<SimNetwork, SimLoop>();

/** A timer of the virtual event loop. */
class SimTimer implements Timer {
  at = Number.POSITIVE_INFINITY;
  seq = 0;
  /** Position in the loop's heap, -1 when not armed. */
  index = -1;
  readonly fn: () => void;
  readonly owner: SimRuntime | undefined;
  readonly #loop: SimLoop;

  constructor(loop: SimLoop, owner: SimRuntime | undefined, fn: () => void) {
    this.#loop = loop;
    this.owner = owner;
    this.fn = fn;
  }
  arm(at: Instant): void {
    if (this.owner?.crashed) return;
    this.#loop._armTimer(this, at);
  }
  cancel(): void {
    this.#loop._cancelTimer(this);
  }
  ref(): void {}
  unref(): void {}
}

function before(a: SimTimer, b: SimTimer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Indexed binary min-heap of armed timers, ordered by (deadline, arming order). */
class TimerQueue {
  readonly #items: SimTimer[] = [];

  get size(): number {
    return this.#items.length;
  }
  peek(): SimTimer | undefined {
    return this.#items[0];
  }
  insert(t: SimTimer): void {
    t.index = this.#items.length;
    this.#items.push(t);
    this.#up(t.index);
  }
  remove(t: SimTimer): void {
    const i = t.index;
    if (i < 0) return;
    const items = this.#items;
    const last = items.pop() as SimTimer;
    t.index = -1;
    if (last === t) return;
    items[i] = last;
    last.index = i;
    this.#up(i);
    this.#down(last.index);
  }
  /** Removes every timer for which `drop` is true. */
  removeWhere(drop: (t: SimTimer) => boolean): void {
    const keep: SimTimer[] = [];
    for (const t of this.#items) {
      if (drop(t)) {
        t.index = -1;
        t.at = Number.POSITIVE_INFINITY;
      } else keep.push(t);
    }
    this.#items.length = 0;
    for (const t of keep) this.insert(t);
  }
  #up(i: number): void {
    const items = this.#items;
    const t = items[i];
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(t, items[p])) break;
      items[i] = items[p];
      items[i].index = i;
      i = p;
    }
    items[i] = t;
    t.index = i;
  }
  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const t = items[i];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && before(items[c + 1], items[c])) c++;
      if (!before(items[c], t)) break;
      items[i] = items[c];
      items[i].index = i;
      i = c;
    }
    items[i] = t;
    t.index = i;
  }
}

interface Deferred {
  fn: () => void;
  owner: SimRuntime | undefined;
}

/**
 * The virtual event loop of one `SimNetwork`: the timers and deferred work of
 * every `SimRuntime` on it, and the pump that runs the simulation. Get it with
 * `SimLoop.for(net)` (one per network).
 */
export class SimLoop {
  /** The network this loop drives. */
  readonly net: SimNetwork;
  /** Host names `lookup` resolves (besides "localhost" and IP literals), e.g. `names.set("server", "10.0.0.2")`. */
  readonly names = new Map<string, string>();
  readonly #timers = new TimerQueue();
  #timerSeq = 0;
  #deferred: Deferred[] = [];
  readonly #runtimes = new Map<string, SimRuntime[]>();
  readonly #handles = new Map<string, SimUdpHandle>();
  readonly #errors: unknown[] = [];
  #dirty = false;
  #running = false;
  #icmpDepth = 0;
  #userTrace: ((ev: DatagramEvent) => void) | undefined;
  #probeCalls = 0;
  /** For `net.runUntil`: false before the first event, true after it. */
  readonly #probe = (): boolean => this.#probeCalls++ > 0;
  /** For `net.runUntil`: counts its calls, never stops the run. */
  readonly #count = (): boolean => {
    this.#probeCalls++;
    return false;
  };
  readonly #stats: SimLoopStats = { steps: 0, yields: 0, timersFired: 0, deferredRun: 0, unreachables: 0 };

  /** The loop of `net`, created (and hooked into the network) on first use. */
  static for(net: SimNetwork): SimLoop {
    let loop = loops.get(net);
    if (loop === undefined) {
      loop = new SimLoop(net);
      loops.set(net, loop);
    }
    return loop;
  }

  private constructor(net: SimNetwork) {
    this.net = net;
    net.attach(TIMER_HOST, 0, {
      handleDatagram: () => {},
      handleTimeout: (now) => this.#fireTimers(now),
      pollTransmit: () => undefined,
      pollTimeout: () => this.#timers.peek()?.at,
    });
    // Watch datagram fates for "no-host" (ICMP emulation) while keeping `net.onDatagram` usable by tests.
    this.#userTrace = net.onDatagram;
    const trace = (ev: DatagramEvent): void => this.#trace(ev);
    Object.defineProperty(net, "onDatagram", {
      configurable: true,
      enumerable: true,
      get: () => trace,
      set: (fn: ((ev: DatagramEvent) => void) | undefined) => {
        this.#userTrace = fn;
      },
    });
  }

  /** Current virtual time, µs. */
  get now(): Instant {
    return this.net.now;
  }

  /** True while `run` (or `runFor`, `wait`) is pumping. */
  get running(): boolean {
    return this.#running;
  }

  /** Counters since the loop was created. */
  get stats(): Readonly<SimLoopStats> {
    return { ...this.#stats };
  }

  /** Armed timers (of every runtime) and callbacks deferred but not yet run. */
  get pending(): { timers: number; deferred: number } {
    return { timers: this.#timers.size, deferred: this.#deferred.length };
  }

  /** The runtime of host `address`, created on first use (one per address; see `SimRuntime`). */
  host(address: string): SimRuntime {
    return this.#runtimes.get(address)?.[0] ?? new SimRuntime(this.net, address);
  }

  /**
   * Pumps the simulation until `until()` holds (returns true), the virtual
   * limit passes or nothing is left to run (returns false). `until` is checked
   * whenever the real event loop has settled: first before any virtual time
   * passes, then after each simulator event that touched a runtime. When stopped
   * by the limit the clock is left at it. Throws what a timer, deferred or
   * datagram callback threw.
   */
  async run(until: () => boolean = () => false, opts: SimRunOptions = {}): Promise<boolean> {
    if (this.#running) throw new Error("SimLoop.run: already running (await the other run first)");
    this.#running = true;
    try {
      let limit = opts.maxTime ?? Number.POSITIVE_INFINITY;
      if (opts.timeout !== undefined && this.net.now + opts.timeout < limit) limit = this.net.now + opts.timeout;
      const maxSteps = opts.maxSteps ?? Number.POSITIVE_INFINITY;
      const realTimeoutMs = opts.realTimeoutMs ?? 60_000;
      const realDeadline = performance.now() + realTimeoutMs;
      await this.#settle();
      for (let steps = 0; ; steps++) {
        if (until()) return true;
        if (steps >= maxSteps || !this.#advance(limit)) return false;
        this.#throwErrors();
        if (this.#dirty) await this.#settle();
        if ((steps & 255) === 255 && performance.now() > realDeadline)
          throw new Error(`SimLoop.run: still running after ${realTimeoutMs} ms of real time (t=${this.net.now} µs)`);
      }
    } finally {
      this.#running = false;
    }
  }

  /** Pumps for `duration` µs of virtual time; the clock ends exactly at `now + duration`. */
  async runFor(duration: Duration, opts: Omit<SimRunOptions, "timeout" | "maxTime"> = {}): Promise<void> {
    let done = false;
    const sentinel = new SimTimer(this, undefined, () => {
      done = true;
    });
    sentinel.arm(this.net.now + duration);
    try {
      await this.run(() => done, opts);
    } finally {
      sentinel.cancel();
    }
  }

  /**
   * Pumps until `promise` settles and returns its outcome; throws if the
   * virtual limit passes or nothing is left to run first.
   */
  async wait<T>(promise: Promise<T>, opts: SimRunOptions = {}): Promise<T> {
    let settled = false;
    promise.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    const start = this.net.now;
    if (!(await this.run(() => settled, opts))) {
      const why = this.#timers.size === 0 && this.net.inFlight === 0 ? "nothing left to run" : "virtual time limit";
      throw new Error(
        `SimLoop.wait: promise still pending (${why}; ran ${this.net.now - start} µs to t=${this.net.now})`,
      );
    }
    return promise;
  }

  /** Lets the real event loop run until no deferred callback and no `setImmediate` work is pending. */
  async settle(): Promise<void> {
    await this.#settle();
  }

  // ----- Used by SimRuntime and its handles ------------------------------------------------

  /** @internal */
  _createTimer(owner: SimRuntime, fn: () => void): Timer {
    return new SimTimer(this, owner, fn);
  }

  /** @internal */
  _armTimer(t: SimTimer, at: Instant): void {
    if (t.index >= 0) {
      if (t.at === at) return;
      this.#timers.remove(t);
    }
    t.at = at;
    t.seq = this.#timerSeq++;
    this.#timers.insert(t);
  }

  /** @internal */
  _cancelTimer(t: SimTimer): void {
    this.#timers.remove(t);
    t.at = Number.POSITIVE_INFINITY;
  }

  /** @internal */
  _defer(owner: SimRuntime, fn: () => void): void {
    this.#deferred.push({ fn, owner });
    this.#dirty = true;
  }

  /** @internal */
  _register(rt: SimRuntime): number {
    const list = this.#runtimes.get(rt.address);
    if (list) {
      list.push(rt);
      return list.length - 1;
    }
    this.#runtimes.set(rt.address, [rt]);
    return 0;
  }

  /** @internal */
  _addHandle(h: SimUdpHandle): void {
    this.#handles.set(key(h.local), h);
  }

  /** @internal */
  _removeHandle(h: SimUdpHandle): void {
    if (this.#handles.get(key(h.local)) === h) this.#handles.delete(key(h.local));
  }

  /** @internal Whether `address:port` is bound by a handle of this loop. */
  _bound(address: string, port: number): boolean {
    return this.#handles.has(`${address}:${port}`);
  }

  /** @internal Drops every timer and deferred callback of `owner` (it crashed). */
  _forgetOwner(owner: SimRuntime): void {
    this.#timers.removeWhere((t) => t.owner === owner);
    this.#deferred = this.#deferred.filter((d) => d.owner !== owner);
  }

  /** @internal A callback into API code ran (or is queued): the real event loop must settle before time moves. */
  _touch(): void {
    this.#dirty = true;
  }

  /** @internal Records an exception thrown by a callback; the pump rethrows it. */
  _fail(err: unknown): void {
    this.#errors.push(err);
  }

  // ----- The pump --------------------------------------------------------------------------

  /** Runs the next simulator event, plus others due at the same instant; false when none is due by `limit`. */
  #advance(limit: Instant): boolean {
    this.#probeCalls = 0;
    if (!this.net.runUntil(this.#probe, { maxTime: limit })) return false;
    // More events at this very instant, as one turn of a real event loop would take them.
    this.#probeCalls = 0;
    this.net.runUntil(this.#count, { maxTime: this.net.now, maxSteps: EVENTS_PER_TURN - 1 });
    this.#stats.steps += this.#probeCalls; // the first event plus (calls - 1) more
    return true;
  }

  async #settle(): Promise<void> {
    let foreignTurns = 0;
    for (let rounds = 0; ; rounds++) {
      if (rounds > MAX_SETTLE_ROUNDS)
        throw new Error(`SimLoop: deferred work keeps rescheduling itself at t=${this.net.now} µs (livelock)`);
      this.#runDeferred();
      await immediate();
      this.#stats.yields++;
      if (this.#deferred.length > 0) continue;
      if (foreignTurns < MAX_FOREIGN_TURNS && process.getActiveResourcesInfo().includes("Immediate")) {
        foreignTurns++;
        continue;
      }
      break;
    }
    this.#dirty = false;
    this.#throwErrors();
  }

  #runDeferred(): void {
    const batch = this.#deferred;
    if (batch.length === 0) return;
    this.#deferred = [];
    for (const d of batch) {
      if (d.owner?.crashed) continue;
      this.#stats.deferredRun++;
      try {
        d.fn();
      } catch (err) {
        this.#errors.push(err);
      }
    }
  }

  #fireTimers(now: Instant): void {
    const q = this.#timers;
    // Timers armed while firing wait for the next call, even if already due.
    const seqLimit = this.#timerSeq;
    for (let t = q.peek(); t !== undefined && t.at <= now && t.seq < seqLimit; t = q.peek()) {
      q.remove(t);
      t.at = Number.POSITIVE_INFINITY;
      if (t.owner?.crashed) continue;
      this.#dirty = true;
      this.#stats.timersFired++;
      try {
        t.fn();
      } catch (err) {
        this.#errors.push(err);
      }
    }
  }

  #throwErrors(): void {
    if (this.#errors.length === 0) return;
    const errors = this.#errors.splice(0);
    throw errors.length === 1 ? errors[0] : new AggregateError(errors, "SimLoop: several callbacks threw");
  }

  // ----- ICMP emulation ----------------------------------------------------------------------

  #trace(ev: DatagramEvent): void {
    if (this.#icmpDepth > 0) return; // a test hook that chains to the value it read from net.onDatagram
    if (ev.fate === "no-host") this.#unreachable(ev);
    const user = this.#userTrace;
    if (user === undefined) return;
    this.#icmpDepth++;
    try {
      user(ev);
    } finally {
      this.#icmpDepth--;
    }
  }

  #unreachable(ev: DatagramEvent): void {
    const sender = this.#handles.get(key(ev.from));
    const peer = sender?.peer;
    if (sender === undefined || peer === undefined) return; // unconnected sockets ignore ICMP errors
    if (peer.address !== ev.to.address || peer.port !== ev.to.port) return;
    const dest = this.#runtimes.get(ev.to.address);
    if (dest === undefined || dest.every((rt) => rt.crashed)) return; // no live host there to answer
    const back = this.net.link(ev.to.address, ev.from.address);
    if (back.isDown(this.net.now)) return;
    const icmp = new SimTimer(this, sender.runtime, () => {
      if (sender.closed) return;
      this.#stats.unreachables++;
      const err = Object.assign(new Error(`recvmsg ECONNREFUSED ${peer.address}:${peer.port}`), {
        code: "ECONNREFUSED",
        errno: -111,
        syscall: "recvmsg",
      });
      sender.onError(err);
    });
    icmp.arm(this.net.now + back.config.delay);
  }
}

function key(a: Address): string {
  return `${a.address}:${a.port}`;
}

function sysError(code: string, message: string, syscall: string, extra: object = {}): Error & { code: string } {
  return Object.assign(new Error(`${syscall} ${code} ${message}`), { code, syscall, ...extra });
}

const ANY = new Set(["0.0.0.0", "::", "127.0.0.1", "::1", "localhost"]);

/**
 * A `Runtime` for one simulated host: virtual clock and timers from the
 * network's `SimLoop`, UDP sockets as nodes attached to the `SimNetwork` at
 * this host's address, and a `SeededRng` derived from the network's seed and
 * the host, so runs replay. Pass it as the `runtime` option of `createServer`
 * and `connect`, then pump with `runtime.loop.run(...)`.
 */
export class SimRuntime implements Runtime {
  /** The shared virtual event loop. */
  readonly loop: SimLoop;
  /** The network the host is on. */
  readonly net: SimNetwork;
  /** The host's address (IPv4 or IPv6 literal). */
  readonly address: string;
  /** Family of `address`. */
  readonly family: "IPv4" | "IPv6";
  /** Seeded from the network seed and the host (and how many runtimes this host had before). */
  readonly rng: SeededRng;
  /** Real cryptography (keys are random; the simulation's timing and sizes stay deterministic). */
  readonly crypto: CryptoProvider = nodeCryptoProvider();
  readonly #handles = new Set<SimUdpHandle>();
  #nextPort = EPHEMERAL_FIRST;
  #crashed = false;

  /** A runtime for the host at `address` (an IP literal) on `net`. */
  constructor(net: SimNetwork, address: string) {
    const family = isIP(address);
    if (family === 0) throw new TypeError(`SimRuntime: host address must be an IP literal, got ${address}`);
    this.net = net;
    this.address = address;
    this.family = family === 6 ? "IPv6" : "IPv4";
    this.loop = SimLoop.for(net);
    const index = this.loop._register(this);
    this.rng = new SeededRng(deriveSeed(net.seed, `sim-runtime ${address}${index === 0 ? "" : ` #${index}`}`));
  }

  /** True after `crash()` until `restart()`. */
  get crashed(): boolean {
    return this.#crashed;
  }

  /** Sockets bound and not yet closed. */
  get openHandles(): number {
    return this.#handles.size;
  }

  /** The virtual time, µs. */
  now(): Instant {
    return this.net.now;
  }

  /** A virtual-time timer, fired by the loop's pump. */
  createTimer(fn: () => void): Timer {
    return this.loop._createTimer(this, fn);
  }

  /** Queues `fn` to run when the pump next lets the event loop settle, before virtual time moves. */
  defer(fn: () => void): void {
    if (this.#crashed) return;
    this.loop._defer(this, fn);
  }

  /** IP literals pass through, except loopback ones (and "localhost"), which mean this host; other names come from `loop.names`. */
  async lookup(host: string): Promise<{ address: string; family: "IPv4" | "IPv6" }> {
    if (host === "localhost" || host === "127.0.0.1" || host === "::1")
      return { address: this.address, family: this.family };
    const name = this.loop.names.get(host);
    const address = name ?? host;
    const family = isIP(address);
    if (family === 0) throw sysError("ENOTFOUND", host, "getaddrinfo", { hostname: host, errno: -3008 });
    return { address, family: family === 6 ? "IPv6" : "IPv4" };
  }

  /**
   * Attaches a socket to the network at this host's address: "0.0.0.0", "::",
   * loopback and the host's own address all bind there. Port 0 picks the next
   * free ephemeral port (from 49152). Fails with EADDRINUSE or EADDRNOTAVAIL as
   * the kernel would.
   */
  async bindUdp(o: BindOptions): Promise<UdpHandle> {
    if (this.#crashed) throw sysError("ENETDOWN", `${o.host}:${o.port} (host crashed)`, "bind");
    if (!ANY.has(o.host) && o.host !== this.address && o.host !== `::ffff:${this.address}`)
      throw sysError("EADDRNOTAVAIL", `${o.host}:${o.port}`, "bind", { errno: -99, address: o.host, port: o.port });
    let port = o.port;
    if (port === 0) {
      port = this.#allocatePort();
    } else if (this.loop._bound(this.address, port)) {
      throw sysError("EADDRINUSE", `${o.host}:${port}`, "bind", { errno: -98, address: o.host, port });
    }
    const peer = o.connectTo ? { address: unmap(o.connectTo.address), port: o.connectTo.port } : undefined;
    const handle = new SimUdpHandle(this, { address: this.address, port, family: this.family }, peer);
    try {
      this.net.attach(this.address, port, handle);
    } catch {
      throw sysError("EADDRINUSE", `${o.host}:${port}`, "bind", { errno: -98, address: o.host, port });
    }
    this.#handles.add(handle);
    this.loop._addHandle(handle);
    return handle;
  }

  /**
   * The host vanishes: its sockets leave the network without sending another
   * datagram, its timers and deferred work are dropped, and datagrams sent to
   * it vanish without ICMP. API objects on it stay as they were (close them
   * to clean up; they no longer reach the network).
   */
  crash(): void {
    this.#crashed = true;
    for (const h of [...this.#handles]) h._detach(false);
    this.loop._forgetOwner(this);
  }

  /** Brings a crashed host back (empty: nothing is bound). */
  restart(): void {
    this.#crashed = false;
  }

  #allocatePort(): number {
    const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
    for (let i = 0; i < span; i++) {
      const port = this.#nextPort;
      this.#nextPort = port === EPHEMERAL_LAST ? EPHEMERAL_FIRST : port + 1;
      if (!this.loop._bound(this.address, port)) return port;
    }
    throw sysError("EADDRINUSE", `${this.address}:0 (no ephemeral port left)`, "bind");
  }

  /** @internal */
  _forget(h: SimUdpHandle): void {
    this.#handles.delete(h);
  }
}

/** "::ffff:a.b.c.d" → "a.b.c.d" (the simulator addresses IPv4 hosts plainly). */
function unmap(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** A bound simulated UDP socket: a `UdpHandle` for the driver and a `DatagramNode` for the network. */
class SimUdpHandle implements UdpHandle, DatagramNode {
  readonly local: Address & { family: "IPv4" | "IPv6" };
  readonly runtime: SimRuntime;
  onMessage: (data: Uint8Array, from: Address) => void = () => {};
  onError: (err: Error & { code?: string }) => void = () => {};
  readonly #peer: Address | undefined;
  #queue: Transmit[] = [];
  #head = 0;
  #closed = false;
  /** The simulator delivers without a socket buffer (links have their own queues). */
  readonly receiveBufferBytes = 0;

  constructor(runtime: SimRuntime, local: Address & { family: "IPv4" | "IPv6" }, peer: Address | undefined) {
    this.runtime = runtime;
    this.local = Object.freeze(local);
    this.#peer = peer;
  }

  get peer(): Address | undefined {
    return this.#peer;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(data: Uint8Array, to: Address): void {
    if (this.#closed) return;
    const dest = this.#peer ?? { address: unmap(to.address), port: to.port };
    this.#queue.push({ to: dest, data });
    this.runtime.loop._touch();
  }

  close(): void {
    if (this.#closed) return;
    this._detach(true);
  }

  ref(): void {}
  unref(): void {}

  /** @internal Leaves the network; `flush` puts datagrams still queued on the wire first (a real close does not discard sent datagrams). */
  _detach(flush: boolean): void {
    const net = this.runtime.net;
    if (flush) {
      for (let t = this.pollTransmit(); t; t = this.pollTransmit()) net.inject(this.local, t.to, t.data);
    }
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
    net.detach(this.local.address, this.local.port);
    this.runtime.loop._removeHandle(this);
    this.runtime._forget(this);
  }

  // ----- DatagramNode -----

  handleDatagram(_now: Instant, from: Address, data: Uint8Array): void {
    if (this.#closed) return;
    const peer = this.#peer;
    if (peer && (peer.port !== from.port || peer.address !== from.address)) return; // connected: peer only
    const loop = this.runtime.loop;
    loop._touch();
    try {
      this.onMessage(Buffer.from(data.buffer, data.byteOffset, data.byteLength), from);
    } catch (err) {
      loop._fail(err);
    }
  }

  handleTimeout(): void {}

  pollTransmit(): Transmit | undefined {
    if (this.#head >= this.#queue.length) {
      if (this.#head > 0) {
        this.#queue = [];
        this.#head = 0;
      }
      return undefined;
    }
    return this.#queue[this.#head++];
  }

  pollTimeout(): Instant | undefined {
    return undefined;
  }
}

/**
 * Runtimes for several hosts of one network, e.g.
 * `const { loop, hosts: [a, b] } = createSimRuntimes(net, ["10.0.0.1", "10.0.0.2"])`.
 */
export function createSimRuntimes(net: SimNetwork, addresses: string[]): { loop: SimLoop; hosts: SimRuntime[] } {
  const loop = SimLoop.for(net);
  return { loop, hosts: addresses.map((a) => loop.host(a)) };
}
