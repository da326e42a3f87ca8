/**
 * Wire format v1: parse and emit rudp datagrams. Parsing untrusted bytes either
 * returns a fully validated `PacketRepr` or throws `DecodeError`; nothing else.
 * Layout (big-endian), documented byte by byte in docs/PROTOCOL.md:
 *
 *   0  u8 magic 0x52 ("R")   1 u8 version   2 u16 flags
 *   4  u32 destination cid       8 u32 source cid
 *  12  u32 tsval                16 u32 tsecr
 *  20  [SYN]   u32 isn, u32 window, u16 max packet size, u16 ext length, ext
 *      [RETRY] u8 token length, token
 *      [ACK]   u32 cumulative ack, u32 window, u32 ack delay (µs), u8 n, n × (u32 start, u32 end)
 *      [PATH]  8 bytes of path challenge or response data
 *      [DATA]  u32 seq, payload …   (with FRAG: u32 seq, u16 offset, u16 segment length, part of the payload)
 * end-4 u32 CRC-32 (IEEE) of everything before it
 */

import { DecodeError } from "../errors.js";
import { readU16, readU32, writeU16, writeU32 } from "./bytes.js";
import { type Checksum, crc32 } from "./crc32.js";

/** The magic byte that opens every rudp datagram. */
export const MAGIC = 0x52;
/** The wire format version this code speaks. */
export const VERSION = 1;

/** Header flag bits. */
export const Flag = {
  SYN: 0x01,
  ACK: 0x02,
  DATA: 0x04,
  FIN: 0x08,
  RST: 0x10,
  PING: 0x20,
  MSG: 0x40,
  MSG_END: 0x80,
  /** Stateless reply to a SYN: "prove your address", carrying a token to echo. */
  RETRY: 0x100,
  /** Path validation (address change): a challenge, and the response echoing it. */
  CHALLENGE: 0x200,
  RESPONSE: 0x400,
  /** Zero bytes fill the packet up to its size (path MTU probes, RFC 8899); not with DATA. */
  PAD: 0x800,
  /** Outer header only: an encrypted packet (§12 of PROTOCOL.md), whose plaintext is a whole packet. */
  SEALED: 0x1000,
  /** Outer header only: which of the two current packet keys sealed it (key update). */
  KEY_PHASE: 0x2000,
  /**
   * The DATA section holds one fragment of a segment, at an offset into its payload: a segment cut
   * for a larger path MTU than the path now carries is resent in fragments (§4.10 of PROTOCOL.md).
   */
  FRAG: 0x4000,
} as const;

/** Flag bits a plaintext or inner packet may carry; any other bit set is malformed. */
const KNOWN_FLAGS = 0x4fff;

