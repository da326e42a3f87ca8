/** The data `rudp bench` sends on loopback, and the CRC-32 both processes compute over it. */

import * as zlib from "node:zlib";
import { crc32 as coreCrc32 } from "../core/wire/crc32.js";

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

/** What `pump` writes to: a rudp socket, a node:net socket, a udx stream… */
export interface BenchWritable {
  write(chunk: Buffer): boolean;
  end(): void;
  once(event: "drain", listener: () => void): unknown;
}

/** Writes the `total`-byte transfer's chunks to `stream` with backpressure, then ends it. */
export function pump(stream: BenchWritable, total: number): void {
  const it = benchChunks(total);
  const more = (): void => {
    for (let r = it.next(); !r.done; r = it.next()) {
      if (!stream.write(r.value)) {
        stream.once("drain", more);
        return;
      }
    }
    stream.end();
  };
  more();
}

/** Continues the CRC-32 `value` over `data`: zlib's, or the core's where zlib lacks it (before Node 20.15). */
export const crc32: (data: Uint8Array, value?: number) => number =
  typeof zlib.crc32 === "function" ? zlib.crc32 : (data, value = 0) => coreCrc32(data, 0, data.length, value);

/** The CRC-32 of a whole `total`-byte transfer. */
export function expectedCrc(total: number): number {
  let crc = 0;
  for (const c of benchChunks(total)) crc = crc32(c, crc);
  return crc;
}
