/** Wire codec: round trips, truncation, garbage, bit flips, invalid combinations. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../src/core/errors.js";
import { crc32 } from "../../src/core/wire/crc32.js";
import {
  ACK_SECTION_SIZE,
  CHECKSUM_SIZE,
  checksumValid,
  DATA_SECTION_SIZE,
  decodeDatagram,
  emitPacket,
  Flag,
  HEADER_SIZE,
  MAGIC,
  MAX_DATAGRAM_SIZE,
  MAX_SACK_RANGES,
  MIN_MAX_PACKET_SIZE,
  MIN_PACKET_SIZE,
  type PacketRepr,
  packetLength,
  parsePacket,
  peekDcid,
  SACK_RANGE_SIZE,
  SYN_SECTION_SIZE,
  VERSION,
} from "../../src/core/wire/packet.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0x9a11) | 0;

const EMPTY = new Uint8Array(0);

function base(flags: number, extra: Partial<PacketRepr> = {}): PacketRepr {
  return {
    flags,
    dcid: 0xdeadbeef,
    scid: 0x01020304,
    tsval: 123456,
    tsecr: 0xfffffff0,
    handshake: undefined,
    ack: undefined,
    seq: 0,
    payload: EMPTY,
    ...extra,
  };
}

function emit(p: PacketRepr): Uint8Array {
  const out = new Uint8Array(packetLength(p));
  const n = emitPacket(p, out);
  assert.equal(n, out.length, "emitPacket returns packetLength");
  return out;
}

/** Re-seals `body` (everything before the trailer) with a correct CRC-32. */
function seal(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(body.length + CHECKSUM_SIZE);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, crc32(body));
  return out;
}

function bodyOf(d: Uint8Array): Uint8Array {
  return d.subarray(0, d.length - CHECKSUM_SIZE);
}

function assertSame(actual: PacketRepr, expected: PacketRepr): void {
  assert.equal(actual.flags, expected.flags);
  assert.equal(actual.dcid, expected.dcid >>> 0);
  assert.equal(actual.scid, expected.scid >>> 0);
  assert.equal(actual.tsval, expected.tsval >>> 0);
  assert.equal(actual.tsecr, expected.tsecr >>> 0);
  if (expected.handshake) {
    assert.ok(actual.handshake, "handshake present");
    assert.equal(actual.handshake.isn, expected.handshake.isn >>> 0);
    assert.equal(actual.handshake.window, expected.handshake.window >>> 0);
    assert.equal(actual.handshake.maxPacketSize, expected.handshake.maxPacketSize);
    assert.deepEqual([...actual.handshake.ext], [...expected.handshake.ext]);
  } else {
    assert.equal(actual.handshake, undefined);
  }
  if (expected.ack) {
    assert.ok(actual.ack, "ack present");
    assert.equal(actual.ack.cumAck, expected.ack.cumAck >>> 0);
    assert.equal(actual.ack.window, expected.ack.window >>> 0);
    assert.equal(actual.ack.ackDelay, expected.ack.ackDelay);
    assert.deepEqual(
      actual.ack.ranges,
      expected.ack.ranges.map((v) => v >>> 0),
    );
  } else {
    assert.equal(actual.ack, undefined);
  }
  if (expected.flags & Flag.DATA) assert.equal(actual.seq, expected.seq >>> 0);
  assert.deepEqual([...actual.payload], [...expected.payload]);
}

function expectDecodeError(data: Uint8Array, msg?: RegExp): void {
  assert.throws(
    () => decodeDatagram(data),
    (e: unknown) => {
      assert.ok(e instanceof DecodeError, `expected DecodeError, got ${String(e)}`);
      if (msg) assert.match(e.message, msg);
      return true;
    },
  );
}

/** Throws if `fn` throws anything but a DecodeError; returns the result or undefined. */
function decodeOrDecodeError(data: Uint8Array): PacketRepr | undefined {
  try {
    return decodeDatagram(data);
  } catch (e) {
    if (e instanceof DecodeError) return undefined;
    throw e;
  }
}

const MIN_MPS = MIN_MAX_PACKET_SIZE;

