/**
 * What the driver needs from its environment: a clock, one re-armable timer,
 * deferred work, randomness and bound UDP sockets. `node-runtime.ts` provides
 * them from node:dgram and the event loop; `sim-runtime.ts` from the simulator,
 * so the public API can run on virtual time in tests.
 */

import type { Address } from "../core/address.js";
import type { CryptoProvider } from "../core/crypto/provider.js";
import type { Rng } from "../core/rng.js";
import type { Instant } from "../core/time.js";
import type { Checksum } from "../core/wire/crc32.js";

/** A bound UDP socket as the driver uses it. */
export interface UdpHandle {
  /** The address and port the socket is bound to. */
  readonly local: Address & { family: "IPv4" | "IPv6" };
  /** The peer a connected socket is limited to. */
  readonly peer: Address | undefined;
  /** Sends one datagram; the handle may keep `data`, so callers pass a buffer they no longer modify. */
  send(data: Uint8Array, to: Address): void;
  /**
   * Pushes out what `send()` queued, for handles that batch their sends; the driver calls it after each
   * batch. True when every queued datagram is with the kernel (their buffers may be reused); false when
   * some wait for the socket to become writable (the handle still holds them).
   */
  flush?(): boolean;
  /** Receives datagrams; set once by the driver. */
  onMessage: (data: Uint8Array, from: Address) => void;
  /** Reports an asynchronous socket error (for a connected socket, ECONNREFUSED means ICMP port unreachable). */
  onError: (err: Error & { code?: string }) => void;
  /** Bytes the kernel lets the socket queue for reading, in its own accounting (0 when unknown). */
  readonly receiveBufferBytes: number;
  /** Closes the socket. */
  close(): void;
  /** Whether the socket keeps the process alive. */
  ref(): void;
  unref(): void;
}

/** Options for binding a UDP socket. */
export interface BindOptions {
  port: number;
  /** Numeric address to bind; "0.0.0.0"/"::" for all. */
  host: string;
  /** Kernel receive / send buffer sizes in bytes. */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** For "::": accept only IPv6. */
  ipv6Only?: boolean;
  /** Connect the socket to this peer: faster sends, and ICMP errors are reported (ECONNREFUSED). */
  connectTo?: Address;
}

/** A timer that is re-armed rather than re-created. */
export interface Timer {
  /** Fires the callback at `at` (µs on the runtime clock), replacing any earlier arming. */
  arm(at: Instant): void;
  cancel(): void;
  /** Whether a pending arming keeps the process alive. */
  ref(): void;
  unref(): void;
}

/** The environment a driver runs in. */
export interface Runtime {
  /** Monotonic time in µs. */
  now(): Instant;
  /** A timer that calls `fn` when due. */
  createTimer(fn: () => void): Timer;
  /** Runs `fn` after the current batch of I/O (once per event-loop turn). */
  defer(fn: () => void): void;
  /** Randomness for connection ids and sequence numbers. */
  readonly rng: Rng;
  /** Cryptographic primitives for encrypted connections. */
  readonly crypto?: CryptoProvider;
  /** A native CRC-32 for the wire checksum, when the platform has one (else the core's pure one is used). */
  readonly checksum?: Checksum;
  /** Binds a UDP socket. */
  bindUdp(options: BindOptions): Promise<UdpHandle>;
  /** Resolves a host name to a numeric address (IP literals pass through). */
  lookup(host: string): Promise<{ address: string; family: "IPv4" | "IPv6" }>;
}
