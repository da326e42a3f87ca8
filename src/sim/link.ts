/**
 * One direction of a simulated path between two hosts. Every datagram goes
 * through a fixed pipeline: partition check → MTU → loss (Bernoulli, then
 * Gilbert–Elliott) → duplicate → corrupt → drop-tail bottleneck queue at
 * `rate` → delay + jitter → delivery. All randomness comes from the link's own
 * seeded stream, so one link's traffic never perturbs another's. The link
 * copies a datagram's bytes only once it is admitted to the wire; small
 * copies are views into shared 64 KiB slabs (as Node's Buffer pool does), so
 * code touching `data.buffer` must honour `byteOffset` and `byteLength`.
 */

import type { Address } from "../core/address.js";
import { SeededRng } from "../core/rng.js";
import type { Duration, Instant } from "../core/time.js";
import { MS } from "../core/time.js";

/** Gilbert–Elliott two-state loss model, advanced once per datagram. */
export interface BurstLoss {
  /** Probability of moving from the good to the bad state. */
  readonly p: number;
  /** Probability of moving from the bad to the good state (mean bad run = 1/r datagrams). */
  readonly r: number;
  /** Loss probability while bad (default 1). */
  readonly lossInBad?: number;
  /** Loss probability while good (default 0). */
  readonly lossInGood?: number;
}

/** A time interval `[start, end)` during which a link drops everything entering it. */
export interface LinkPartition {
  readonly start: Instant;
  readonly end: Instant;
}

/** Impairments of one link direction. */
export interface LinkConfig {
  /** One-way base delay, µs. */
  delay: Duration;
  /** Per-datagram delay variation, µs, uniform in [-jitter, +jitter]; the total delay is clipped at 0. */
  jitter: Duration;
  /** Whether jittered datagrams may overtake each other; when false a datagram never arrives before one sent ahead of it. */
  reorder: boolean;
  /** Independent per-datagram loss probability. */
  loss: number;
  /** Optional correlated loss, applied in addition to `loss`. */
  burstLoss?: BurstLoss;
  /** Probability that one random bit of an admitted datagram is flipped. */
  corrupt: number;
  /** Probability that a second copy is sent; it queues and is delayed on its own. */
  duplicate: number;
  /** Bottleneck rate in bits per second; 0 means unlimited (no queue). */
  rate: number;
  /** Drop-tail queue limit in bytes, counting datagrams not yet fully serialized. */
  queueBytes: number;
  /** Drop-tail queue limit in datagrams (Infinity for bytes-only). */
  queuePackets: number;
  /** Largest datagram carried, in bytes. */
  mtu: number;
  /** Intervals during which the link is down. */
  partitions: readonly LinkPartition[];
}

/** Default bottleneck queue: 64 KiB, about 5 ms at 100 Mbit/s or 50 full 1280-byte datagrams. */
export const DEFAULT_QUEUE_BYTES = 64 * 1024;

/**
 * Settings for links nobody configured: 10 ms one way (so round-trip times are
 * never zero), no impairments, unlimited rate, the largest UDP/IPv4 payload.
 */
export const DEFAULT_LINK_CONFIG: Readonly<LinkConfig> = Object.freeze({
  delay: 10 * MS,
  jitter: 0,
  reorder: true,
  loss: 0,
  burstLoss: undefined,
  corrupt: 0,
  duplicate: 0,
  rate: 0,
  queueBytes: DEFAULT_QUEUE_BYTES,
  queuePackets: Number.POSITIVE_INFINITY,
  mtu: 65507,
  partitions: Object.freeze([]) as readonly LinkPartition[],
});

/** Counters for one link direction. `corrupted` and `duplicated` annotate datagrams that are also counted elsewhere. */
export interface LinkStats {
  /** Datagrams handed to the link by senders (duplicates not included). */
  sent: number;
  /** Datagrams handed to a node at the far end. */
  delivered: number;
  /** Dropped by `loss` or `burstLoss`. */
  lost: number;
  /** Admitted to the wire with one bit flipped. */
  corrupted: number;
  /** Extra copies created. */
  duplicated: number;
  /** Dropped because the bottleneck queue was full. */
  queueDrops: number;
  /** Dropped for exceeding the MTU. */
  mtuDrops: number;
  /** Dropped because the link was down. */
  partitionDrops: number;
  /** Arrived where no node is attached. */
  noHost: number;
  /** Payload bytes of delivered datagrams. */
  bytesDelivered: number;
}