function ackWithRanges(n: number, cumAck = 1000): PacketRepr {
  const ranges: number[] = [];
  for (let i = 0; i < n; i++) ranges.push(cumAck + 10 * i + 2, cumAck + 10 * i + 5);
  return base(Flag.ACK, { ack: { cumAck, window: 65536, ackDelay: 2500, ranges } });
}

const SHAPES: [string, PacketRepr][] = [
  [
    "SYN",
    base(Flag.SYN, {
      scid: 7,
      dcid: 0,
      handshake: { isn: 0xabcdef01, window: 1 << 22, maxPacketSize: 1200, ext: EMPTY },
    }),
  ],
  [
    "SYN|ACK with extensions",
    base(Flag.SYN | Flag.ACK, {
      handshake: {
        isn: 42,
        window: 0xffffffff,
        maxPacketSize: MAX_DATAGRAM_SIZE,
        ext: new Uint8Array([1, 4, 0xca, 0xfe, 0xba, 0xbe]),
      },
      ack: { cumAck: 0xabcdef02, window: 4096, ackDelay: 0, ranges: [] },
    }),
  ],
  ...Array.from({ length: MAX_SACK_RANGES + 1 }, (_, n): [string, PacketRepr] => [
    `ACK with ${n} ranges`,
    ackWithRanges(n),
  ]),
  ["ACK with ranges across the 2^32 wrap", ackWithRanges(4, 0xfffffff0)],
  ["DATA with payload", base(Flag.DATA, { seq: 0xffffffff, payload: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]) })],
  ["DATA with empty payload", base(Flag.DATA, { seq: 5 })],
  [
    "DATA|ACK piggyback",
    base(Flag.DATA | Flag.ACK, {
      seq: 77,
      payload: new Uint8Array(100).fill(0x5a),
      ack: { cumAck: 10, window: 1, ackDelay: 0xffffffff, ranges: [12, 14, 20, 21, 30, 40] },
    }),
  ],
  ["DATA|FIN", base(Flag.DATA | Flag.FIN, { seq: 99 })],
  ["DATA|MSG", base(Flag.DATA | Flag.MSG, { seq: 1, payload: new Uint8Array([9, 8]) })],
  ["DATA|MSG|MSG_END", base(Flag.DATA | Flag.MSG | Flag.MSG_END, { seq: 2, payload: new Uint8Array([7]) })],
  ["empty DATA|MSG|MSG_END", base(Flag.DATA | Flag.MSG | Flag.MSG_END, { seq: 3 })],
  ["PING|ACK", base(Flag.PING | Flag.ACK, { ack: { cumAck: 5, window: 100, ackDelay: 10, ranges: [] } })],
  ["PING", base(Flag.PING)],
  ["RST", base(Flag.RST, { scid: 0 })],
  ["RST with nonzero scid", base(Flag.RST)],
];

test("round trip of every packet shape", () => {
  for (const [name, p] of SHAPES) {
    const d = emit(p);
    assert.ok(checksumValid(d), name);
    assert.equal(peekDcid(d), p.dcid >>> 0, name);
    const q = decodeDatagram(d);
    assertSame(q, p);
    // Re-emitting the decoded packet reproduces the exact bytes.
    assert.deepEqual(emit(q), d, name);
  }
});

test("layout: header fields are big-endian at their documented offsets", () => {
  const d = emit(base(Flag.PING));
  assert.equal(d.length, MIN_PACKET_SIZE);
  assert.deepEqual(
    [...d.subarray(0, 20)],
    [0x52, 1, 0, 0x20, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 0, 1, 0xe2, 0x40, 0xff, 0xff, 0xff, 0xf0],
  );
  assert.equal(MAGIC, 0x52);
  assert.equal(VERSION, 1);
  const crc = new DataView(d.buffer).getUint32(20);
  assert.equal(crc, crc32(d, 0, 20));
});

test("packetLength counts every section", () => {
  assert.equal(packetLength(ackWithRanges(3)), HEADER_SIZE + ACK_SECTION_SIZE + 3 * SACK_RANGE_SIZE + CHECKSUM_SIZE);
  assert.equal(packetLength(SHAPES[1][1]), HEADER_SIZE + SYN_SECTION_SIZE + 6 + ACK_SECTION_SIZE + CHECKSUM_SIZE);
  assert.equal(
    packetLength(base(Flag.DATA, { payload: new Uint8Array(10) })),
    HEADER_SIZE + DATA_SECTION_SIZE + 10 + CHECKSUM_SIZE,
  );
});

