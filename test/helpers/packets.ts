/**
 * Helpers for tests that look at or script individual datagrams.
 */

import { wire } from "../../src/core/index.js";

const { Flag, decodeDatagram } = wire;

/** The flags of a datagram as a readable string like "SYN|ACK", or "?" if undecodable. */
export function flagsOf(data: Uint8Array): string {
  try {
    const p = decodeDatagram(data);
    return Object.entries(Flag)
      .filter(([, bit]) => p.flags & bit)
      .map(([name]) => name)
      .join("|");
  } catch {
    return "?";
  }
}

/** The decoded packet, or undefined. */
export function decode(data: Uint8Array): ReturnType<typeof decodeDatagram> | undefined {
  try {
    return decodeDatagram(data);
  } catch {
    return undefined;
  }
}

/** True for a datagram with exactly these flags set (and no others). */
export function hasFlags(data: Uint8Array, ...names: (keyof typeof Flag)[]): boolean {
  const p = decode(data);
  if (!p) return false;
  let want = 0;
  for (const n of names) want |= Flag[n];
  return p.flags === want;
}

/** True for a datagram that carries a data segment. */
export function isData(data: Uint8Array): boolean {
  const p = decode(data);
  return p !== undefined && (p.flags & Flag.DATA) !== 0;
}
