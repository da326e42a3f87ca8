/**
 * 32-bit wrapping sequence numbers. The core keeps sequence numbers unwrapped
 * (plain integers that never wrap, exact up to 2^53) and only the wire carries
 * their low 32 bits; `unwrapSeq` recovers the full value nearest an expected one,
 * as QUIC does for packet numbers (RFC 9000 §A.3).
 */

const SPAN = 0x1_0000_0000;
const HALF = 0x8000_0000;

/** The low 32 bits of an unwrapped sequence number, as sent on the wire. */
export function wrapSeq(seq: number): number {
  return (seq % SPAN) >>> 0;
}

/** The unwrapped value whose low 32 bits are `wire` and which lies nearest `expected`. */
export function unwrapSeq(wire: number, expected: number): number {
  const base = expected - (expected % SPAN);
  let candidate = base + wire;
  if (candidate <= expected - HALF) candidate += SPAN;
  else if (candidate > expected + HALF && candidate >= SPAN) candidate -= SPAN;
  return candidate;
}

/** Serial-number comparison of two wire values (RFC 1982): negative if a < b. */
export function seqCompare(a: number, b: number): number {
  return ((a - b) | 0) as number;
}