test("decoding a datagram that is a view into a larger buffer", () => {
  const p = SHAPES[1][1];
  const d = emit(p);
  const big = new Uint8Array(d.length + 17).fill(0xee);
  big.set(d, 9);
  const view = big.subarray(9, 9 + d.length);
  assertSame(decodeDatagram(view), p);
  assert.equal(peekDcid(view), p.dcid);
});

test("truncation at every length gives DecodeError only", () => {
  for (const [name, p] of SHAPES) {
    const d = emit(p);
    for (let k = 0; k < d.length; k++) {
      // Cut datagram with its (now wrong) trailer.
      expectDecodeError(d.slice(0, k));
      // Cut body re-sealed with a valid CRC: only DATA may shrink its payload.
      const body = bodyOf(d);
      if (k > body.length) continue;
      const sealed = seal(body.slice(0, k));
      const dataStart = body.length - p.payload.length;
      if (p.flags & Flag.DATA && k >= dataStart && !(p.flags & Flag.FIN)) {
        const q = decodeDatagram(sealed);
        assertSame(q, { ...p, payload: p.payload.subarray(0, k - dataStart) });
      } else if (k < body.length) {
        assert.throws(() => decodeDatagram(sealed), DecodeError, `${name} cut to ${k}`);
      }
    }
  }
});

test("trailing bytes after a non-DATA packet are rejected; after DATA they are payload", () => {
  for (const [name, p] of SHAPES) {
    const body = bodyOf(emit(p));
    for (const extra of [1, 3, 8, 100]) {
      const longer = new Uint8Array(body.length + extra).fill(0xab);
      longer.set(body);
      const sealed = seal(longer);
      if (p.flags & Flag.DATA && !(p.flags & Flag.FIN)) {
        const q = decodeDatagram(sealed);
        assert.equal(q.payload.length, p.payload.length + extra, name);
      } else if (p.flags === Flag.RST && extra === 1) {
        assert.equal(decodeDatagram(sealed).reason, 0xab, "one byte after a RST is its reason");
      } else {
        assert.throws(() => decodeDatagram(sealed), DecodeError, name);
      }
    }
  }
});

test("FIN with payload is rejected", () => {
  const body = bodyOf(emit(base(Flag.DATA | Flag.FIN, { seq: 1 })));
  const longer = new Uint8Array(body.length + 1);
  longer.set(body);
  expectDecodeError(seal(longer), /FIN/);
});

test("parsePacket on very short input throws DecodeError", () => {
  for (let k = 0; k < MIN_PACKET_SIZE; k++) assert.throws(() => parsePacket(new Uint8Array(k)), DecodeError);
});

test("garbage never throws anything but DecodeError; peekDcid never throws", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), (bytes) => {
      decodeOrDecodeError(bytes);
      const id = peekDcid(bytes);
      assert.ok(id === -1 || (Number.isInteger(id) && id >= 0 && id <= 0xffffffff));
      // The same bytes with a valid checksum go through the full parser.
      decodeOrDecodeError(seal(bytes));
    }),
    { seed: FC_SEED, numRuns: 2000 },
  );
});

test("garbage behind a valid header prefix reaches the parser and only throws DecodeError", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.uint8Array({ minLength: 0, maxLength: 120 }),
      (flags, cids, rest) => {
        const body = new Uint8Array(20 + rest.length);
        body.set([0x52, 0x55, VERSION, flags]);
        body.set(cids, 4);
        body.set(rest, 20);
        const d = seal(body);
        const q = decodeOrDecodeError(d);
        if (q) assert.deepEqual(emit(q), d, "a valid datagram re-emits byte for byte");
      },
    ),
    { seed: FC_SEED, numRuns: 3000 },
  );
});

test("peekDcid: -1 for short, wrong magic or wrong version; dcid otherwise (even with bad CRC)", () => {
  const d = emit(base(Flag.PING, { dcid: 0x80000001 }));
  assert.equal(peekDcid(d), 0x80000001);
  assert.equal(peekDcid(d.subarray(0, MIN_PACKET_SIZE - 1)), -1);
  for (const [i, v] of [
    [0, 0x53],
    [1, 2],
    [1, 0],
  ] as const) {
    const bad = d.slice();
    bad[i] = v;
    assert.equal(peekDcid(bad), -1);
  }
  const badCrc = d.slice();
  badCrc[d.length - 1] ^= 1;
  assert.equal(peekDcid(badCrc), 0x80000001);
  assert.equal(peekDcid(new Uint8Array(0)), -1);
});

