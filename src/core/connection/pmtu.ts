/**
 * Datagram packetization-layer path MTU discovery (DPLPMTUD, RFC 8899): start
 * at a size every path carries (the configured maxPacketSize, 1200 bytes by
 * default), then probe upward with padded PING|CHALLENGE packets through a
 * ladder of common sizes; a probe counts as delivered only when the peer echoes
 * its challenge. Three lost probes at a size end the search (RFC 8899
 * MAX_PROBES); the search is retried after PMTU_RAISE_TIMER. Repeated
 * retransmission timeouts at a raised size mean a black hole: fall back to
 * the base size.
 */

import type { Duration, Instant } from "../time.js";
import { NEVER, SECOND } from "../time.js";

/** UDP payload sizes worth probing: IPv6/IPv4 at 1500, jumbo frames, and up to the 64 KB loopback limit. */
const LADDER = [1452, 1472, 4068, 8952, 8972, 16356, 32740, 65507];
const MAX_PROBES = 3;
const RAISE_TIMER: Duration = 600 * SECOND;

/** A probe to send. */
export interface MtuProbe {
  size: number;
  data: Uint8Array;
}

/** The search state for one connection. */
export class PathMtu {
  readonly base: number;
  /** The largest size confirmed to get through. */
  current: number;
  readonly #max: number;
  #next = 0;
  #probe:
    | { size: number; data: Uint8Array; sentAt: Instant; attempts: number; due: Instant; expired: boolean }
    | undefined;
  #searching = true;
  #raiseAt: Instant = NEVER;
  #probesSent = 0;

  constructor(base: number, max: number) {
    this.base = base;
    this.current = base;
    this.#max = max;
    this.#skipBelow(base);
  }

  /** Probes sent so far. */
  get probesSent(): number {
    return this.#probesSent;
  }
  /** True while sizes remain to be tried. */
  get searching(): boolean {
    return this.#searching;
  }

  /** The probe to send now, if one is due; `rto` paces retries. */
  poll(now: Instant, rto: Duration, random: () => number): MtuProbe | undefined {
    if (!this.#searching) return undefined;
    if (this.#next >= LADDER.length || LADDER[this.#next] > this.#max) {
      this.#finish(now);
      return undefined;
    }
    const p = this.#probe;
    if (p && !p.expired && now < p.due) return undefined;
    if (p && p.attempts >= MAX_PROBES) {
      this.#finish(now); // this size does not get through: the search is over
      return undefined;
    }
    const size = LADDER[this.#next];
    const data = new Uint8Array(8);
    const view = new DataView(data.buffer);
    view.setUint32(0, random());
    view.setUint32(4, random());
    this.#probe = {
      size,
      data,
      sentAt: now,
      attempts: (p?.size === size ? p.attempts : 0) + 1,
      due: now + rto,
      expired: false,
    };
    this.#probesSent++;
    return { size, data };
  }

  /** When the timer should fire: a probe's timeout, or the raise timer. */
  deadline(): Instant {
    if (!this.#searching) return this.#raiseAt;
    const p = this.#probe;
    return p && !p.expired ? p.due : NEVER; // otherwise the next pollTransmit sends a probe
  }

  /** The timer fired: an outstanding probe that timed out is retried at the next poll. Returns true if one did. */
  onTimer(now: Instant): boolean {
    const p = this.#probe;
    if (this.#searching && p && !p.expired && now >= p.due) {
      p.expired = true;
      return true;
    }
    if (!this.#searching && now >= this.#raiseAt) {
      this.#searching = true; // PMTU_RAISE_TIMER expired: look for a larger size again
      this.#skipBelow(this.current);
      return true;
    }
    return false;
  }

  /** A path response arrived: returns the newly confirmed size if it answers the probe. */
  onResponse(data: Uint8Array): number | undefined {
    const p = this.#probe;
    if (!p) return undefined;
    for (let i = 0; i < 8; i++) if (p.data[i] !== data[i]) return undefined;
    this.#probe = undefined;
    this.current = p.size;
    this.#next++;
    return p.size;
  }

  /** Repeated timeouts at a raised size: fall back to the base size. Returns true if it did. */
  onBlackHole(now: Instant): boolean {
    if (this.current === this.base) return false;
    this.current = this.base;
    this.#probe = undefined;
    this.#searching = false;
    this.#raiseAt = now + RAISE_TIMER;
    return true;
  }

  #finish(now: Instant): void {
    this.#searching = false;
    this.#probe = undefined;
    this.#raiseAt = now + RAISE_TIMER;
  }

  #skipBelow(size: number): void {
    this.#next = 0;
    while (this.#next < LADDER.length && LADDER[this.#next] <= size) this.#next++;
  }
}
