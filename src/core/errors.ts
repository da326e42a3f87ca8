/**
 * Error classes with stable `code`s, as node's own errors have. Local misuse of
 * the API raises `RudpArgumentError`/`RudpStateError`; connection failures
 * (refused, timed out, reset) are reported as `RudpConnectionError` events.
 */

/** Codes for the ways a connection can fail, named as node:net names them. */
export type ConnectionErrorCode =
  | "ECONNREFUSED"
  | "ETIMEDOUT"
  | "ECONNRESET"
  | "ECONNABORTED"
  | "EPROTO"
  /** Encrypted handshakes (docs/PROTOCOL.md §12): wrong key, client not allowed, a side without encryption. */
  | "ERR_RUDP_AUTH_FAILED"
  | "ERR_RUDP_NOT_ALLOWED"
  | "ERR_RUDP_ENCRYPTION_REQUIRED"
  | "ERR_RUDP_ENCRYPTION_UNSUPPORTED";

/** Base class of every error rudp raises; `code` is stable and machine-readable. */
export class RudpError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A connection failed or was torn down by the peer or the network. */
export class RudpConnectionError extends RudpError {
  declare readonly code: ConnectionErrorCode;
  constructor(code: ConnectionErrorCode, message: string) {
    super(code, message);
  }
}

/** An argument or option had the wrong type or an invalid value. */
export class RudpArgumentError extends RudpError {
  constructor(code: "ERR_INVALID_ARG_TYPE" | "ERR_INVALID_ARG_VALUE" | "ERR_OUT_OF_RANGE", message: string) {
    super(code, message);
  }
}

/** An operation was attempted in a state that does not allow it (e.g. write after end). */
export class RudpStateError extends RudpError {}

/** A datagram could not be decoded; never escapes the receive path. */
export class DecodeError extends RudpError {
  constructor(message: string) {
    super("ERR_RUDP_DECODE", message);
  }
}
