/** The file-transfer protocol of `rudp send` / `rudp recv` on one rudp connection: header, bytes, trailer, verdict. */

/**
 * The protocol, in order: the sender sends a header message (JSON: name, size
 * if known), the bytes on the stream, a trailer message with the SHA-256 of
 * what it sent, then its FIN; the receiver answers with an "ok" (or "error")
 * message before it closes its side.
 */
export const TRANSFER_PROTOCOL = "rudp-transfer/1";

/** The first message: what is coming. */
export interface TransferHeader {
  type: "header";
  protocol: string;
  /** The file's base name, or "-" for stdin. */
  name: string;
  /** Size in bytes when known in advance. */
  size?: number;
}

/** The last message, after every stream byte: what was sent. */
export interface TransferTrailer {
  type: "trailer";
  /** Lowercase hex SHA-256 of the bytes sent. */
  sha256: string;
  /** Bytes sent. */
  size: number;
  /** The sender's data segments and retransmissions so far (for the receiver's summary). */
  segments?: number;
  retransmits?: number;
}

/** The receiver's verdict. */
export interface TransferReply {
  type: "ok" | "error";
  sha256?: string;
  message?: string;
}

/** A protocol violation by the peer. */
export class TransferProtocolError extends Error {}

/** Encodes a protocol message. */
export function encodeMessage(m: TransferHeader | TransferTrailer | TransferReply): Buffer {
  return Buffer.from(JSON.stringify(m));
}

function parse(buf: Uint8Array, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString("utf8"));
  } catch {
    throw new TransferProtocolError(`the ${what} is not JSON (is the peer "rudp send"/"rudp recv"?)`);
  }
  if (typeof v !== "object" || v === null) throw new TransferProtocolError(`the ${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

function isSize(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/** Validates a header message. */
export function decodeHeader(buf: Uint8Array): TransferHeader {
  const v = parse(buf, "header");
  if (v.type !== "header" || v.protocol !== TRANSFER_PROTOCOL)
    throw new TransferProtocolError(`expected a "${TRANSFER_PROTOCOL}" header, got ${JSON.stringify(v).slice(0, 80)}`);
  if (typeof v.name !== "string") throw new TransferProtocolError("the header has no name");
  if (v.size !== undefined && !isSize(v.size)) throw new TransferProtocolError("the header's size is not valid");
  return { type: "header", protocol: v.protocol, name: v.name, size: v.size };
}

/** Validates a trailer message. */
export function decodeTrailer(buf: Uint8Array): TransferTrailer {
  const v = parse(buf, "trailer");
  if (v.type !== "trailer" || typeof v.sha256 !== "string" || !isSize(v.size))
    throw new TransferProtocolError("the trailer is not valid");
  return {
    type: "trailer",
    sha256: v.sha256,
    size: v.size,
    segments: isSize(v.segments) ? v.segments : undefined,
    retransmits: isSize(v.retransmits) ? v.retransmits : undefined,
  };
}

/** Validates a reply message. */
export function decodeReply(buf: Uint8Array): TransferReply {
  const v = parse(buf, "reply");
  if (v.type !== "ok" && v.type !== "error") throw new TransferProtocolError("the reply is not valid");
  return {
    type: v.type,
    sha256: typeof v.sha256 === "string" ? v.sha256 : undefined,
    message: typeof v.message === "string" ? v.message : undefined,
  };
}

/**
 * Checks what arrived against the header and trailer; returns undefined when
 * it all matches, else what is wrong.
 */
export function verifyTransfer(
  header: TransferHeader,
  trailer: TransferTrailer | undefined,
  received: number,
  sha256: string,
): string | undefined {
  if (!trailer) return `incomplete transfer: the sender closed after ${received} bytes without a trailer`;
  if (trailer.size !== received) return `size mismatch: received ${received} bytes, the sender sent ${trailer.size}`;
  if (header.size !== undefined && header.size !== received)
    return `size mismatch: received ${received} bytes, the header announced ${header.size}`;
  if (trailer.sha256.toLowerCase() !== sha256)
    return `SHA-256 mismatch: received data hashes to ${sha256}, the sender's is ${trailer.sha256}`;
  return undefined;
}
