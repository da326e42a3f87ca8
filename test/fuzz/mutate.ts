/**
 * Datagram mutators for the fuzz engine: byte-level damage (bit flips,
 * truncation, extension) and structure-aware rewrites that keep a datagram
 * decodable, so it reaches the connection logic: header and section fields at
 * their extremes, flag combinations, SACK ranges, handshake extensions,
 * tokens and padding. Every function is pure given its `rng`; none knows
 * about connections (the engine decides what is safe to send).
 */

import { type SeededRng, wire } from "../../src/core/index.js";

const {
  Flag,
  HEADER_SIZE,
  CHECKSUM_SIZE,
  SYN_SECTION_SIZE,
  ACK_SECTION_SIZE,
  SACK_RANGE_SIZE,
  PATH_DATA_SIZE,
  MAX_SACK_RANGES,
  MAX_DATAGRAM_SIZE,
  MIN_MAX_PACKET_SIZE,
  emitPacket,
  packetLength,
} = wire;

/** A decoded datagram, as the wire layer returns it. */
export type Packet = wire.PacketRepr;
/** The wire checksum (the endpoints' own implementation is passed in, so mutations stay valid if it changes). */
export type Checksum = (data: Uint8Array, start: number, end: number) => number;

const EMPTY = new Uint8Array(0);
const MIN_PACKET = HEADER_SIZE + CHECKSUM_SIZE;

/** Interesting values for an unsigned field of `bits` bits: 0, 1, max, max−1 and the sign boundary. */
export function extremes(bits: 8 | 16 | 32): number[] {
  const max = bits === 32 ? 0xffffffff : (1 << bits) - 1;
  const half = bits === 32 ? 0x80000000 : 1 << (bits - 1);
  return [0, 1, max, max - 1, half, half - 1];
}

/** Picks one element of a non-empty array. */
export function pick<T>(rng: SeededRng, items: readonly T[]): T {
  return items[rng.nextInt(items.length)];
}

/** Random bytes of length `n`. */
export function bytes(rng: SeededRng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 4) {
    const v = rng.nextU32();
    for (let k = 0; k < 4 && i + k < n; k++) out[i + k] = v >>> (8 * k);
  }
  return out;
}

/** Rewrites the trailer so the checksum is valid again. Datagrams shorter than the trailer are left alone. */
export function reseal(d: Uint8Array, checksum: Checksum): Uint8Array {
  if (d.length < CHECKSUM_SIZE) return d;
  const end = d.length - CHECKSUM_SIZE;
  writeU32(d, end, checksum(d, 0, end));
  return d;
}

/** Writes a big-endian u32. */
export function writeU32(d: Uint8Array, off: number, v: number): void {
  d[off] = v >>> 24;
  d[off + 1] = v >>> 16;
  d[off + 2] = v >>> 8;
  d[off + 3] = v;
}

function writeU16(d: Uint8Array, off: number, v: number): void {
  d[off] = v >>> 8;
  d[off + 1] = v;
}

/** Encodes a packet description into a fresh datagram. */
export function encode(p: Packet, checksum: Checksum): Uint8Array {
  const out = new Uint8Array(Math.max(packetLength(p), MIN_PACKET));
  const n = emitPacket(p, out, checksum);
  return out.subarray(0, n);
}

/** A shallow copy of a decoded packet whose arrays can be modified without touching the original. */
export function clonePacket(p: Packet): Packet {
  return {
    ...p,
    handshake: p.handshake ? { ...p.handshake, ext: p.handshake.ext.slice() } : undefined,
    ack: p.ack ? { ...p.ack, ranges: p.ack.ranges.slice() } : undefined,
    token: p.token?.slice(),
    path: p.path?.slice(),
    payload: p.payload.slice(),
  };
}

/** Where each section of a valid datagram starts (the layout of wire/packet.ts). */
export interface Layout {
  token?: number;
  syn?: number;
  ack?: number;
  ranges?: number;
  path?: number;
  data?: number;
}

/** The section offsets of the decoded datagram `p`. */
export function layout(p: Packet): Layout {
  const l: Layout = {};
  let off = HEADER_SIZE;
  if (p.flags & Flag.RETRY) {
    l.token = off;
    off += 1 + (p.token?.length ?? 0);
  }
  if (p.handshake) {
    l.syn = off;
    off += SYN_SECTION_SIZE + p.handshake.ext.length;
  }
  if (p.ack) {
    l.ack = off;
    l.ranges = off + ACK_SECTION_SIZE;
    off += ACK_SECTION_SIZE + (p.ack.ranges.length / 2) * SACK_RANGE_SIZE;
  }
  if (p.flags & (Flag.CHALLENGE | Flag.RESPONSE)) {
    l.path = off;
    off += PATH_DATA_SIZE;
  }
  if (p.flags & Flag.DATA) l.data = off;
  return l;
}

