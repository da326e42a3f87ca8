/** CRC-32 (IEEE): published vectors, agreement with a bitwise reference, with zlib.crc32 and with the native addon's (the driver's fast paths). */

import assert from "node:assert/strict";
import { test } from "node:test";
import * as zlib from "node:zlib";
import fc from "fast-check";
import { crc32 } from "../../src/core/wire/crc32.js";
import { type NativeUdpBinding, nativeUdpBinding } from "../../src/runtime/native-udp.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0xc3c) | 0;

/** Bit-at-a-time CRC-32 (reflected polynomial 0xEDB88320). */
function reference(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc ^= data[i];
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test("known vectors (the CRC-32 check value and fixed patterns)", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(32)), 0x190a55ad);
  assert.equal(crc32(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
  assert.equal(crc32(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x91267e8a);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test("the reference agrees with the vectors (so the property below is meaningful)", () => {
  assert.equal(reference(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(reference(new Uint8Array(32).fill(0xff)), 0xff6cab0b);
});

test("result is an unsigned 32-bit integer", () => {
  for (let n = 0; n < 40; n++) {
    const v = crc32(new Uint8Array(n).fill(0xa5));
    assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
  }
});

test("every length 0..100 agrees with the reference", () => {
  const data = Uint8Array.from({ length: 100 }, (_, i) => (i * 151 + 7) & 0xff);
  for (let n = 0; n <= 100; n++) assert.equal(crc32(data.subarray(0, n)), reference(data, 0, n), `length ${n}`);
});

test("property: random inputs of length 0..100 agree with the reference", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), (data) => crc32(data) === reference(data)),
    { seed: FC_SEED, numRuns: 1000 },
  );
});

test("property: start/end offsets select exactly data[start, end)", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), fc.nat(), fc.nat(), (data, x, y) => {
      const a = data.length === 0 ? 0 : x % (data.length + 1);
      const b = data.length === 0 ? 0 : y % (data.length + 1);
      const [start, end] = a <= b ? [a, b] : [b, a];
      const expected = reference(data, start, end);
      assert.equal(crc32(data, start, end), expected);
      assert.equal(crc32(data.slice(start, end)), expected);
      // A subarray view (nonzero byteOffset) gives the same answer.
      assert.equal(crc32(data.subarray(start, end)), expected);
      // Default end is the array's length.
      assert.equal(crc32(data, start), reference(data, start));
    }),
    { seed: FC_SEED, numRuns: 1000 },
  );
});

test("agrees with zlib.crc32 (injected by the Node runtime) at packet sizes", { skip: !zlib.crc32 }, () => {
  const data = Uint8Array.from({ length: 65536 }, (_, i) => (i * 2654435761) >>> 24);
  for (const n of [0, 1, 7, 8, 9, 20, 1196, 1200, 9000, 65503, 65536])
    assert.equal(crc32(data, 0, n), zlib.crc32(data.subarray(0, n)), `length ${n}`);
});

test("a CRC-32 continued over a split buffer equals the CRC-32 of the whole (as zlib.crc32(data, value))", () => {
  const data = Uint8Array.from({ length: 1000 }, (_, i) => (i * 31) & 0xff);
  const whole = crc32(data);
  for (const cut of [0, 1, 7, 8, 500, 999, 1000]) {
    assert.equal(crc32(data, cut, data.length, crc32(data, 0, cut)), whole, `split at ${cut}`);
    if (typeof zlib.crc32 === "function") assert.equal(zlib.crc32(data.subarray(cut), crc32(data, 0, cut)), whole);
  }
});

const addon = process.env.RUDP_DATAPATH === "dgram" ? undefined : nativeUdpBinding();

test("the native addon's CRC-32 agrees with the core's at every length 0..300, misaligned starts and packet sizes", {
  skip: addon ? false : "the native addon is not loaded",
}, () => {
  const crc = (addon as NativeUdpBinding).crc32;
  const data = Uint8Array.from({ length: 70_000 }, (_, i) => (i * 2654435761) >>> 24);
  for (let n = 0; n <= 300; n++)
    for (const start of [0, 1, 3, 15]) assert.equal(crc(data, start, start + n), crc32(data, start, start + n));
  for (const n of [1196, 1200, 1444, 9000, 65000, 65507])
    for (const start of [0, 5]) assert.equal(crc(data, start, start + n), crc32(data, start, start + n), `length ${n}`);
  assert.equal(crc(new TextEncoder().encode("123456789"), 0, 9), 0xcbf43926);
  assert.throws(() => crc(data, 10, 5), RangeError);
  assert.throws(() => crc(data, 0, data.length + 1), RangeError);
});

test("property: the native addon's CRC-32 of random ranges equals the reference", {
  skip: addon ? false : "the native addon is not loaded",
}, () => {
  const crc = (addon as NativeUdpBinding).crc32;
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 3000 }), fc.nat(), fc.nat(), (data, x, y) => {
      const a = x % (data.length + 1);
      const b = y % (data.length + 1);
      const [start, end] = a <= b ? [a, b] : [b, a];
      return crc(data, start, end) === reference(data, start, end);
    }),
    { seed: FC_SEED, numRuns: 500 },
  );
});
