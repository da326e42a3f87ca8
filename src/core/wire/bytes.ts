/** Big-endian (network order) integer reads and writes on byte arrays, without a DataView per call. */

/** The u16 at `d[o]`. */
export function readU16(d: Uint8Array, o: number): number {
  return (d[o] << 8) | d[o + 1];
}

/** The u32 at `d[o]`. */
export function readU32(d: Uint8Array, o: number): number {
  return ((d[o] << 24) | (d[o + 1] << 16) | (d[o + 2] << 8) | d[o + 3]) >>> 0;
}

/** Writes the low 16 bits of `v` at `d[o]`. */
export function writeU16(d: Uint8Array, o: number, v: number): void {
  d[o] = v >>> 8;
  d[o + 1] = v;
}

/** Writes the low 32 bits of `v` at `d[o]`. */
export function writeU32(d: Uint8Array, o: number, v: number): void {
  d[o] = v >>> 24;
  d[o + 1] = v >>> 16;
  d[o + 2] = v >>> 8;
  d[o + 3] = v;
}