interface Field {
  name: string;
  off: number;
  bits: 8 | 16 | 32;
}

/** The fixed-width fields of `p` that a raw write can set, with their offsets. */
export function fields(p: Packet): Field[] {
  const f: Field[] = [
    { name: "flags", off: 2, bits: 16 },
    { name: "dcid", off: 4, bits: 32 },
    { name: "scid", off: 8, bits: 32 },
    { name: "tsval", off: 12, bits: 32 },
    { name: "tsecr", off: 16, bits: 32 },
  ];
  const l = layout(p);
  if (l.token !== undefined) f.push({ name: "token length", off: l.token, bits: 8 });
  if (l.syn !== undefined)
    f.push(
      { name: "isn", off: l.syn, bits: 32 },
      { name: "syn window", off: l.syn + 4, bits: 32 },
      { name: "max packet size", off: l.syn + 8, bits: 16 },
      { name: "ext length", off: l.syn + 10, bits: 16 },
    );
  if (l.ack !== undefined) {
    f.push(
      { name: "cumulative ack", off: l.ack, bits: 32 },
      { name: "ack window", off: l.ack + 4, bits: 32 },
      { name: "ack delay", off: l.ack + 8, bits: 32 },
      { name: "sack count", off: l.ack + 12, bits: 8 },
    );
    const n = (p.ack?.ranges.length ?? 0) / 2;
    for (let i = 0; i < n; i++)
      f.push(
        { name: "sack start", off: (l.ranges as number) + i * SACK_RANGE_SIZE, bits: 32 },
        { name: "sack end", off: (l.ranges as number) + i * SACK_RANGE_SIZE + 4, bits: 32 },
      );
  }
  if (l.data !== undefined) f.push({ name: "seq", off: l.data, bits: 32 });
  return f;
}

/** A copy of `data` with one field of its decoded form `p` set to an extreme (or a near-real) value, resealed. */
export function fieldExtreme(rng: SeededRng, data: Uint8Array, p: Packet, checksum: Checksum): Uint8Array {
  const f = pick(rng, fields(p));
  const out = data.slice();
  const values = extremes(f.bits);
  let v = pick(rng, values);
  if (f.bits === 32 && rng.nextInt(3) === 0) {
    // Near the real value: off by one either way, or half the sequence space away.
    const real = ((out[f.off] << 24) | (out[f.off + 1] << 16) | (out[f.off + 2] << 8) | out[f.off + 3]) >>> 0;
    v = (real + pick(rng, [1, -1, 0x80000000, 0x7fffffff, 1 << 16])) >>> 0;
  }
  if (f.bits === 8) out[f.off] = v;
  else if (f.bits === 16) writeU16(out, f.off, v);
  else writeU32(out, f.off, v);
  return reseal(out, checksum);
}

/** A copy with 1–4 random bits flipped; resealed when `seal` is set (so it decodes as something else). */
export function bitFlip(rng: SeededRng, data: Uint8Array, seal: boolean, checksum: Checksum): Uint8Array {
  const out = data.slice();
  const n = 1 + rng.nextInt(4);
  const span = seal ? Math.max(1, out.length - CHECKSUM_SIZE) : out.length;
  for (let i = 0; i < n; i++) out[rng.nextInt(span)] ^= 1 << rng.nextInt(8);
  return seal ? reseal(out, checksum) : out;
}

/** A prefix of `data`, resealed when `seal` is set. */
export function truncate(rng: SeededRng, data: Uint8Array, seal: boolean, checksum: Checksum): Uint8Array {
  const out = data.slice(0, rng.nextInt(data.length));
  return seal ? reseal(out, checksum) : out;
}

/** `data` with random bytes (or zeros) appended, resealed when `seal` is set. */
export function extend(rng: SeededRng, data: Uint8Array, seal: boolean, checksum: Checksum): Uint8Array {
  const extra = rng.nextInt(8) === 0 ? 1 + rng.nextInt(1400) : 1 + rng.nextInt(64);
  const out = new Uint8Array(data.length + extra);
  out.set(data);
  if (rng.nextInt(2)) out.set(bytes(rng, extra), data.length);
  return seal ? reseal(out, checksum) : out;
}