test("every single bit flip is caught by checksumValid (exhaustive, small packet)", () => {
  const d = emit(base(Flag.PING | Flag.ACK, { ack: { cumAck: 5, window: 100, ackDelay: 10, ranges: [7, 9] } }));
  assert.ok(checksumValid(d));
  let flips = 0;
  for (let i = 0; i < d.length; i++) {
    for (let b = 0; b < 8; b++) {
      const f = d.slice();
      f[i] ^= 1 << b;
      assert.equal(checksumValid(f), false, `flip byte ${i} bit ${b}`);
      expectDecodeError(f, /checksum/);
      flips++;
    }
  }
  assert.equal(flips, d.length * 8);
});

test("random bit flips in random packets are caught", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 300 }), fc.nat(), (payload, pos) => {
      const d = emit(base(Flag.DATA, { seq: 1, payload }));
      const bit = pos % (d.length * 8);
      d[bit >> 3] ^= 1 << (bit & 7);
      return !checksumValid(d);
    }),
    { seed: FC_SEED, numRuns: 500 },
  );
});

test("checksumValid is false for inputs shorter than the trailer", () => {
  for (let k = 0; k < CHECKSUM_SIZE; k++) assert.equal(checksumValid(new Uint8Array(k)), false);
  // 4 zero bytes: CRC of the empty string is 0, so this one is (trivially) valid.
  assert.equal(checksumValid(new Uint8Array(4)), crc32(new Uint8Array(0)) === 0);
});

/** Emits raw flags without the emitter's help, then seals. */
function withFlags(p: PacketRepr, flags: number): Uint8Array {
  const d = emit(p);
  d[2] = flags >> 8;
  d[3] = flags & 0xff;
  return seal(bodyOf(d));
}

test("invalid flag combinations are rejected", () => {
  const data = base(Flag.DATA, { seq: 1 });
  const cases: [string, Uint8Array, RegExp][] = [
    ["RST|ACK", withFlags(base(Flag.RST), Flag.RST | Flag.ACK), /RST/],
    ["RST|PING", withFlags(base(Flag.RST), Flag.RST | Flag.PING), /RST/],
    ["RST|DATA", withFlags(data, Flag.RST | Flag.DATA), /RST/],
    ["FIN without DATA", withFlags(base(Flag.PING), Flag.FIN), /without DATA/],
    ["MSG without DATA", withFlags(base(Flag.PING), Flag.MSG), /without DATA/],
    ["MSG_END without MSG", withFlags(data, Flag.DATA | Flag.MSG_END), /MSG_END/],
    ["FIN|MSG", withFlags(data, Flag.DATA | Flag.FIN | Flag.MSG), /FIN/],
    ["SYN|DATA", withFlags(data, Flag.SYN | Flag.DATA), /SYN/],
  ];
  for (const [name, d, re] of cases) {
    assert.throws(
      () => decodeDatagram(d),
      (e: unknown) => e instanceof DecodeError && re.test(e.message),
      name,
    );
  }
  // The same SYN|DATA built by the emitter (handshake section + data section).
  const synData = emit(
    base(Flag.SYN | Flag.DATA, { handshake: { isn: 1, window: 5000, maxPacketSize: 1200, ext: EMPTY }, seq: 1 }),
  );
  expectDecodeError(synData, /SYN/);
});

