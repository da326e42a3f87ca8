/** Handshake extensions (u8 type, u16 length, value): round trips, unknown types skipped, malformed entries ignored. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import {
  ExtType,
  type HandshakeExtensions,
  readHandshakeExtensions,
  writeHandshakeExtensions,
} from "../../src/core/connection/handshake-ext.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0xe271) | 0;

/** One raw TLV entry. */
function entry(type: number, value: Uint8Array | number[], len = value.length): Uint8Array {
  const out = new Uint8Array(3 + value.length);
  out[0] = type;
  new DataView(out.buffer).setUint16(1, len);
  out.set(value, 3);
  return out;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const u32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const TOKEN = Uint8Array.from([9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0xaa, 0x55]);

function plain(x: HandshakeExtensions): { maxMessageSize?: number; token?: number[] } {
  const out: { maxMessageSize?: number; token?: number[] } = {};
  if (x.maxMessageSize !== undefined) out.maxMessageSize = x.maxMessageSize;
  if (x.token !== undefined) out.token = Array.from(x.token);
  return out;
}

test("the type codes are stable on the wire", () => {
  assert.equal(ExtType.MAX_MESSAGE_SIZE, 1);
  assert.equal(ExtType.TOKEN, 2);
});

test("empty: nothing written, nothing read", () => {
  assert.equal(writeHandshakeExtensions({}).length, 0);
  assert.deepEqual(plain(readHandshakeExtensions(new Uint8Array(0))), {});
});

test("maxMessageSize round trips and is encoded as type 1, length 4, u32 big-endian", () => {
  const bytes = writeHandshakeExtensions({ maxMessageSize: 0x01020304 });
  assert.deepEqual(Array.from(bytes), [1, 0, 4, 1, 2, 3, 4]);
  for (const n of [0, 1, 65_536, 16 << 20, 0xffff_ffff])
    assert.equal(readHandshakeExtensions(writeHandshakeExtensions({ maxMessageSize: n })).maxMessageSize, n);
});

test("maxMessageSize beyond u32 is clamped to 0xffffffff", () => {
  assert.equal(
    readHandshakeExtensions(writeHandshakeExtensions({ maxMessageSize: 2 ** 40 })).maxMessageSize,
    0xffff_ffff,
  );
});

test("token round trips and is encoded as type 2, u16 length, bytes", () => {
  const bytes = writeHandshakeExtensions({ token: TOKEN });
  assert.deepEqual(Array.from(bytes), [2, 0, TOKEN.length, ...TOKEN]);
  assert.deepEqual(plain(readHandshakeExtensions(bytes)), { token: Array.from(TOKEN) });
});

test("both together round trip", () => {
  const x = { maxMessageSize: 1 << 20, token: TOKEN };
  const bytes = writeHandshakeExtensions(x);
  assert.equal(bytes.length, 7 + 3 + TOKEN.length);
  assert.deepEqual(plain(readHandshakeExtensions(bytes)), plain(x));
});

test("the token read back is a view into the input at any byte offset", () => {
  const bytes = writeHandshakeExtensions({ token: TOKEN });
  const big = new Uint8Array(bytes.length + 10);
  big.set(bytes, 5);
  const view = big.subarray(5, 5 + bytes.length);
  const t = readHandshakeExtensions(view).token;
  assert.ok(t);
  assert.deepEqual(Array.from(t), Array.from(TOKEN));
  assert.equal(t.buffer, big.buffer);
  assert.equal(readHandshakeExtensions(view).maxMessageSize, undefined);
});

test("entries in either order are read", () => {
  const bytes = cat(entry(2, TOKEN), entry(1, u32(1234)));
  assert.deepEqual(plain(readHandshakeExtensions(bytes)), { maxMessageSize: 1234, token: Array.from(TOKEN) });
});

test("unknown types are skipped, before, between and after known ones", () => {
  const bytes = cat(
    entry(0, []),
    entry(3, [1, 2, 3, 4, 5]),
    entry(1, u32(777)),
    entry(0x7f, new Uint8Array(300)),
    entry(2, TOKEN),
    entry(0xff, [0xff, 0xff, 0xff]),
  );
  assert.deepEqual(plain(readHandshakeExtensions(bytes)), { maxMessageSize: 777, token: Array.from(TOKEN) });
});

test("an unknown type whose value looks like a known entry is skipped as a whole", () => {
  const inner = entry(1, u32(42));
  assert.deepEqual(plain(readHandshakeExtensions(entry(9, inner))), {});
});

test("known types with a malformed value are ignored but do not stop the walk", () => {
  const bytes = cat(entry(1, [1, 2, 3]), entry(1, [1, 2, 3, 4, 5]), entry(2, []), entry(1, u32(99)));
  assert.deepEqual(plain(readHandshakeExtensions(bytes)), { maxMessageSize: 99 });
});

test("a zero-length token is not a token", () => {
  assert.deepEqual(plain(readHandshakeExtensions(entry(2, []))), {});
});

test("a truncated entry is ignored, earlier entries kept", () => {
  const good = entry(1, u32(5000));
  // Length claims more than remains.
  assert.deepEqual(plain(readHandshakeExtensions(cat(good, entry(2, TOKEN, TOKEN.length + 1)))), {
    maxMessageSize: 5000,
  });
  // Value cut short.
  const tok = entry(2, TOKEN);
  for (let cut = 1; cut < tok.length; cut++)
    assert.deepEqual(
      plain(readHandshakeExtensions(cat(good, tok.subarray(0, cut)))),
      { maxMessageSize: 5000 },
      `cut ${cut}`,
    );
  // A known entry whose length runs past the end is not read.
  assert.deepEqual(plain(readHandshakeExtensions(entry(1, u32(1), 0xffff))), {});
});

test("fewer than three bytes are not an entry", () => {
  for (const b of [[1], [1, 0], [2, 0]]) assert.deepEqual(plain(readHandshakeExtensions(Uint8Array.from(b))), {});
});

test("property: write then read round trips", () => {
  fc.assert(
    fc.property(
      fc.option(fc.integer({ min: 0, max: 0xffff_ffff }), { nil: undefined }),
      fc.option(fc.uint8Array({ minLength: 1, maxLength: 200 }), { nil: undefined }),
      (maxMessageSize, token) => {
        const x: HandshakeExtensions = {};
        if (maxMessageSize !== undefined) x.maxMessageSize = maxMessageSize;
        if (token !== undefined) x.token = token;
        assert.deepEqual(plain(readHandshakeExtensions(writeHandshakeExtensions(x))), plain(x));
      },
    ),
    { seed: FC_SEED, numRuns: 300 },
  );
});

test("property: reading arbitrary bytes never throws and returns only well-formed fields", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
      const x = readHandshakeExtensions(bytes);
      if (x.maxMessageSize !== undefined) assert.ok(Number.isInteger(x.maxMessageSize) && x.maxMessageSize >= 0);
      if (x.token !== undefined) assert.ok(x.token.length > 0 && x.token.length <= bytes.length - 3);
    }),
    { seed: FC_SEED, numRuns: 1000 },
  );
});

