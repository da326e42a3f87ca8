/**
 * The contract between the simulator and whatever it drives. Nodes are
 * sans-IO: they never read a clock or touch a socket; the simulator feeds
 * them time and datagrams and collects what they want to send.
 */

import type { Address } from "../core/address.js";
import type { Instant } from "../core/time.js";

/** A datagram a node wants sent. */
export interface Transmit {
  readonly to: Address;
  /** The simulator copies these bytes before `pollTransmit` is called again. */
  readonly data: Uint8Array;
}

/** Anything that exchanges datagrams and keeps timers, driven by the simulator. The core Endpoint implements this structurally. */
export interface DatagramNode {
  handleDatagram(now: Instant, from: Address, data: Uint8Array): void;
  handleTimeout(now: Instant): void;
  /** Next datagram to send, or undefined when none is queued. */
  pollTransmit(now: Instant): Transmit | undefined;
  /** Absolute time of the node's next timer, or undefined / NEVER when none. */
  pollTimeout(): Instant | undefined;
}
