/**
 * SipHash-2-4 (Aumasson & Bernstein): a keyed 64-bit MAC for short inputs,
 * used for the endpoint's stateless address-validation tokens. BigInt keeps
 * it short and exact; it runs once per token, never per data packet.
 */

const MASK = (1n << 64n) - 1n;

function rotl(x: bigint, b: bigint): bigint {
  return ((x << b) | (x >> (64n - b))) & MASK;
}

/** SipHash-2-4 of `data` under a 16-byte `key`, as 8 bytes (little-endian, as the reference). */
export function siphash24(key: Uint8Array, data: Uint8Array): Uint8Array {
  if (key.length !== 16) throw new RangeError("SipHash key must be 16 bytes");
  const k0 = readU64(key, 0);
  const k1 = readU64(key, 8);
  let v0 = k0 ^ 0x736f6d6570736575n;
  let v1 = k1 ^ 0x646f72616e646f6dn;
  let v2 = k0 ^ 0x6c7967656e657261n;
  let v3 = k1 ^ 0x7465646279746573n;
  const round = () => {
    v0 = (v0 + v1) & MASK;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & MASK;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & MASK;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const n = data.length;
  const whole = n - (n % 8);
  for (let i = 0; i < whole; i += 8) {
    const m = readU64(data, i);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  let last = BigInt(n & 0xff) << 56n;
  for (let i = whole; i < n; i++) last |= BigInt(data[i]) << BigInt(8 * (i - whole));
  v3 ^= last;
  round();
  round();
  v0 ^= last;
  v2 ^= 0xffn;
  round();
  round();
  round();
  round();
  const h = v0 ^ v1 ^ v2 ^ v3;
  const out = new Uint8Array(8);
  for (let i = 0; i < 8; i++) out[i] = Number((h >> BigInt(8 * i)) & 0xffn);
  return out;
}

function readU64(b: Uint8Array, off: number): bigint {
  let x = 0n;
  for (let i = 7; i >= 0; i--) x = (x << 8n) | BigInt(b[off + i]);
  return x;
}