/** Random bytes: mostly foreign, sometimes with a valid magic/version and a valid checksum. */
export function randomDatagram(rng: SeededRng, checksum: Checksum): Uint8Array {
  const n = rng.nextInt(4) === 0 ? rng.nextInt(40) : rng.nextInt(1400);
  const out = bytes(rng, n);
  if (n >= MIN_PACKET && rng.nextInt(2)) {
    out[0] = 0x52;
    out[1] = 1;
    if (rng.nextInt(2)) {
      out[2] &= 0x0f; // mostly known flag bits
      reseal(out, checksum);
    }
  }
  return out;
}

/** Every combination of flags the decoder accepts, with the sections each needs (RST and RETRY aside). */
const FLAG_SETS: number[] = (() => {
  const out: number[] = [];
  const { SYN, ACK, DATA, FIN, PING, MSG, MSG_END, CHALLENGE, RESPONSE, PAD } = Flag;
  const bits = [SYN, ACK, DATA, FIN, PING, MSG, MSG_END, CHALLENGE, RESPONSE, PAD];
  for (let mask = 0; mask < 1 << bits.length; mask++) {
    let f = 0;
    for (let i = 0; i < bits.length; i++) if (mask & (1 << i)) f |= bits[i];
    const path = f & (CHALLENGE | RESPONSE);
    if (path === (CHALLENGE | RESPONSE) || (path && f & SYN)) continue;
    if (f & PAD && f & DATA) continue;
    if (f & (FIN | MSG | MSG_END) && !(f & DATA)) continue;
    if (f & FIN && f & (MSG | MSG_END)) continue;
    if (f & MSG_END && !(f & MSG)) continue;
    if (f & SYN && f & DATA) continue;
    out.push(f);
  }
  return out;
})();

/**
 * `p` re-encoded with another valid flag combination, adding or dropping the
 * sections the new flags need (fresh random contents where none existed).
 */
export function reflag(rng: SeededRng, p: Packet, checksum: Checksum): Uint8Array {
  const q = clonePacket(p);
  const f = pick(rng, FLAG_SETS);
  q.flags = f;
  if (f & Flag.SYN)
    q.handshake ??= { isn: rng.nextU32(), window: rng.nextU32(), maxPacketSize: 1200, ext: synExtensions(rng) };
  else q.handshake = undefined;
  if (f & Flag.ACK) q.ack ??= { cumAck: rng.nextU32(), window: rng.nextU32(), ackDelay: 0, ranges: [] };
  else q.ack = undefined;
  if (f & (Flag.CHALLENGE | Flag.RESPONSE)) q.path ??= bytes(rng, PATH_DATA_SIZE);
  if (f & Flag.DATA) {
    if (f & Flag.FIN) q.payload = EMPTY;
    if (!(p.flags & Flag.DATA)) q.seq = rng.nextU32();
  } else q.payload = EMPTY;
  if (f & Flag.PAD) q.padTo = padSize(rng);
  if (q.scid === 0) q.scid = 1 + rng.nextInt(0xfffffffe);
  return encode(q, checksum);
}

/** A datagram size for PAD: tiny, typical, path-MTU-like, or the UDP maximum. */
export function padSize(rng: SeededRng): number {
  return pick(rng, [0, 24, 25, 64, 1200, 1201, 1452, 1500, 4068, 9000, MAX_DATAGRAM_SIZE]);
}

/**
 * SACK ranges for an ACK at `cumAck`: inverted or empty (malformed), overlapping,
 * nested, huge, beyond anything sent (`around` + 2^17), the most allowed (32), or
 * random. (Counts above 32 come from raw field writes, see fieldExtreme.)
 */