/** Bytes of the fixed header. */
export const HEADER_SIZE = 20;
/** Bytes of the integrity check trailer. */
export const CHECKSUM_SIZE = 4;
/** Bytes of a sealed packet's clear header: magic, version, flags, dcid, u32 packet number. */
export const SEALED_HEADER_SIZE = 12;
/** Bytes of the AEAD tag that ends a sealed packet. */
export const AEAD_TAG_SIZE = 16;
/** What sealing adds to a packet: the clear header and the tag, minus the checksum it no longer needs. */
export const SEAL_OVERHEAD = SEALED_HEADER_SIZE + AEAD_TAG_SIZE - CHECKSUM_SIZE;
/** Bytes of the handshake section before its extensions. */
export const SYN_SECTION_SIZE = 12;
/** Bytes of the ACK section before its ranges. */
export const ACK_SECTION_SIZE = 13;
/** Bytes of one SACK range. */
export const SACK_RANGE_SIZE = 8;
/** Bytes of the DATA section before its payload. */
export const DATA_SECTION_SIZE = 4;
/** Bytes a fragment's DATA section adds: its offset in the segment's payload and the payload's length. */
export const FRAGMENT_HEADER_SIZE = 4;
/** Bytes of path challenge / response data. */
export const PATH_DATA_SIZE = 8;
/** The longest RETRY token. */
export const MAX_TOKEN_SIZE = 64;
/** The most SACK ranges one ACK section may carry. */
export const MAX_SACK_RANGES = 32;
/** SACK ranges piggybacked on a data packet; pure ACKs carry up to MAX_SACK_RANGES. */
export const PIGGYBACK_SACK_RANGES = 3;
/** Per-packet overhead of a data packet without an ACK section: maxPacketSize − this = MSS. */
export const DATA_PACKET_OVERHEAD = HEADER_SIZE + DATA_SECTION_SIZE + CHECKSUM_SIZE;
/** The most a piggybacked ACK section adds to a data packet; segments cut while an ACK is owed leave room for it. */
export const PIGGYBACK_ACK_SIZE = ACK_SECTION_SIZE + PIGGYBACK_SACK_RANGES * SACK_RANGE_SIZE;
/** The smallest datagram that can be valid. */
export const MIN_PACKET_SIZE = HEADER_SIZE + CHECKSUM_SIZE;
/** The largest UDP payload over IPv4. */
export const MAX_DATAGRAM_SIZE = 65507;
/** The smallest maxPacketSize a side may use or announce: room for 64 payload bytes besides a full piggybacked ACK. */
export const MIN_MAX_PACKET_SIZE = DATA_PACKET_OVERHEAD + PIGGYBACK_ACK_SIZE + 64;

/** Handshake parameters carried by SYN and SYN-ACK. */
export interface HandshakeRepr {
  /** Initial sequence number of the sender's data. */
  isn: number;
  /** The sender's receive window in bytes. */
  window: number;
  /** The largest datagram the sender accepts. */
  maxPacketSize: number;
  /** Extensions (type-length-value), reserved for cookies and key exchange. */
  ext: Uint8Array;
}

/** Acknowledgement: cumulative point, window and selective ranges (all wire values). */
export interface AckRepr {
  /** Next sequence number expected (everything before it was received). */
  cumAck: number;
  /** Free receive buffer in bytes, counted from cumAck. */
  window: number;
  /** Microseconds the receiver held the ACK after the packet whose tsval it echoes. */
  ackDelay: number;
  /** Received ranges above cumAck as flat [start0, end0, start1, end1 …], end exclusive, most recent first. */
  ranges: number[];
}

/** A validated datagram. Wire sequence numbers are 32-bit; the connection unwraps them. */
export interface PacketRepr {
  flags: number;
  dcid: number;
  scid: number;
  tsval: number;
  tsecr: number;
  handshake: HandshakeRepr | undefined;
  ack: AckRepr | undefined;
  /** RETRY token (present when RETRY is set). */
  token?: Uint8Array;
  /** With PAD: the total datagram size to pad to when emitting. */
  padTo?: number;
  /** Path challenge or response data (present when CHALLENGE or RESPONSE is set). */
  path?: Uint8Array;
  /** Why a RST was sent (a RstReason), when it says. */
  reason?: number;
  /** Sequence number of the data segment (present when DATA is set). */
  seq: number;
  /** Segment payload (a view into the datagram, valid until the datagram is reused); with FRAG, the fragment's part. */
  payload: Uint8Array;
  /** With FRAG: where the fragment's bytes begin in the segment's payload, and that payload's whole length. */
  fragmentOffset?: number;
  segmentLength?: number;
  /** Emitting only: more payload, written right after `payload` (a segment cut across two writes). */
  payloadTail?: Uint8Array;
}

const EMPTY: Uint8Array = new Uint8Array(0);

/** Why a connection was reset, carried as one optional byte after a RST's header. */
export const RstReason = {
  /** The handshake could not be authenticated (wrong pre-shared key, or not the server key the client pinned). */
  AUTH_FAILED: 1,
  /** The server does not allow this client's static key. */
  NOT_ALLOWED: 2,
  /** The server accepts encrypted connections only. */
  ENCRYPTION_REQUIRED: 3,
  /** The server cannot encrypt (no keys configured). */
  ENCRYPTION_UNSUPPORTED: 4,
} as const;

