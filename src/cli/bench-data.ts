/** The data `rudp bench` sends on loopback, and the CRC-32 both processes compute over it. */

import * as zlib from "node:zlib";

/** Bytes per write: the sender hands the transport 64 KiB slices of the pattern. */
const WRITE_SIZE = 64 * 1024;

/** A fixed pseudo-random pattern; its odd length keeps chunks from lining up with packets. */
const PATTERN = makePattern((1 << 20) + 13);

function makePattern(n: number): Buffer {
  const b = Buffer.alloc(n);
  let x = 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** The chunks of a `total`-byte transfer: slices walking the repeated pattern. */
export function* benchChunks(total: number): Generator<Buffer> {
  let off = 0;
  for (let sent = 0; sent < total; ) {
    const n = Math.min(WRITE_SIZE, PATTERN.length - off, total - sent);
    yield PATTERN.subarray(off, off + n);
    off = (off + n) % PATTERN.length;
    sent += n;
  }
}

const CRC_TABLE = Int32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});

/** CRC-32 in JavaScript, for Node 20 releases whose zlib lacks `crc32` (added in 20.15). */
function crc32Fallback(data: Uint8Array, value = 0): number {
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** Continues the CRC-32 `value` over `data` (zlib's when available). */
export const crc32: (data: Uint8Array, value?: number) => number =
  typeof zlib.crc32 === "function" ? zlib.crc32 : crc32Fallback;

/** The CRC-32 of a whole `total`-byte transfer. */
export function expectedCrc(total: number): number {
  let crc = 0;
  for (const c of benchChunks(total)) crc = crc32(c, crc);
  return crc;
}