test("property: unknown entries interleaved anywhere do not change what is read", () => {
  const unknown = fc
    .tuple(fc.integer({ min: 3, max: 255 }), fc.uint8Array({ maxLength: 20 }))
    .map(([t, v]) => entry(t, v));
  fc.assert(
    fc.property(
      fc.array(unknown, { maxLength: 3 }),
      fc.array(unknown, { maxLength: 3 }),
      fc.integer({ min: 0, max: 0xffff_ffff }),
      fc.uint8Array({ minLength: 1, maxLength: 64 }),
      (before, after, mms, token) => {
        const known = writeHandshakeExtensions({ maxMessageSize: mms, token });
        const bytes = cat(...before, known, ...after);
        assert.deepEqual(plain(readHandshakeExtensions(bytes)), { maxMessageSize: mms, token: Array.from(token) });
      },
    ),
    { seed: FC_SEED, numRuns: 300 },
  );
});

test("FRAGMENTS is an empty entry; with a value it is skipped", () => {
  const ext = writeHandshakeExtensions({ maxMessageSize: 1000, fragments: true });
  assert.deepEqual([...ext.subarray(7)], [ExtType.FRAGMENTS, 0, 0]);
  assert.equal(readHandshakeExtensions(ext).fragments, true);
  assert.equal(readHandshakeExtensions(writeHandshakeExtensions({ maxMessageSize: 1000 })).fragments, undefined);
  assert.equal(readHandshakeExtensions(entry(ExtType.FRAGMENTS, [1])).fragments, undefined);
  const withNoise = writeHandshakeExtensions({ noise: Uint8Array.of(1, 2, 3), fragments: true });
  assert.deepEqual([...(readHandshakeExtensions(withNoise).noise ?? [])], [1, 2, 3]);
  assert.equal(readHandshakeExtensions(withNoise).fragments, true);
});