/** The flags of a datagram that passed `peekDcid` (SEALED tells how to authenticate it). */
export function peekFlags(data: Uint8Array): number {
  return readU16(data, 2);
}

/** Reads only the destination cid, for routing before full validation; -1 if not an rudp v1 datagram. */
export function peekDcid(data: Uint8Array): number {
  if (data.length < MIN_PACKET_SIZE || data[0] !== MAGIC || data[1] !== VERSION) return -1;
  return readU32(data, 4);
}

/** True when the trailer matches the CRC-32 of the rest of the datagram. */
export function checksumValid(data: Uint8Array, checksum: Checksum = crc32): boolean {
  const end = data.length - CHECKSUM_SIZE;
  if (end < 0) return false;
  return checksum(data, 0, end) === readU32(data, end);
}

/**
 * Decodes a datagram whose checksum was already verified. Throws DecodeError on
 * anything malformed: unknown version, impossible flag combinations, truncated
 * or overlong sections, out-of-range fields.
 */
export function parsePacket(data: Uint8Array, end: number = data.length - CHECKSUM_SIZE): PacketRepr {
  const len = end;
  if (len < HEADER_SIZE) throw new DecodeError("datagram shorter than the header");
  if (data[0] !== MAGIC) throw new DecodeError("bad magic");
  if (data[1] !== VERSION) throw new DecodeError(`unsupported version ${data[1]}`);
  const flags = readU16(data, 2);
  if (flags & ~KNOWN_FLAGS) throw new DecodeError("unknown flags");
  if (flags & Flag.RST && flags & ~Flag.RST) throw new DecodeError("RST combined with other flags");
  if (flags & Flag.RETRY && flags & ~Flag.RETRY) throw new DecodeError("RETRY combined with other flags");
  const path = flags & (Flag.CHALLENGE | Flag.RESPONSE);
  if (path === (Flag.CHALLENGE | Flag.RESPONSE)) throw new DecodeError("CHALLENGE with RESPONSE");
  if (path && flags & Flag.SYN) throw new DecodeError("path validation during the handshake");
  if (flags & Flag.PAD && flags & Flag.DATA) throw new DecodeError("PAD with DATA");
  if ((flags & (Flag.FIN | Flag.MSG | Flag.MSG_END | Flag.FRAG)) !== 0 && (flags & Flag.DATA) === 0)
    throw new DecodeError("segment flag without DATA");
  if (flags & Flag.FIN && flags & (Flag.MSG | Flag.MSG_END)) throw new DecodeError("FIN segment marked as message");
  if (flags & Flag.FIN && flags & Flag.FRAG) throw new DecodeError("FIN segment in fragments");
  if (flags & Flag.MSG_END && !(flags & Flag.MSG)) throw new DecodeError("MSG_END without MSG");
  if (flags & Flag.SYN && flags & Flag.DATA) throw new DecodeError("SYN carrying data");
  const dcid = readU32(data, 4);
  const scid = readU32(data, 8);
  if (scid === 0 && !(flags & (Flag.RST | Flag.RETRY))) throw new DecodeError("zero source cid");
  let off = HEADER_SIZE;
  let token: Uint8Array | undefined;
  if (flags & Flag.RETRY) {
    const n = data[off];
    if (off + 1 + n !== len || n === 0 || n > MAX_TOKEN_SIZE) throw new DecodeError("bad RETRY token");
    token = data.subarray(off + 1, off + 1 + n);
    off += 1 + n;
  }
  let handshake: HandshakeRepr | undefined;
  if (flags & Flag.SYN) {
    if (off + SYN_SECTION_SIZE > len) throw new DecodeError("truncated SYN section");
    const maxPacketSize = readU16(data, off + 8);
    const extLen = readU16(data, off + 10);
    if (maxPacketSize < MIN_MAX_PACKET_SIZE || maxPacketSize > MAX_DATAGRAM_SIZE)
      throw new DecodeError("max packet size out of range");
    if (off + SYN_SECTION_SIZE + extLen > len) throw new DecodeError("truncated SYN extensions");
    handshake = {
      isn: readU32(data, off),
      window: readU32(data, off + 4),
      maxPacketSize,
      ext: data.subarray(off + SYN_SECTION_SIZE, off + SYN_SECTION_SIZE + extLen),
    };
    off += SYN_SECTION_SIZE + extLen;
  }
  let ack: AckRepr | undefined;
  if (flags & Flag.ACK) {
    if (off + ACK_SECTION_SIZE > len) throw new DecodeError("truncated ACK section");
    const n = data[off + 12];
    if (n > MAX_SACK_RANGES) throw new DecodeError("too many SACK ranges");
    if (off + ACK_SECTION_SIZE + n * SACK_RANGE_SIZE > len) throw new DecodeError("truncated SACK ranges");
    const cumAck = readU32(data, off);
    const ranges: number[] = new Array(n * 2);
    let p = off + ACK_SECTION_SIZE;
    for (let i = 0; i < n; i++) {
      const start = readU32(data, p);
      const end = readU32(data, p + 4);
      // Each range must be non-empty and lie above the cumulative ack (serial arithmetic).
      if (((end - start) | 0) <= 0 || ((start - cumAck) | 0) <= 0) throw new DecodeError("invalid SACK range");
      ranges[2 * i] = start;
      ranges[2 * i + 1] = end;
      p += SACK_RANGE_SIZE;
    }
    ack = { cumAck, window: readU32(data, off + 4), ackDelay: readU32(data, off + 8), ranges };
    off = p;
  }
  let pathData: Uint8Array | undefined;
  if (path) {
    if (off + PATH_DATA_SIZE > len) throw new DecodeError("truncated path data");
    pathData = data.subarray(off, off + PATH_DATA_SIZE);
    off += PATH_DATA_SIZE;
  }
  let seq = 0;
  let payload: Uint8Array = EMPTY;
  let fragmentOffset = 0;
  let segmentLength = 0;
  let reason: number | undefined;
  if (flags & Flag.DATA) {
    if (off + DATA_SECTION_SIZE > len) throw new DecodeError("truncated DATA section");
    seq = readU32(data, off);
    off += DATA_SECTION_SIZE;
    if (flags & Flag.FRAG) {
      if (off + FRAGMENT_HEADER_SIZE > len) throw new DecodeError("truncated fragment header");
      fragmentOffset = readU16(data, off);
      segmentLength = readU16(data, off + 2);
      off += FRAGMENT_HEADER_SIZE;
      if (off === len || fragmentOffset + (len - off) > segmentLength)
        throw new DecodeError("fragment outside its segment");
    }
    payload = data.subarray(off, len);
    if (flags & Flag.FIN && payload.length > 0) throw new DecodeError("FIN segment with payload");
  } else if (flags & Flag.RST && off < len) {
    if (len - off !== 1) throw new DecodeError("bad RST reason");
    reason = data[off];
  } else if (off !== len && !(flags & Flag.PAD)) {
    throw new DecodeError("trailing bytes after the last section");
  }
  return {
    flags,
    dcid,
    scid,
    tsval: readU32(data, 12),
    tsecr: readU32(data, 16),
    handshake,
    ack,
    token,
    path: pathData,
    reason,
    seq,
    payload,
    fragmentOffset,
    segmentLength,
  };
}

