/**
 * Transport configuration: every tunable with its documented default, and the
 * validation that turns a user's partial options into a complete config or
 * throws an error naming the bad option.
 */

import { RudpArgumentError } from "./errors.js";
import { type Duration, MS, SECOND } from "./time.js";
import { DATA_PACKET_OVERHEAD, MAX_DATAGRAM_SIZE, MIN_MAX_PACKET_SIZE } from "./wire/packet.js";

/** Every transport option, fully resolved. Durations are microseconds. */
export interface TransportConfig {
  /** Largest datagram sent (UDP payload bytes); MSS = maxPacketSize − DATA_PACKET_OVERHEAD. */
  maxPacketSize: number;
  /** Receive buffer in bytes: the window advertised to the peer when nothing is unread. */
  receiveWindow: number;
  /** Largest message accepted by the message API, in bytes. */
  maxMessageSize: number;
  /** Initial congestion window in packets (RFC 6928). */
  initialWindowPackets: number;
  /** Congestion controller, by name (see congestion/index.ts). */
  congestionControl: string;
  /** RTO before the first RTT sample (RFC 6298 §2.1). */
  initialRto: Duration;
  /** Lower bound on the RTO. */
  minRto: Duration;
  /** Upper bound on the RTO, backoff included. */
  maxRto: Duration;
  /** Consecutive retransmission timeouts after which the connection fails with ETIMEDOUT. */
  maxRetransmissions: number;
  /** SYN / SYN-ACK transmissions after the first before the handshake gives up. */
  maxSynRetransmissions: number;
  /** Duplicate ACKs or SACKed packets above a hole that mark it lost (RFC 5681 / RFC 6675 DupThresh). */
  fastRetransmitThreshold: number;
  /** Longest an ACK is delayed; 0 acknowledges every packet at once. */
  maxAckDelay: Duration;
  /** Ack-eliciting packets received before an ACK is sent without waiting. */
  ackEveryPackets: number;
  /** Silence after which a keepalive probe is sent; 0 disables keepalives. */
  keepaliveInterval: Duration;
  /** Silence from the peer, while nothing is outstanding, after which the connection fails with ETIMEDOUT; 0 disables. (With data outstanding, maxRetransmissions decides.) */
  idleTimeout: Duration;
  /** How long TIME-WAIT lasts (re-ACKing a lost final FIN). */
  timeWait: Duration;
  /** Tail-loss probe timeout as a multiple of the smoothed RTT (RFC 8985 §7.2 uses 2). */
  probeTimeoutFactor: number;
  /**
   * Path MTU discovery (RFC 8899) probes up to this datagram size, and the
   * handshake announces it as the largest datagram we accept; at or below
   * maxPacketSize, discovery is off.
   */
  maxProbePacketSize: number;
  /**
   * Extra copies of each retransmission sent while no new data waits to be sent (the tail of a
   * transfer, an interactive sender between messages); 0 sends every resend once.
   */
  tailResendCopies: number;
}

/** The defaults, as documented in README.md. */
export const DEFAULT_CONFIG: Readonly<TransportConfig> = Object.freeze({
  maxPacketSize: 1200,
  receiveWindow: 16 * 1024 * 1024,
  maxMessageSize: 16 * 1024 * 1024,
  initialWindowPackets: 10,
  congestionControl: "cubic",
  initialRto: 1 * SECOND,
  minRto: 200 * MS,
  maxRto: 60 * SECOND,
  maxRetransmissions: 15,
  maxSynRetransmissions: 6,
  fastRetransmitThreshold: 3,
  maxAckDelay: 10 * MS,
  ackEveryPackets: 2,
  keepaliveInterval: 15 * SECOND,
  idleTimeout: 60 * SECOND,
  timeWait: 4 * SECOND,
  probeTimeoutFactor: 2,
  maxProbePacketSize: MAX_DATAGRAM_SIZE,
  tailResendCopies: 1,
});

/**
 * Named bundles of defaults. "low-latency" trades bandwidth for delay and stays
 * under congestion control: every packet is acknowledged at once, the RTO may
 * fall to 50 ms, and tail-loss probes fire after 1.25 × SRTT instead of 2 ×.
 */
export const PROFILES: Readonly<Record<string, Partial<TransportConfig>>> = Object.freeze({
  default: {},
  "low-latency": {
    maxAckDelay: 0,
    ackEveryPackets: 1,
    minRto: 50 * MS,
    initialRto: 300 * MS,
    probeTimeoutFactor: 1.25,
  },
});

