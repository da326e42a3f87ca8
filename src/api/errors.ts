/**
 * Errors as node:net raises them: an `Error` with `code`, `syscall` and the
 * peer's `address`/`port`, so code written for TCP sockets handles rudp's
 * errors unchanged.
 */

import { RudpArgumentError, RudpError } from "../core/errors.js";

/** A socket-level failure (refused, timed out, reset), shaped like node's system errors. */
export class RudpSocketError extends RudpError {
  readonly syscall: string;
  readonly address: string | undefined;
  readonly port: number | undefined;
  constructor(code: string, message: string, syscall: string, address?: string, port?: number) {
    super(
      code,
      address !== undefined ? `${syscall} ${code} ${address}:${port}: ${message}` : `${syscall} ${code}: ${message}`,
    );
    this.syscall = syscall;
    this.address = address;
    this.port = port;
  }
}

/** Node's AbortError shape for aborted connects. */
export class AbortError extends RudpError {
  constructor(cause?: unknown) {
    super("ABORT_ERR", "The operation was aborted");
    this.name = "AbortError";
    if (cause !== undefined) (this as { cause?: unknown }).cause = cause;
  }
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a valid port number (0–65535). */
export function validatePort(value: unknown, name = "port"): number {
  if (typeof value === "string" && /^[0-9]+$/.test(value)) value = Number(value);
  if (typeof value !== "number" || !Number.isInteger(value))
    throw new RudpArgumentError(
      "ERR_INVALID_ARG_TYPE",
      `The "${name}" argument must be a number; received ${typeof value}`,
    );
  if (value < 0 || value > 65535)
    throw new RudpArgumentError(
      "ERR_OUT_OF_RANGE",
      `The "${name}" argument must be >= 0 and <= 65535; received ${value}`,
    );
  return value;
}

/** Throws ERR_INVALID_ARG_TYPE unless `value` is a Buffer/Uint8Array. */
export function validateBytes(value: unknown, name: string): Uint8Array {
  if (!(value instanceof Uint8Array))
    throw new RudpArgumentError(
      "ERR_INVALID_ARG_TYPE",
      `The "${name}" argument must be a Buffer or Uint8Array; received ${value === null ? "null" : typeof value}`,
    );
  return value;
}