/** Bytes `emitPacket` will write for `p`. */
export function packetLength(p: PacketRepr): number {
  let n = HEADER_SIZE + CHECKSUM_SIZE;
  if (p.handshake) n += SYN_SECTION_SIZE + p.handshake.ext.length;
  if (p.flags & Flag.RETRY) n += 1 + (p.token?.length ?? 0);
  if (p.ack) n += ACK_SECTION_SIZE + (p.ack.ranges.length / 2) * SACK_RANGE_SIZE;
  if (p.flags & (Flag.CHALLENGE | Flag.RESPONSE)) n += PATH_DATA_SIZE;
  if (p.flags & Flag.DATA) n += DATA_SECTION_SIZE + p.payload.length + (p.payloadTail?.length ?? 0);
  if (p.flags & Flag.DATA && p.flags & Flag.FRAG) n += FRAGMENT_HEADER_SIZE;
  if (p.flags & Flag.RST && p.reason !== undefined) n += 1;
  if (p.flags & Flag.PAD && p.padTo !== undefined && p.padTo > n) n = p.padTo;
  return n;
}

/**
 * Writes `p` into `out` (which must hold packetLength(p) bytes) and returns the
 * length written. With `checksum` null no trailer is written (the plaintext of
 * a sealed packet) and the length excludes it.
 */
