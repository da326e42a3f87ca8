/** The FRAG form of the DATA section: layout, round trips and every malformed variant. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../src/core/errors.js";
import { crc32 } from "../../src/core/wire/crc32.js";
import {
  DATA_SECTION_SIZE,
  decodeDatagram,
  emitPacket,
  Flag,
  FRAGMENT_HEADER_SIZE,
  HEADER_SIZE,
  type PacketRepr,
  packetLength,
} from "../../src/core/wire/packet.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0xf4a6) | 0;

function fragment(offset: number, segmentLength: number, bytes: Uint8Array, flags = 0): PacketRepr {
  return {
    flags: Flag.ACK | Flag.DATA | Flag.FRAG | flags,
    dcid: 7,
    scid: 9,
    tsval: 1,
    tsecr: 2,
    handshake: undefined,
    ack: { cumAck: 5, window: 65536, ackDelay: 0, ranges: [] },
    seq: 0xfffffff0,
    payload: bytes,
    fragmentOffset: offset,
    segmentLength,
  };
}

function emit(p: PacketRepr): Uint8Array {
  const out = new Uint8Array(packetLength(p));
  assert.equal(emitPacket(p, out), out.length);
  return out;
}

/** `p` with some fields changed, emitted (the CRC matches whatever the fields say). */
function rewrite(p: PacketRepr, change: Partial<PacketRepr>): Uint8Array {
  return emit({ ...p, ...change });
}

test("a fragment's DATA section is seq, u16 offset, u16 segment length, then the bytes", () => {
  const bytes = Uint8Array.from([1, 2, 3, 4, 5]);
  const d = emit(fragment(0x1234, 0x4321, bytes));
  const data = HEADER_SIZE + 13; // after the ACK section without ranges
  const v = new DataView(d.buffer);
  assert.equal(v.getUint32(data), 0xfffffff0);
  assert.equal(v.getUint16(data + DATA_SECTION_SIZE), 0x1234);
  assert.equal(v.getUint16(data + DATA_SECTION_SIZE + 2), 0x4321);
  assert.deepEqual([...d.subarray(data + DATA_SECTION_SIZE + FRAGMENT_HEADER_SIZE, d.length - 4)], [...bytes]);
});

test("fragments round-trip: offset, segment length, bytes and the message flags", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 65479 }),
      fc.integer({ min: 1, max: 1500 }),
      fc.constantFrom(0, Flag.MSG, Flag.MSG | Flag.MSG_END),
      (segmentLength, size, msg) => {
        const n = Math.min(size, segmentLength);
        const offset = segmentLength - n;
        const bytes = new Uint8Array(n).map((_, i) => i * 7);
        const p = decodeDatagram(emit(fragment(offset, segmentLength, bytes, msg)));
        assert.equal(p.flags, Flag.ACK | Flag.DATA | Flag.FRAG | msg);
        assert.equal(p.seq, 0xfffffff0);
        assert.equal(p.fragmentOffset, offset);
        assert.equal(p.segmentLength, segmentLength);
        assert.deepEqual([...p.payload], [...bytes]);
      },
    ),
    { seed: FC_SEED, numRuns: 200 },
  );
});

test("a DATA section without FRAG has no fragment header", () => {
  const p = fragment(0, 0, Uint8Array.from([9, 9]));
  const d = emit({ ...p, flags: Flag.ACK | Flag.DATA });
  const q = decodeDatagram(d);
  assert.deepEqual([...q.payload], [9, 9]);
  assert.equal(q.fragmentOffset, 0);
  assert.equal(q.segmentLength, 0);
});

test("malformed fragments are rejected with DecodeError", () => {
  const p = fragment(10, 20, new Uint8Array(10));
  const cases: [Uint8Array, RegExp][] = [
    [rewrite(p, { flags: Flag.ACK | Flag.FRAG, payload: new Uint8Array(0) }), /segment flag without DATA/],
    [rewrite(p, { flags: p.flags | Flag.FIN, payload: new Uint8Array(0) }), /FIN segment in fragments/],
    [rewrite(p, { payload: new Uint8Array(11) }), /fragment outside its segment/],
    [rewrite(p, { fragmentOffset: 11 }), /fragment outside its segment/],
    [rewrite(p, { payload: new Uint8Array(0) }), /fragment outside its segment/],
  ];
  // The fragment header cut short: a DATA section of 4 + 2 bytes.
  const short = emit({ ...p, flags: Flag.ACK | Flag.DATA, payload: Uint8Array.from([0, 10]) });
  const sv = new DataView(short.buffer);
  sv.setUint16(2, p.flags);
  sv.setUint32(short.length - 4, crc32(short.subarray(0, short.length - 4)));
  cases.push([short, /truncated fragment header/]);
  for (const [d, re] of cases)
    assert.throws(
      () => decodeDatagram(d),
      (e: unknown) => e instanceof DecodeError && re.test(e.message),
      re.source,
    );
});
