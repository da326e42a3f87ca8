/**
 * Events the core reports to its driver, as discriminated unions. The driver
 * drains them with `pollEvent()` after each input.
 */

import type { Address } from "./address.js";
import type { State } from "./connection/state.js";
import type { RudpConnectionError } from "./errors.js";

/** Something that happened on one connection. */
export type ConnectionEvent =
  /** The handshake completed (ESTABLISHED). */
  | { type: "connected" }
  /** New stream bytes can be read with `read()`. */
  | { type: "readable" }
  /** New whole messages can be read with `readMessage()`. */
  | { type: "message" }
  /** The peer ended its writing (its FIN arrived in order); reads drain then end. */
  | { type: "end" }
  /** Everything the application queued was acknowledged (the send buffer is empty). */
  | { type: "drained" }
  /** The peer's address changed and the new path was validated (NAT rebinding). */
  | { type: "path"; remote: Address }
  /** Path MTU discovery changed the datagram size (raised after a confirmed probe, or lowered on a black hole). */
  | { type: "mtu"; size: number }
  /** The connection moved between RFC 9293 states. */
  | { type: "state"; from: State; to: State }
  /** The connection reached CLOSED; `error` says why if it failed. */
  | { type: "closed"; error: RudpConnectionError | undefined };