export function emitPacket(p: PacketRepr, out: Uint8Array, checksum: Checksum | null = crc32): number {
  out[0] = MAGIC;
  out[1] = VERSION;
  writeU16(out, 2, p.flags);
  writeU32(out, 4, p.dcid >>> 0);
  writeU32(out, 8, p.scid >>> 0);
  writeU32(out, 12, p.tsval >>> 0);
  writeU32(out, 16, p.tsecr >>> 0);
  let off = HEADER_SIZE;
  if (p.handshake) {
    const h = p.handshake;
    writeU32(out, off, h.isn >>> 0);
    writeU32(out, off + 4, h.window >>> 0);
    writeU16(out, off + 8, h.maxPacketSize);
    writeU16(out, off + 10, h.ext.length);
    out.set(h.ext, off + SYN_SECTION_SIZE);
    off += SYN_SECTION_SIZE + h.ext.length;
  }
  if (p.flags & Flag.RETRY) {
    const t = p.token ?? EMPTY;
    out[off] = t.length;
    out.set(t, off + 1);
    off += 1 + t.length;
  }
  if (p.ack) {
    const a = p.ack;
    const n = a.ranges.length / 2;
    writeU32(out, off, a.cumAck >>> 0);
    writeU32(out, off + 4, a.window >>> 0);
    writeU32(out, off + 8, Math.min(a.ackDelay, 0xffffffff) >>> 0);
    out[off + 12] = n;
    off += ACK_SECTION_SIZE;
    for (let i = 0; i < a.ranges.length; i++) {
      writeU32(out, off, a.ranges[i] >>> 0);
      off += 4;
    }
  }
  if (p.flags & (Flag.CHALLENGE | Flag.RESPONSE)) {
    out.set((p.path ?? EMPTY).subarray(0, PATH_DATA_SIZE), off);
    off += PATH_DATA_SIZE;
  }
  if (p.flags & Flag.DATA) {
    writeU32(out, off, p.seq >>> 0);
    off += DATA_SECTION_SIZE;
    if (p.flags & Flag.FRAG) {
      writeU16(out, off, p.fragmentOffset ?? 0);
      writeU16(out, off + 2, p.segmentLength ?? 0);
      off += FRAGMENT_HEADER_SIZE;
    }
    out.set(p.payload, off);
    off += p.payload.length;
    if (p.payloadTail !== undefined && p.payloadTail.length > 0) {
      out.set(p.payloadTail, off);
      off += p.payloadTail.length;
    }
  }
  if (p.flags & Flag.RST && p.reason !== undefined) out[off++] = p.reason;
  if (p.flags & Flag.PAD && p.padTo !== undefined && p.padTo - CHECKSUM_SIZE > off) {
    out.fill(0, off, p.padTo - CHECKSUM_SIZE);
    off = p.padTo - CHECKSUM_SIZE;
  }
  if (checksum === null) return off;
  writeU32(out, off, checksum(out, 0, off));
  return off + CHECKSUM_SIZE;
}

/** Parses a datagram end to end (checksum included); for tools and tests. */
export function decodeDatagram(data: Uint8Array, checksum: Checksum = crc32): PacketRepr {
  if (!checksumValid(data, checksum)) throw new DecodeError("checksum mismatch");
  return parsePacket(data);
}
