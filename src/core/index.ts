/**
 * The sans-IO protocol core: wire format, connection state machine, loss
 * recovery, congestion control and the endpoint. Pure and deterministic: no
 * I/O, no clocks, no ambient randomness.
 */

export { type Address, addressKey } from "./address.js";
export { DEFAULT_CONFIG, mssFor, PROFILES, resolveConfig, type TransportConfig } from "./config.js";
export type { AckSample, CongestionController, ControllerFactory } from "./congestion/index.js";
export { CONTROLLER_NAMES, CONTROLLERS, NewReno } from "./congestion/index.js";
export { Connection, type ConnectionHost, type ConnectionInit } from "./connection/connection.js";
export { EncryptionError, type EncryptionErrorCode, type SecureChannel } from "./connection/security.js";
export { type State, type StateEvent, stateDiagram, TRANSITIONS } from "./connection/state.js";
export type { ConnectionStats } from "./connection/stats.js";
export type { AeadName, CryptoProvider, KeyPair } from "./crypto/provider.js";
export { type EncryptionOptions, validateEncryption } from "./crypto/session.js";
export {
  type DropReason,
  Endpoint,
  type EndpointEvent,
  type EndpointOptions,
  type EndpointStats,
  type TraceEvent,
  type Transmit,
} from "./endpoint.js";
export {
  type ConnectionErrorCode,
  DecodeError,
  RudpArgumentError,
  RudpConnectionError,
  RudpError,
  RudpStateError,
} from "./errors.js";
export type { ConnectionEvent } from "./events.js";
export { type Rng, SeededRng } from "./rng.js";
export { type Duration, type Instant, MS, NEVER, SECOND } from "./time.js";
export * as wire from "./wire/index.js";