type Rule = { min: number; max: number; integer: boolean };

const RULES: Record<Exclude<keyof TransportConfig, "congestionControl">, Rule> = {
  maxPacketSize: { min: MIN_MAX_PACKET_SIZE, max: MAX_DATAGRAM_SIZE, integer: true },
  receiveWindow: { min: 4096, max: 0xffffffff, integer: true },
  maxMessageSize: { min: 1, max: 2 ** 31, integer: true },
  initialWindowPackets: { min: 1, max: 1000, integer: true },
  initialRto: { min: 1 * MS, max: 600 * SECOND, integer: false },
  minRto: { min: 1 * MS, max: 600 * SECOND, integer: false },
  maxRto: { min: 1 * MS, max: 3600 * SECOND, integer: false },
  maxRetransmissions: { min: 1, max: 100, integer: true },
  maxSynRetransmissions: { min: 0, max: 100, integer: true },
  fastRetransmitThreshold: { min: 1, max: 1000, integer: true },
  maxAckDelay: { min: 0, max: 1 * SECOND, integer: false },
  ackEveryPackets: { min: 1, max: 64, integer: true },
  keepaliveInterval: { min: 0, max: 24 * 3600 * SECOND, integer: false },
  idleTimeout: { min: 0, max: 24 * 3600 * SECOND, integer: false },
  timeWait: { min: 0, max: 600 * SECOND, integer: false },
  probeTimeoutFactor: { min: 1, max: 10, integer: false },
  maxProbePacketSize: { min: 0, max: MAX_DATAGRAM_SIZE, integer: true },
  tailResendCopies: { min: 0, max: 3, integer: true },
};

/**
 * Merges `options` over the defaults and validates every field. Throws
 * ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE / ERR_INVALID_ARG_VALUE naming the option.
 */
export function resolveConfig(
  options: Partial<TransportConfig> & { profile?: string } = {},
  knownControllers?: readonly string[],
): TransportConfig {
  if (options === null || typeof options !== "object")
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "options" argument must be an object');
  const { profile, ...rest } = options;
  if (profile !== undefined && (typeof profile !== "string" || !Object.hasOwn(PROFILES, profile)))
    throw new RudpArgumentError(
      "ERR_INVALID_ARG_VALUE",
      `The "profile" option must be one of ${Object.keys(PROFILES).join(", ")}; received ${String(profile)}`,
    );
  const config: TransportConfig = { ...DEFAULT_CONFIG, ...(profile !== undefined ? PROFILES[profile] : {}) };
  for (const key of Object.keys(rest) as (keyof TransportConfig)[]) {
    const value = rest[key];
    if (value === undefined) continue;
    if (key === "congestionControl") {
      if (typeof value !== "string")
        throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "congestionControl" option must be a string');
      if (knownControllers && !knownControllers.includes(value))
        throw new RudpArgumentError(
          "ERR_INVALID_ARG_VALUE",
          `The "congestionControl" option must be one of ${knownControllers.join(", ")}; received "${value}"`,
        );
      config.congestionControl = value;
      continue;
    }
    const rule = Object.hasOwn(RULES, key) ? RULES[key] : undefined;
    if (!rule) throw new RudpArgumentError("ERR_INVALID_ARG_VALUE", `Unknown option "${String(key)}"`);
    if (typeof value !== "number" || Number.isNaN(value))
      throw new RudpArgumentError(
        "ERR_INVALID_ARG_TYPE",
        `The "${key}" option must be a number; received ${typeof value}`,
      );
    if (value < rule.min || value > rule.max || (rule.integer && !Number.isInteger(value)))
      throw new RudpArgumentError(
        "ERR_OUT_OF_RANGE",
        `The "${key}" option must be ${rule.integer ? "an integer " : ""}>= ${rule.min} and <= ${rule.max}; received ${value}`,
      );
    (config as unknown as Record<string, number>)[key] = value;
  }
  if (config.minRto > config.maxRto)
    throw new RudpArgumentError("ERR_OUT_OF_RANGE", 'The "minRto" option must not exceed "maxRto"');
  if (config.receiveWindow < config.maxPacketSize)
    throw new RudpArgumentError("ERR_OUT_OF_RANGE", 'The "receiveWindow" option must be at least "maxPacketSize"');
  return config;
}

/** Data payload bytes per packet for a given datagram size. */
export function mssFor(maxPacketSize: number): number {
  return maxPacketSize - DATA_PACKET_OVERHEAD;
}