export function sackRanges(rng: SeededRng, cumAck: number, around: number): number[] {
  const r: number[] = [];
  const base = (cumAck + 1) >>> 0;
  switch (rng.nextInt(8)) {
    case 0: // inverted or empty: the decoder refuses them
      r.push((base + 10) >>> 0, (base + 5 - rng.nextInt(6)) >>> 0);
      break;
    case 1: // overlapping and duplicated
      r.push(base, (base + 10) >>> 0, (base + 5) >>> 0, (base + 15) >>> 0, base, (base + 10) >>> 0);
      break;
    case 2: // huge: half the sequence space
      r.push(base, (base + 0x7fffffff) >>> 0);
      break;
    case 3: // far beyond what was sent
      r.push((around + 0x20000) >>> 0, (around + 0x20000 + 1 + rng.nextInt(1000)) >>> 0);
      break;
    case 4: // the most ranges allowed
      for (let i = 0; i < MAX_SACK_RANGES; i++) r.push((base + 2 * i) >>> 0, (base + 2 * i + 1) >>> 0);
      break;
    case 5: // at or below the cumulative ack: the decoder refuses them
      r.push(cumAck, (cumAck + 3) >>> 0);
      break;
    case 6: // nested
      r.push(base, (base + 100) >>> 0, (base + 10) >>> 0, (base + 20) >>> 0);
      break;
    default:
      for (let i = 0, n = 1 + rng.nextInt(6); i < n; i++) {
        const s = rng.nextU32();
        r.push(s, (s + 1 + rng.nextInt(1 << 20)) >>> 0);
      }
  }
  return r;
}

/**
 * Handshake extension bytes: well-formed, unknown types, lengths running past
 * the end, a MAX_MESSAGE_SIZE of 0 / 1 / 2^32−1 or of the wrong length, a
 * forged or wrongly sized TOKEN, or plain random bytes.
 */
export function synExtensions(rng: SeededRng): Uint8Array {
  const parts: number[] = [];
  const tlv = (type: number, value: Uint8Array, claimed = value.length) => {
    parts.push(type, claimed >>> 8, claimed & 0xff, ...value);
  };
  const u32 = (v: number) => Uint8Array.of(v >>> 24, v >>> 16, v >>> 8, v);
  for (let i = 0, n = rng.nextInt(4); i < n; i++) {
    switch (rng.nextInt(8)) {
      case 0:
        tlv(1, u32(pick(rng, [0, 1, 0xffffffff, 0x7fffffff, 1200])));
        break;
      case 1:
        tlv(1, bytes(rng, pick(rng, [0, 2, 3, 5, 8])));
        break;
      case 2:
        tlv(2, bytes(rng, 12)); // a forged token of the right size
        break;
      case 3:
        tlv(2, bytes(rng, pick(rng, [0, 1, 11, 13, 64, 200])));
        break;
      case 4:
        tlv(pick(rng, [0, 3, 127, 255]), bytes(rng, rng.nextInt(40)));
        break;
      case 5:
        tlv(rng.nextInt(256), bytes(rng, rng.nextInt(8)), pick(rng, [0xffff, 0x100, 9])); // length overruns
        break;
      case 6:
        parts.push(rng.nextInt(256), rng.nextInt(256)); // a truncated TLV header
        break;
      default:
        parts.push(...bytes(rng, rng.nextInt(30)));
    }
  }
  return Uint8Array.from(parts);
}

/** A SYN with random or extreme handshake fields and bogus extensions. */
export function synPacket(rng: SeededRng, scid: number, tsval: number, checksum: Checksum): Uint8Array {
  const mps = pick(rng, [MIN_MAX_PACKET_SIZE, MIN_MAX_PACKET_SIZE + 1, 1200, 1500, 9000, MAX_DATAGRAM_SIZE]);
  const p: Packet = {
    flags: Flag.SYN | (rng.nextInt(8) === 0 ? Flag.PING : 0) | (rng.nextInt(8) === 0 ? Flag.PAD : 0),
    dcid: 0,
    scid,
    tsval,
    tsecr: rng.nextInt(2) ? 0 : rng.nextU32(),
    handshake: {
      isn: rng.nextInt(2) ? rng.nextU32() : pick(rng, extremes(32)),
      window: rng.nextInt(2) ? pick(rng, extremes(32)) : rng.nextU32(),
      maxPacketSize: mps,
      ext: rng.nextInt(3) ? synExtensions(rng) : EMPTY,
    },
    ack: undefined,
    seq: 0,
    payload: EMPTY,
  };
  if (p.flags & Flag.PAD) p.padTo = pick(rng, [64, 1200, 1500]);
  return encode(p, checksum);
}

/** A bare packet description with the given flags and ids (sections to be filled by the caller). */
export function bare(flags: number, dcid: number, scid: number, tsval: number, tsecr: number): Packet {
  return { flags, dcid, scid, tsval, tsecr, handshake: undefined, ack: undefined, seq: 0, payload: EMPTY };
}