/** What happened to a datagram, as reported to a trace hook. */
export type DatagramFate =
  | "delivered"
  | "lost"
  | "corrupted"
  | "duplicated"
  | "queue-drop"
  | "mtu-drop"
  | "partition-drop"
  | "no-host";

/** Where a link hands admitted datagrams and trace notes; implemented by the network. */
export interface LinkSink {
  /** Deliver `data` (owned by the sink from now on) at time `at`. */
  schedule(at: Instant, link: Link, from: Address, to: Address, data: Uint8Array): void;
  /** Report a fate other than delivery. */
  trace(time: Instant, from: Address, to: Address, size: number, fate: DatagramFate): void;
}

/** A fresh all-zero stats object. */
export function emptyLinkStats(): LinkStats {
  return {
    sent: 0,
    delivered: 0,
    lost: 0,
    corrupted: 0,
    duplicated: 0,
    queueDrops: 0,
    mtuDrops: 0,
    partitionDrops: 0,
    noHost: 0,
    bytesDelivered: 0,
  };
}

/** Adds every counter of `b` into `a`. */
export function addLinkStats(a: LinkStats, b: Readonly<LinkStats>): LinkStats {
  a.sent += b.sent;
  a.delivered += b.delivered;
  a.lost += b.lost;
  a.corrupted += b.corrupted;
  a.duplicated += b.duplicated;
  a.queueDrops += b.queueDrops;
  a.mtuDrops += b.mtuDrops;
  a.partitionDrops += b.partitionDrops;
  a.noHost += b.noHost;
  a.bytesDelivered += b.bytesDelivered;
  return a;
}

/** One direction of a path between two hosts; created by `SimNetwork`, used for stats and runtime changes. */
export class Link {
  /** Sending host's address. */
  readonly from: string;
  /** Receiving host's address. */
  readonly to: string;
  #config: LinkConfig;
  readonly #stats: LinkStats = emptyLinkStats();
  readonly #rng: SeededRng;
  readonly #sink: LinkSink;
  #down = false;
  #bad = false;
  #usPerByte = 0;
  #busyUntil = Number.NEGATIVE_INFINITY;
  #lastArrival = Number.NEGATIVE_INFINITY;
  // Ring buffer of datagrams in the bottleneck: serialization end time and size.
  #qDepart = new Float64Array(64);
  #qSize = new Float64Array(64);
  #qHead = 0;
  #qLen = 0;
  #qBytes = 0;

  constructor(from: string, to: string, config: Partial<LinkConfig>, seed: number, sink: LinkSink) {
    this.from = from;
    this.to = to;
    this.#rng = new SeededRng(seed);
    this.#sink = sink;
    this.#config = resolveLinkConfig(config);
    this.#usPerByte = this.#config.rate > 0 ? 8e6 / this.#config.rate : 0;
  }

  /** The current settings. */
  get config(): Readonly<LinkConfig> {
    return this.#config;
  }

  /** Live counters. */
  get stats(): Readonly<LinkStats> {
    return this.#stats;
  }

  /** Whether the link was taken down with `setDown(true)` (partitions not included). */
  get down(): boolean {
    return this.#down;
  }

  /** Datagrams in the bottleneck queue (including the one being serialized) at `now`. */
  queuedPackets(now: Instant): number {
    let n = 0;
    this.#forQueued(now, () => n++);
    return n;
  }

