/** CRC-32C: published vectors and agreement with a bitwise reference. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { crc32c } from "../../src/core/wire/crc32c.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0xc3c) | 0;

/** Bit-at-a-time CRC-32C (reflected polynomial 0x82F63B78). */
function reference(data: Uint8Array, start = 0, end = data.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) {
    crc ^= data[i];
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

test("known vectors (RFC 3720 §B.4 and the check value)", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c);
  assert.equal(crc32c(new Uint8Array(0)), 0);
});

test("the reference agrees with the vectors (so the property below is meaningful)", () => {
  assert.equal(reference(new TextEncoder().encode("123456789")), 0xe3069283);
  assert.equal(reference(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
});

test("result is an unsigned 32-bit integer", () => {
  for (let n = 0; n < 40; n++) {
    const v = crc32c(new Uint8Array(n).fill(0xa5));
    assert.ok(Number.isInteger(v) && v >= 0 && v <= 0xffffffff);
  }
});

test("every length 0..100 agrees with the reference", () => {
  const data = Uint8Array.from({ length: 100 }, (_, i) => (i * 151 + 7) & 0xff);
  for (let n = 0; n <= 100; n++) assert.equal(crc32c(data.subarray(0, n)), reference(data, 0, n), `length ${n}`);
});

test("property: random inputs of length 0..100 agree with the reference", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 100 }), (data) => crc32c(data) === reference(data)),
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
      assert.equal(crc32c(data, start, end), expected);
      assert.equal(crc32c(data.slice(start, end)), expected);
      // A subarray view (nonzero byteOffset) gives the same answer.
      assert.equal(crc32c(data.subarray(start, end)), expected);
      // Default end is the array's length.
      assert.equal(crc32c(data, start), reference(data, start));
    }),
    { seed: FC_SEED, numRuns: 1000 },
  );
});