test("every flag byte either decodes (re-emitting identically) or throws DecodeError", () => {
  // Sections sized for the flags, so only the flag rules decide.
  let accepted = 0;
  for (let flags = 0; flags < 256; flags++) {
    const p = base(flags, {
      handshake: flags & Flag.SYN ? { isn: 1, window: 5000, maxPacketSize: 1200, ext: EMPTY } : undefined,
      ack: flags & Flag.ACK ? { cumAck: 1, window: 1, ackDelay: 1, ranges: [] } : undefined,
      seq: 3,
    });
    const d = emit(p);
    const q = decodeOrDecodeError(d);
    if (!q) continue;
    accepted++;
    assert.deepEqual(emit(q), d);
    assert.equal(q.flags, flags);
    // Accepted combinations obey the documented rules.
    if (flags & Flag.RST) assert.equal(flags, Flag.RST);
    if (flags & (Flag.FIN | Flag.MSG | Flag.MSG_END)) assert.ok(flags & Flag.DATA);
    if (flags & Flag.MSG_END) assert.ok(flags & Flag.MSG);
    if (flags & Flag.SYN) assert.equal(flags & Flag.DATA, 0);
  }
  assert.ok(accepted > 10);
});

test("invalid SACK ranges are rejected", () => {
  const mk = (cumAck: number, ranges: number[]) =>
    emit(base(Flag.ACK, { ack: { cumAck, window: 1, ackDelay: 0, ranges } }));
  expectDecodeError(mk(100, [110, 110]), /SACK/); // empty
  expectDecodeError(mk(100, [110, 105]), /SACK/); // reversed
  expectDecodeError(mk(100, [50, 60]), /SACK/); // below cumAck
  expectDecodeError(mk(100, [100, 105]), /SACK/); // starting at cumAck
  expectDecodeError(mk(100, [102, 104, 90, 95]), /SACK/); // second range bad
  expectDecodeError(mk(5, [0xfffffff0, 0xfffffff8]), /SACK/); // "below" across the wrap
  // Valid across the wrap: cumAck near 2^32, range wraps past zero.
  const q = decodeDatagram(mk(0xfffffff0, [0xfffffffe, 3]));
  assert.deepEqual(q.ack?.ranges, [0xfffffffe, 3]);
});

test("more than MAX_SACK_RANGES ranges are rejected", () => {
  const ranges: number[] = [];
  for (let i = 0; i < MAX_SACK_RANGES + 1; i++) ranges.push(1000 + 4 * i + 1, 1000 + 4 * i + 2);
  expectDecodeError(emit(base(Flag.ACK, { ack: { cumAck: 1000, window: 1, ackDelay: 0, ranges } })), /too many/);
});

test("max packet size below the minimum is rejected; exactly the minimum is accepted", () => {
  const syn = (maxPacketSize: number) =>
    emit(base(Flag.SYN, { handshake: { isn: 1, window: 1, maxPacketSize, ext: EMPTY } }));
  for (const m of [0, 1, MIN_PACKET_SIZE, MIN_MPS - 1, MAX_DATAGRAM_SIZE + 1, 0xffff])
    expectDecodeError(syn(m), /max packet size/);
  assert.equal(decodeDatagram(syn(MIN_MPS)).handshake?.maxPacketSize, MIN_MPS);
  assert.equal(decodeDatagram(syn(MAX_DATAGRAM_SIZE)).handshake?.maxPacketSize, MAX_DATAGRAM_SIZE);
});

test("SYN extension length beyond the datagram is rejected", () => {
  const d = emit(base(Flag.SYN, { handshake: { isn: 1, window: 1, maxPacketSize: 1200, ext: new Uint8Array(4) } }));
  const body = bodyOf(d).slice();
  new DataView(body.buffer).setUint16(HEADER_SIZE + 10, 5);
  expectDecodeError(seal(body), /truncated/);
  new DataView(body.buffer).setUint16(HEADER_SIZE + 10, 0xffff);
  expectDecodeError(seal(body), /truncated/);
  new DataView(body.buffer).setUint16(HEADER_SIZE + 10, 3);
  expectDecodeError(seal(body), /trailing/);
});

test("zero source cid is rejected on everything but RST", () => {
  for (const [name, p] of SHAPES) {
    const d = emit({ ...p, scid: 0 });
    if (p.flags === Flag.RST) assert.equal(decodeDatagram(d).scid, 0, name);
    else expectDecodeError(d, /source cid/);
  }
});

test("bad magic and unsupported version are rejected even with a valid checksum", () => {
  const body = bodyOf(emit(base(Flag.PING))).slice();
  body[1] = 2;
  expectDecodeError(seal(body), /version/);
  body[1] = VERSION;
  body[0] = 0;
  expectDecodeError(seal(body), /magic/);
});