  /** Bytes in the bottleneck queue at `now`. */
  queuedBytes(now: Instant): number {
    let bytes = 0;
    this.#forQueued(now, (size) => {
      bytes += size;
    });
    return bytes;
  }

  #forQueued(now: Instant, fn: (size: number) => void): void {
    const mask = this.#qDepart.length - 1;
    for (let i = 0; i < this.#qLen; i++) {
      const j = (this.#qHead + i) & mask;
      if (this.#qDepart[j] > now) fn(this.#qSize[j]);
    }
  }

  /**
   * Changes settings; fields not given (or given as undefined) keep their
   * current value, except `burstLoss: undefined`, which turns burst loss off.
   * Queue and loss-model state carry over.
   */
  configure(config: Partial<LinkConfig>): void {
    this.#config = resolveLinkConfig(config, this.#config);
    this.#usPerByte = this.#config.rate > 0 ? 8e6 / this.#config.rate : 0;
  }

  /** Takes the link down (drops everything entering) or brings it back up. In-flight datagrams still arrive. */
  setDown(down: boolean): void {
    this.#down = down;
  }

  /** Whether a datagram entering at `now` would be dropped as partitioned. */
  isDown(now: Instant): boolean {
    if (this.#down) return true;
    for (const p of this.#config.partitions) {
      if (now >= p.start && now < p.end) return true;
    }
    return false;
  }

  /** Puts a datagram on the link at `now`. `data` is not retained: admitted datagrams are copied. */
  send(now: Instant, from: Address, to: Address, data: Uint8Array): void {
    const c = this.#config;
    const s = this.#stats;
    s.sent++;
    if (this.isDown(now)) {
      s.partitionDrops++;
      this.#sink.trace(now, from, to, data.length, "partition-drop");
      return;
    }
    if (data.length > c.mtu) {
      s.mtuDrops++;
      this.#sink.trace(now, from, to, data.length, "mtu-drop");
      return;
    }
    if (this.#lose()) {
      s.lost++;
      this.#sink.trace(now, from, to, data.length, "lost");
      return;
    }
    const dup = c.duplicate > 0 && this.#rng.nextFloat() < c.duplicate;
    this.#admit(now, from, to, data);
    if (dup) {
      s.duplicated++;
      this.#sink.trace(now, from, to, data.length, "duplicated");
      this.#admit(now, from, to, data);
    }
  }

  /** Called by the network when a datagram reaches the far end; `found` is whether a node was there. */
  noteArrival(size: number, found: boolean): void {
    if (found) {
      this.#stats.delivered++;
      this.#stats.bytesDelivered += size;
    } else {
      this.#stats.noHost++;
    }
  }

  #lose(): boolean {
    const c = this.#config;
    const rng = this.#rng;
    let lost = c.loss > 0 && rng.nextFloat() < c.loss;
    const ge = c.burstLoss;
    if (ge !== undefined) {
      if (this.#bad) {
        if (rng.nextFloat() < ge.r) this.#bad = false;
      } else if (rng.nextFloat() < ge.p) {
        this.#bad = true;
      }
      const pl = this.#bad ? (ge.lossInBad ?? 1) : (ge.lossInGood ?? 0);
      if (pl >= 1 || (pl > 0 && rng.nextFloat() < pl)) lost = true;
    }
    return lost;
  }

  #admit(now: Instant, from: Address, to: Address, src: Uint8Array): void {
    const c = this.#config;
    const rng = this.#rng;
    const size = src.length;
    let flipAt = -1;
    let flipMask = 0;
    if (c.corrupt > 0 && size > 0 && rng.nextFloat() < c.corrupt) {
      flipAt = rng.nextInt(size);
      flipMask = 1 << rng.nextInt(8);
    }
    let departure = now;
    if (this.#usPerByte > 0) {
      this.#dequeue(now);
      if (this.#qLen > 0 && (this.#qBytes + size > c.queueBytes || this.#qLen >= c.queuePackets)) {
        this.#stats.queueDrops++;
        this.#sink.trace(now, from, to, size, "queue-drop");
        return;
      }
      departure = (this.#busyUntil > now ? this.#busyUntil : now) + size * this.#usPerByte;
      this.#busyUntil = departure;
      this.#enqueue(departure, size);
    }
    const data = copyBytes(src);
    if (flipAt >= 0) {
      data[flipAt] ^= flipMask;
      this.#stats.corrupted++;
      this.#sink.trace(now, from, to, size, "corrupted");
    }
    let at = departure + c.delay;
    if (c.jitter > 0) {
      at += (rng.nextFloat() * 2 - 1) * c.jitter;
      if (at < departure) at = departure;
    }
    // Whole microseconds; the epsilon absorbs float error in the serialization sum.
    at = Math.ceil(at - 1e-6);
    if (!c.reorder && at < this.#lastArrival) at = this.#lastArrival;
    if (at > this.#lastArrival) this.#lastArrival = at;
    this.#sink.schedule(at, this, from, to, data);
  }

  #dequeue(now: Instant): void {
    const mask = this.#qDepart.length - 1;
    while (this.#qLen > 0 && this.#qDepart[this.#qHead] <= now) {
      this.#qBytes -= this.#qSize[this.#qHead];
      this.#qHead = (this.#qHead + 1) & mask;
      this.#qLen--;
    }
  }

  #enqueue(departure: Instant, size: number): void {
    let cap = this.#qDepart.length;
    if (this.#qLen === cap) {
      const depart = new Float64Array(cap * 2);
      const sizes = new Float64Array(cap * 2);
      for (let i = 0; i < this.#qLen; i++) {
        const j = (this.#qHead + i) & (cap - 1);
        depart[i] = this.#qDepart[j];
        sizes[i] = this.#qSize[j];
      }
      this.#qDepart = depart;
      this.#qSize = sizes;
      this.#qHead = 0;
      cap *= 2;
    }
    const tail = (this.#qHead + this.#qLen) & (cap - 1);
    this.#qDepart[tail] = departure;
    this.#qSize[tail] = size;
    this.#qLen++;
    this.#qBytes += size;
  }
}

const SLAB_BYTES = 64 * 1024;
const MAX_SLAB_COPY = 4 * 1024;
let slab = new ArrayBuffer(SLAB_BYTES);
let slabUsed = 0;

/** A private copy of `src`; allocating a fresh ArrayBuffer per datagram is an order of magnitude slower. */
function copyBytes(src: Uint8Array): Uint8Array {
  const size = src.length;
  if (size > MAX_SLAB_COPY) return new Uint8Array(src);
  if (slabUsed + size > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES);
    slabUsed = 0;
  }
  const data = new Uint8Array(slab, slabUsed, size);
  slabUsed = (slabUsed + size + 7) & ~7;
  data.set(src);
  return data;
}

/**
 * `over` laid on `base` and validated (throws RangeError). Fields given as
 * undefined keep `base`'s value, except `burstLoss`, which is cleared.
 */
export function resolveLinkConfig(
  over: Partial<LinkConfig>,
  base: Readonly<LinkConfig> = DEFAULT_LINK_CONFIG,
): LinkConfig {
  const c: LinkConfig = { ...base };
  for (const key of Object.keys(over) as (keyof LinkConfig)[]) {
    const v = over[key];
    if (v !== undefined || key === "burstLoss") (c as unknown as Record<string, unknown>)[key] = v;
  }
  const prob = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(v >= 0 && v <= 1)) throw new RangeError(`link ${name} must be in [0, 1], got ${v}`);
  };
  const nonNegative = (name: string, v: number): void => {
    if (!(v >= 0)) throw new RangeError(`link ${name} must be >= 0, got ${v}`);
  };
  nonNegative("delay", c.delay);
  nonNegative("jitter", c.jitter);
  if (!Number.isFinite(c.delay) || !Number.isFinite(c.jitter))
    throw new RangeError("link delay and jitter must be finite");
  prob("loss", c.loss);
  prob("corrupt", c.corrupt);
  prob("duplicate", c.duplicate);
  if (c.burstLoss !== undefined) {
    prob("burstLoss.p", c.burstLoss.p);
    prob("burstLoss.r", c.burstLoss.r);
    prob("burstLoss.lossInBad", c.burstLoss.lossInBad);
    prob("burstLoss.lossInGood", c.burstLoss.lossInGood);
  }
  nonNegative("rate", c.rate);
  if (!(c.queueBytes > 0)) throw new RangeError(`link queueBytes must be > 0, got ${c.queueBytes}`);
  if (!(c.queuePackets >= 1)) throw new RangeError(`link queuePackets must be >= 1, got ${c.queuePackets}`);
  nonNegative("mtu", c.mtu);
  for (const p of c.partitions) {
    if (!(p.start <= p.end)) throw new RangeError(`link partition must have start <= end, got [${p.start}, ${p.end})`);
  }
  return {
    ...c,
    burstLoss: c.burstLoss === undefined ? undefined : { ...c.burstLoss },
    partitions: c.partitions.map(({ start, end }) => ({ start, end })),
  };
}
