/** Stateless address-validation tokens: valid within their lifetime, "expired" after, "forged" for any tampering or another key. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import type { Address } from "../../src/core/address.js";
import { AddressTokens, TOKEN_SIZE } from "../../src/core/address-token.js";
import { SeededRng } from "../../src/core/rng.js";
import { MS, SECOND } from "../../src/core/time.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0x70c3) | 0;
const LIFETIME = 10 * SECOND;
const FROM: Address = { address: "192.0.2.7", port: 40_000 };
const CID = 0x1234_5678;
/** A mint time on a whole second, so "lifetime" lands exactly on the token's second granularity. */
const T0 = 1_000 * SECOND;

function tokens(seed = 1, lifetime = LIFETIME): AddressTokens {
  return new AddressTokens(new SeededRng(seed), lifetime);
}

test("a fresh token is TOKEN_SIZE bytes and valid for the address and cid it was minted for", () => {
  const t = tokens();
  const token = t.mint(T0, FROM, CID);
  assert.equal(token.length, TOKEN_SIZE);
  assert.equal(TOKEN_SIZE, 12);
  assert.equal(t.check(T0, token, FROM, CID), "valid");
});

test("the first four bytes are the issue time in whole seconds (big-endian)", () => {
  const t = tokens();
  const token = t.mint(T0 + 999 * MS, FROM, CID);
  assert.equal(new DataView(token.buffer, token.byteOffset).getUint32(0), T0 / SECOND);
});

test("valid throughout the lifetime", () => {
  const t = tokens();
  const token = t.mint(T0, FROM, CID);
  for (const dt of [0, 1, 500 * MS, SECOND, 5 * SECOND, LIFETIME - 1, LIFETIME])
    assert.equal(t.check(T0 + dt, token, FROM, CID), "valid", `after ${dt} µs`);
});

test("expired once the lifetime has passed (to the second)", () => {
  const t = tokens();
  const token = t.mint(T0, FROM, CID);
  for (const dt of [LIFETIME + SECOND, LIFETIME + 5 * SECOND, 3600 * SECOND, 1_000_000 * SECOND])
    assert.equal(t.check(T0 + dt, token, FROM, CID), "expired", `after ${dt} µs`);
});

test("the lifetime is honoured to within one second of the token's granularity", () => {
  const t = tokens();
  for (const mintedAt of [T0, T0 + 1, T0 + 400 * MS, T0 + SECOND - 1]) {
    const token = t.mint(mintedAt, FROM, CID);
    // Always accepted up to lifetime − 1 s after minting; never accepted beyond lifetime + 1 s.
    assert.equal(t.check(mintedAt + LIFETIME - SECOND, token, FROM, CID), "valid");
    assert.equal(t.check(mintedAt + LIFETIME + SECOND, token, FROM, CID), "expired");
  }
});

test("a token presented before it was issued (clock went back) is expired, not valid", () => {
  const t = tokens();
  const token = t.mint(T0, FROM, CID);
  assert.equal(t.check(T0 - 2 * SECOND, token, FROM, CID), "expired");
});

test("other lifetimes are honoured", () => {
  const t = tokens(3, 2 * SECOND);
  const token = t.mint(T0, FROM, CID);
  assert.equal(t.check(T0 + 2 * SECOND, token, FROM, CID), "valid");
  assert.equal(t.check(T0 + 3 * SECOND, token, FROM, CID), "expired");
});

test("any changed byte makes the token forged", () => {
  const t = tokens();
  const token = t.mint(T0, FROM, CID);
  for (let i = 0; i < token.length; i++) {
    for (const x of [0x01, 0x80, 0xff]) {
      const bad = token.slice();
      bad[i] ^= x;
      assert.equal(t.check(T0 + SECOND, bad, FROM, CID), "forged", `byte ${i} ^ ${x}`);
    }
  }
});

test("a changed issue time is forged, not merely expired or refreshed", () => {
  const t = tokens();
  const old = t.mint(T0, FROM, CID);
  const later = T0 + 60 * SECOND;
  const refreshed = old.slice();
  new DataView(refreshed.buffer).setUint32(0, later / SECOND);
  assert.equal(t.check(later, old, FROM, CID), "expired");
  assert.equal(t.check(later, refreshed, FROM, CID), "forged");
});