test("checksum-valid datagrams with absurd field values decode exactly or throw DecodeError", () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const extreme32 = fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff);
  const any32 = fc.oneof(u32, extreme32);
  const u16 = fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0, 1, MIN_MPS - 1, MIN_MPS, 0xffff));
  // Flags built from plausible combinations most of the time, any byte otherwise.
  const flagsArb = fc.oneof(
    fc.integer({ min: 0, max: 255 }),
    fc.constantFrom(
      Flag.SYN,
      Flag.SYN | Flag.ACK,
      Flag.ACK,
      Flag.DATA | Flag.ACK,
      Flag.DATA | Flag.MSG | Flag.MSG_END,
      Flag.PING | Flag.ACK,
      Flag.RST,
    ),
  );
  // A range either raw or relative to cumAck (so that some are valid, some only barely invalid).
  const rangeArb = fc.oneof(
    fc.tuple(any32, any32).map(([a, b]) => ({ rel: false, a, b })),
    fc
      .tuple(fc.integer({ min: -2, max: 0x7fffffff }), fc.integer({ min: -2, max: 0x7fffffff }))
      .map(([a, b]) => ({ rel: true, a, b })),
  );
  let decoded = 0;
  let consistentDecoded = 0;
  fc.assert(
    fc.property(
      flagsArb,
      fc.array(any32, { minLength: 4, maxLength: 4 }),
      fc.record({
        isn: any32,
        window: any32,
        mps: u16,
        extLen: fc.option(u16, { freq: 4 }),
        ext: fc.uint8Array({ maxLength: 20 }),
      }),
      fc.record({
        cumAck: any32,
        window: any32,
        delay: any32,
        n: fc.option(fc.integer({ min: 0, max: 255 }), { freq: 4 }),
        ranges: fc.array(rangeArb, { maxLength: MAX_SACK_RANGES + 2 }),
      }),
      fc.record({ seq: any32, payload: fc.uint8Array({ maxLength: 30 }) }),
      (flags, [dcid, scid, tsval, tsecr], syn, ack, data) => {
        const bytes: number[] = [MAGIC, VERSION, flags >> 8, flags & 0xff];
        const push32 = (v: number) => bytes.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
        const push16 = (v: number) => bytes.push(v >>> 8, v & 0xff);
        for (const v of [dcid, scid, tsval, tsecr]) push32(v);
        const extLen = syn.extLen ?? syn.ext.length;
        const n = ack.n ?? ack.ranges.length;
        const ranges: number[] = [];
        for (const r of ack.ranges) {
          const start = r.rel ? (ack.cumAck + r.a) >>> 0 : r.a;
          const end = r.rel ? (start + r.b) >>> 0 : r.b;
          ranges.push(start, end);
        }
        if (flags & Flag.SYN) {
          push32(syn.isn);
          push32(syn.window);
          push16(syn.mps);
          push16(extLen);
          bytes.push(...syn.ext);
        }
        if (flags & Flag.ACK) {
          push32(ack.cumAck);
          push32(ack.window);
          push32(ack.delay);
          bytes.push(n);
          for (const v of ranges) push32(v);
        }
        if (flags & Flag.DATA) {
          push32(data.seq);
          bytes.push(...data.payload);
        }
        const d = seal(Uint8Array.from(bytes));
        const q = decodeOrDecodeError(d);
        if (!q) return;
        decoded++;
        // Whatever decoded re-emits to exactly the same bytes.
        assert.deepEqual(emit(q), d);
        assert.equal(q.flags, flags);
        assert.equal(q.dcid, dcid);
        assert.equal(q.scid, scid);
        assert.equal(q.tsval, tsval);
        assert.equal(q.tsecr, tsecr);
        // When the generated sections are self-consistent, every field is exactly the generated value.
        const consistent =
          (!(flags & Flag.SYN) || syn.ext.length === extLen) && (!(flags & Flag.ACK) || ack.ranges.length === n);
        if (!consistent) return;
        consistentDecoded++;
        if (flags & Flag.SYN) {
          assert.equal(q.handshake?.isn, syn.isn);
          assert.equal(q.handshake?.window, syn.window);
          assert.equal(q.handshake?.maxPacketSize, syn.mps);
          assert.deepEqual([...(q.handshake?.ext ?? [])], [...syn.ext]);
        }
        if (flags & Flag.ACK) {
          assert.equal(q.ack?.cumAck, ack.cumAck);
          assert.equal(q.ack?.window, ack.window);
          assert.equal(q.ack?.ackDelay, ack.delay);
          assert.deepEqual(q.ack?.ranges, ranges);
          assert.ok(n <= MAX_SACK_RANGES);
          for (let i = 0; i < ranges.length; i += 2) {
            assert.ok(((ranges[i + 1] - ranges[i]) | 0) > 0, "accepted range is non-empty");
            assert.ok(((ranges[i] - ack.cumAck) | 0) > 0, "accepted range lies above cumAck");
          }
        }
        if (flags & Flag.DATA) {
          assert.equal(q.seq, data.seq);
          assert.deepEqual([...q.payload], [...data.payload]);
        }
      },
    ),
    { seed: FC_SEED, numRuns: 3000 },
  );
  // The generator must exercise the success path, not only rejections.
  assert.ok(decoded > 200, `only ${decoded} datagrams decoded`);
  assert.ok(consistentDecoded > 100, `only ${consistentDecoded} consistent datagrams decoded`);
});

