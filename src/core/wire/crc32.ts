/**
 * CRC-32 (IEEE 802.3, polynomial 0x04C11DB7 reflected as 0xEDB88320; the
 * checksum of zlib, gzip and PNG), the integrity check of every unencrypted
 * rudp datagram. Slicing-by-8 over precomputed tables, pure TypeScript so the
 * core needs no native module; drivers may inject a faster equivalent (Node's
 * `zlib.crc32`) through the endpoint's `checksum` option.
 */

/** Computes the checksum of `data[start, end)`; every implementation must return CRC-32 (IEEE). */
export type Checksum = (data: Uint8Array, start: number, end: number) => number;

const TABLES = buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(256 * 8);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    let c = t[i];
    for (let s = 1; s < 8; s++) {
      c = t[c & 0xff] ^ (c >>> 8);
      t[s * 256 + i] = c >>> 0;
    }
  }
  return t;
}

/** CRC-32 of `data[start, end)`, continuing from the CRC-32 `value` of the bytes before them (as zlib's). */
export function crc32(data: Uint8Array, start = 0, end = data.length, value = 0): number {
  const t = TABLES;
  let crc = ~value;
  let i = start;
  const stop8 = end - ((end - start) & 7);
  while (i < stop8) {
    const lo = crc ^ (data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
    crc =
      t[1792 + (lo & 0xff)] ^
      t[1536 + ((lo >>> 8) & 0xff)] ^
      t[1280 + ((lo >>> 16) & 0xff)] ^
      t[1024 + (lo >>> 24)] ^
      t[768 + data[i + 4]] ^
      t[512 + data[i + 5]] ^
      t[256 + data[i + 6]] ^
      t[data[i + 7]];
    i += 8;
  }
  while (i < end) crc = t[(crc ^ data[i++]) & 0xff] ^ (crc >>> 8);
  return ~crc >>> 0;
}