test("another address, port or cid makes the token forged", () => {
  const t = tokens();
  const token = t.mint(T0, FROM, CID);
  const others: [Address, number][] = [
    [{ address: "192.0.2.8", port: FROM.port }, CID],
    [{ address: "192.0.2.70", port: FROM.port }, CID],
    [{ address: "::ffff:192.0.2.7", port: FROM.port }, CID],
    [{ address: FROM.address, port: FROM.port + 1 }, CID],
    [{ address: FROM.address, port: 4000 }, CID],
    [FROM, CID + 1],
    [FROM, CID ^ 0x8000_0000],
    [FROM, 0],
  ];
  for (const [addr, cid] of others)
    assert.equal(t.check(T0, token, addr, cid), "forged", `${addr.address}:${addr.port} cid ${cid}`);
});

test("address and port boundaries cannot be shifted ('1.2.3.4':55 vs '1.2.3.45':5)", () => {
  const t = tokens();
  const token = t.mint(T0, { address: "1.2.3.4", port: 55 }, CID);
  assert.equal(t.check(T0, token, { address: "1.2.3.45", port: 5 }, CID), "forged");
  assert.equal(t.check(T0, token, { address: "1.2.3.4", port: 55 }, CID), "valid");
});

test("IPv6 addresses are bound too", () => {
  const t = tokens();
  const a6: Address = { address: "2001:db8::1", port: 443 };
  const token = t.mint(T0, a6, CID);
  assert.equal(t.check(T0, token, a6, CID), "valid");
  assert.equal(t.check(T0, token, { address: "2001:db8::2", port: 443 }, CID), "forged");
});

test("cids are taken as unsigned 32-bit: -1 and 0xffffffff are the same cid", () => {
  const t = tokens();
  const token = t.mint(T0, FROM, 0xffff_ffff);
  assert.equal(t.check(T0, token, FROM, -1), "valid");
  assert.equal(t.check(T0, token, FROM, 0xffff_fffe), "forged");
});

test("a wrong length is forged (empty, truncated, extended)", () => {
  const t = tokens();
  const token = t.mint(T0, FROM, CID);
  const longer = new Uint8Array(TOKEN_SIZE + 1);
  longer.set(token);
  for (const bad of [new Uint8Array(0), token.subarray(0, 4), token.subarray(0, TOKEN_SIZE - 1), longer])
    assert.equal(t.check(T0, bad, FROM, CID), "forged", `length ${bad.length}`);
});

test("a token read as a view at an odd offset of a larger buffer checks the same", () => {
  const t = tokens();
  const token = t.mint(T0, FROM, CID);
  const big = new Uint8Array(64);
  big.set(token, 13);
  assert.equal(t.check(T0, big.subarray(13, 13 + TOKEN_SIZE), FROM, CID), "valid");
});

test("tokens from another instance (another key) are forged; the same key stream gives the same key", () => {
  const a = tokens(1);
  const b = tokens(2);
  const tokenA = a.mint(T0, FROM, CID);
  const tokenB = b.mint(T0, FROM, CID);
  assert.notDeepEqual(tokenA, tokenB);
  assert.equal(b.check(T0, tokenA, FROM, CID), "forged");
  assert.equal(a.check(T0, tokenB, FROM, CID), "forged");
  // The key comes from the Rng alone: an instance drawing the same numbers accepts the token.
  assert.equal(tokens(1).check(T0, tokenA, FROM, CID), "valid");
});

test("property: round trip, and any single-bit flip is forged", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 0x7fff_ffff }),
      fc.ipV4(),
      fc.integer({ min: 1, max: 65_535 }),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.integer({ min: 0, max: 4_000_000 * SECOND }),
      fc.integer({ min: 0, max: TOKEN_SIZE * 8 - 1 }),
      (seed, address, port, cid, now, bit) => {
        const t = tokens(seed);
        const from = { address, port };
        const token = t.mint(now, from, cid);
        assert.equal(t.check(now, token, from, cid), "valid");
        const bad = token.slice();
        bad[bit >> 3] ^= 1 << (bit & 7);
        assert.equal(t.check(now, bad, from, cid), "forged");
      },
    ),
    { seed: FC_SEED, numRuns: 300 },
  );
});