test("round trip property over random well-formed packets", () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const arb = fc
    .record({
      kind: fc.constantFrom("syn", "synack", "ack", "data", "dataack", "fin", "msg", "msgend", "ping", "rst"),
      dcid: u32,
      scid: fc.integer({ min: 1, max: 0xffffffff }),
      tsval: u32,
      tsecr: u32,
      isn: u32,
      window: u32,
      mps: fc.integer({ min: MIN_MPS, max: MAX_DATAGRAM_SIZE }),
      ext: fc.uint8Array({ maxLength: 40 }),
      cumAck: u32,
      ackDelay: u32,
      gaps: fc.array(fc.tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 1000 })), {
        maxLength: MAX_SACK_RANGES,
      }),
      seq: u32,
      payload: fc.uint8Array({ maxLength: 200 }),
    })
    .map((r): PacketRepr => {
      const ranges: number[] = [];
      let at = r.cumAck;
      for (const [gap, len] of r.gaps) {
        at += gap;
        ranges.push(at >>> 0, (at + len) >>> 0);
        at += len;
      }
      const ack = { cumAck: r.cumAck, window: r.window, ackDelay: r.ackDelay, ranges };
      const hs = { isn: r.isn, window: r.window, maxPacketSize: r.mps, ext: r.ext };
      const common = { dcid: r.dcid, scid: r.scid, tsval: r.tsval, tsecr: r.tsecr };
      const p = (flags: number, extra: Partial<PacketRepr>) => base(flags, { ...common, ...extra });
      switch (r.kind) {
        case "syn":
          return p(Flag.SYN, { handshake: hs });
        case "synack":
          return p(Flag.SYN | Flag.ACK, { handshake: hs, ack });
        case "ack":
          return p(Flag.ACK, { ack });
        case "data":
          return p(Flag.DATA, { seq: r.seq, payload: r.payload });
        case "dataack":
          return p(Flag.DATA | Flag.ACK, { ack, seq: r.seq, payload: r.payload });
        case "fin":
          return p(Flag.DATA | Flag.FIN, { seq: r.seq });
        case "msg":
          return p(Flag.DATA | Flag.MSG, { seq: r.seq, payload: r.payload });
        case "msgend":
          return p(Flag.DATA | Flag.MSG | Flag.MSG_END, { seq: r.seq, payload: r.payload });
        case "ping":
          return p(Flag.PING | Flag.ACK, { ack });
        default:
          return p(Flag.RST, { scid: 0 });
      }
    });
  fc.assert(
    fc.property(arb, (p) => {
      assertSame(decodeDatagram(emit(p)), p);
    }),
    { seed: FC_SEED, numRuns: 1000 },
  );
});

test("a RST carries an optional reason byte, and nothing more", () => {
  const rst = base(Flag.RST, { scid: 0 });
  for (const reason of [undefined, 0, 1, 4, 255]) {
    const d = emit({ ...rst, reason });
    assert.equal(d.length, MIN_PACKET_SIZE + (reason === undefined ? 0 : 1));
    assert.equal(decodeDatagram(d).reason, reason);
  }
});
