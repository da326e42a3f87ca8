/** Wire v1 header and the RETRY / CHALLENGE / RESPONSE flags: layout, round trips and every malformed variant. */

import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { DecodeError } from "../../src/core/errors.js";
import { crc32 } from "../../src/core/wire/crc32.js";
import {
  CHECKSUM_SIZE,
  decodeDatagram,
  emitPacket,
  Flag,
  HEADER_SIZE,
  MAGIC,
  MAX_TOKEN_SIZE,
  PATH_DATA_SIZE,
  type PacketRepr,
  packetLength,
  parsePacket,
  peekDcid,
  VERSION,
} from "../../src/core/wire/packet.js";
import { seedFor } from "../helpers/seed.js";

const FC_SEED = seedFor(0xf1a9) | 0;
const EMPTY = new Uint8Array(0);
const PATH = Uint8Array.from([0xc0, 0xff, 0xee, 0x00, 0x11, 0x22, 0x33, 0x44]);

function base(flags: number, extra: Partial<PacketRepr> = {}): PacketRepr {
  return {
    flags,
    dcid: 0xdeadbeef,
    scid: 0x01020304,
    tsval: 1_000_000,
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
  assert.equal(emitPacket(p, out), out.length, "emitPacket writes packetLength bytes");
  return out;
}

/** A datagram from a header with `flags` and the given section bytes, with a correct CRC-32. */
function craft(flags: number, sections: number[] | Uint8Array, scid = 0x01020304): Uint8Array {
  const body = new Uint8Array(HEADER_SIZE + sections.length);
  const v = new DataView(body.buffer);
  body[0] = MAGIC;
  body[1] = VERSION;
  v.setUint16(2, flags);
  v.setUint32(4, 0xdeadbeef);
  v.setUint32(8, scid);
  v.setUint32(12, 7);
  v.setUint32(16, 9);
  body.set(sections, HEADER_SIZE);
  const out = new Uint8Array(body.length + CHECKSUM_SIZE);
  out.set(body);
  new DataView(out.buffer).setUint32(body.length, crc32(body));
  return out;
}

function rejects(d: Uint8Array, re: RegExp | undefined, what: string): void {
  assert.throws(
    () => decodeDatagram(d),
    (e: unknown) => e instanceof DecodeError && (re === undefined || re.test(e.message)),
    what,
  );
}

const tokenSection = (t: Uint8Array | number[]): number[] => [t.length, ...t];
/** An ACK section without SACK ranges. */
const ackSection = (cumAck = 100): number[] => {
  const b = new Uint8Array(13);
  const v = new DataView(b.buffer);
  v.setUint32(0, cumAck);
  v.setUint32(4, 65_536);
  v.setUint32(8, 250);
  return Array.from(b);
};

function ackOf() {
  return { cumAck: 100, window: 65_536, ackDelay: 250, ranges: [] as number[] };
}

// ----- Header layout -----

test("header layout: u8 magic 0x52 at 0, u8 version at 1, u16 flags big-endian at 2", () => {
  assert.equal(MAGIC, 0x52);
  assert.equal(VERSION, 1);
  const cases: [number, PacketRepr][] = [
    [Flag.PING, base(Flag.PING)],
    [Flag.RETRY, base(Flag.RETRY, { scid: 0, token: Uint8Array.of(1) })],
    [Flag.CHALLENGE | Flag.ACK, base(Flag.CHALLENGE | Flag.ACK, { ack: ackOf(), path: PATH })],
    [Flag.RESPONSE | Flag.PING, base(Flag.RESPONSE | Flag.PING, { path: PATH })],
  ];
  for (const [flags, p] of cases) {
    const d = emit(p);
    assert.equal(d[0], 0x52, "magic");
    assert.equal(d[1], 1, "version");
    assert.equal(d[2], flags >>> 8, `flags high byte of 0x${flags.toString(16)}`);
    assert.equal(d[3], flags & 0xff, `flags low byte of 0x${flags.toString(16)}`);
    assert.equal(decodeDatagram(d).flags, flags);
  }
});

test("the flag bits have their documented values", () => {
  assert.deepEqual(
    { ...Flag },
    {
      SYN: 0x01,
      ACK: 0x02,
      DATA: 0x04,
      FIN: 0x08,
      RST: 0x10,
      PING: 0x20,
      MSG: 0x40,
      MSG_END: 0x80,
      RETRY: 0x100,
      CHALLENGE: 0x200,
      RESPONSE: 0x400,
      PAD: 0x800,
      SEALED: 0x1000,
      KEY_PHASE: 0x2000,
      FRAG: 0x4000,
    },
  );
});

test("flag bits 0x1000, 0x2000 (outer header only) and 0x8000 are rejected, alone and with known flags", () => {
  for (const bit of [0x1000, 0x2000, 0x8000]) {
    rejects(craft(bit, []), /unknown flags/, `0x${bit.toString(16)} alone`);
    rejects(craft(bit | Flag.PING, []), /unknown flags/, `0x${bit.toString(16)} | PING`);
    rejects(craft(bit | Flag.ACK, ackSection()), /unknown flags/, `0x${bit.toString(16)} | ACK`);
    rejects(craft(bit | Flag.RST, [], 0), /unknown flags/, `0x${bit.toString(16)} | RST`);
  }
  rejects(craft(0xf800 | Flag.PING, []), /unknown flags/, "all unknown bits");
});

// ----- RETRY -----

test("RETRY round trips with tokens of 1, 12 and MAX_TOKEN_SIZE bytes (scid 0)", () => {
  assert.equal(MAX_TOKEN_SIZE, 64);
  for (const n of [1, 12, MAX_TOKEN_SIZE]) {
    const token = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 1) & 0xff);
    const d = emit(base(Flag.RETRY, { scid: 0, token }));
    assert.equal(d.length, HEADER_SIZE + 1 + n + CHECKSUM_SIZE);
    assert.equal(d[HEADER_SIZE], n, "token length byte right after the header");
    const p = decodeDatagram(d);
    assert.equal(p.flags, Flag.RETRY);
    assert.equal(p.scid, 0);
    assert.equal(p.dcid, 0xdeadbeef);
    assert.equal(p.tsval, 1_000_000);
    assert.equal(p.tsecr, 0xfffffff0);
    assert.ok(p.token);
    assert.deepEqual(Array.from(p.token), Array.from(token));
    assert.equal(p.handshake, undefined);
    assert.equal(p.ack, undefined);
    assert.equal(p.path, undefined);
    assert.equal(p.payload.length, 0);
  }
});

test("RETRY with a non-zero scid is also accepted", () => {
  const p = decodeDatagram(emit(base(Flag.RETRY, { token: Uint8Array.of(5, 6) })));
  assert.equal(p.scid, 0x01020304);
});

test("packets other than RETRY carry no token", () => {
  assert.equal(decodeDatagram(emit(base(Flag.PING))).token, undefined);
});

test("RETRY combined with any other flag is rejected", () => {
  const token = tokenSection([1, 2, 3, 4]);
  for (let bit = 0x01; bit <= 0x400; bit <<= 1) {
    if (bit === Flag.RETRY) continue;
    // RST is checked first ("RST combined with other flags"); every other bit trips the RETRY rule.
    const re = bit === Flag.RST ? /RST combined/ : /RETRY combined/;
    rejects(craft(Flag.RETRY | bit, token), re, `RETRY | 0x${bit.toString(16)}`);
    rejects(craft(Flag.RETRY | bit, token, 0), re, `RETRY | 0x${bit.toString(16)}, scid 0`);
  }
});

test("RETRY with an empty token is rejected", () => {
  rejects(craft(Flag.RETRY, [0], 0), /bad RETRY token/, "length 0");
  rejects(craft(Flag.RETRY, [], 0), /bad RETRY token/, "no length byte");
  // What emitPacket writes for a RETRY without a token must not decode either.
  rejects(emit(base(Flag.RETRY, { scid: 0 })), undefined, "emitted without token");
  rejects(emit(base(Flag.RETRY, { scid: 0, token: EMPTY })), undefined, "emitted with empty token");
});

test("RETRY with a token longer than MAX_TOKEN_SIZE is rejected", () => {
  for (const n of [MAX_TOKEN_SIZE + 1, 100, 255]) {
    const token = new Array<number>(n).fill(0xab);
    rejects(craft(Flag.RETRY, tokenSection(token), 0), /bad RETRY token/, `length ${n}`);
  }
});

test("RETRY with trailing bytes or a short token is rejected", () => {
  rejects(craft(Flag.RETRY, [...tokenSection([1, 2, 3]), 0], 0), /bad RETRY token/, "one trailing byte");
  rejects(craft(Flag.RETRY, [...tokenSection([1, 2, 3]), 9, 9, 9, 9], 0), /bad RETRY token/, "four trailing bytes");
  rejects(craft(Flag.RETRY, [4, 1, 2, 3], 0), /bad RETRY token/, "token shorter than its length");
});

test("scid 0 is accepted only on RST and RETRY", () => {
  assert.equal(decodeDatagram(craft(Flag.RST, [], 0)).scid, 0);
  assert.equal(decodeDatagram(craft(Flag.RETRY, tokenSection([1]), 0)).scid, 0);
  const others: [string, number, number[]][] = [
    ["PING", Flag.PING, []],
    ["ACK", Flag.ACK, ackSection()],
    ["DATA", Flag.DATA, [0, 0, 0, 1, 0xaa]],
    ["CHALLENGE", Flag.CHALLENGE, Array.from(PATH)],
    ["RESPONSE", Flag.RESPONSE, Array.from(PATH)],
    ["none", 0, []],
  ];
  for (const [name, flags, sections] of others) {
    assert.doesNotThrow(() => decodeDatagram(craft(flags, sections)), `${name} with scid ≠ 0`);
    rejects(craft(flags, sections, 0), /zero source cid/, `${name} with scid 0`);
  }
});

// ----- CHALLENGE / RESPONSE -----

test("CHALLENGE and RESPONSE carry 8 bytes of path data, alone, with ACK, with PING and with DATA", () => {
  assert.equal(PATH_DATA_SIZE, 8);
  const ack = { cumAck: 1000, window: 1 << 20, ackDelay: 42, ranges: [1010, 1020, 1030, 1040] };
  const payload = Uint8Array.from([1, 2, 3, 4, 5]);
  for (const kind of [Flag.CHALLENGE, Flag.RESPONSE]) {
    const shapes: PacketRepr[] = [
      base(kind, { path: PATH }),
      base(kind | Flag.PING, { path: PATH }),
      base(kind | Flag.ACK, { ack, path: PATH }),
      base(kind | Flag.ACK | Flag.PING, { ack, path: PATH }),
      base(kind | Flag.ACK | Flag.DATA, { ack, path: PATH, seq: 1000, payload }),
    ];
    for (const p of shapes) {
      const d = emit(p);
      const q = decodeDatagram(d);
      const what = `flags 0x${p.flags.toString(16)}`;
      assert.equal(q.flags, p.flags, what);
      assert.ok(q.path, what);
      assert.deepEqual(Array.from(q.path), Array.from(PATH), what);
      if (p.ack) {
        assert.ok(q.ack, what);
        assert.equal(q.ack.cumAck, ack.cumAck);
        assert.equal(q.ack.window, ack.window);
        assert.equal(q.ack.ackDelay, ack.ackDelay);
        assert.deepEqual(q.ack.ranges, ack.ranges);
      } else assert.equal(q.ack, undefined);
      if (p.flags & Flag.DATA) {
        assert.equal(q.seq, 1000);
        assert.deepEqual(Array.from(q.payload), Array.from(payload));
      } else assert.equal(q.payload.length, 0);
      // Path data sits after the ACK section, before DATA.
      const ackLen = p.ack ? 13 + 4 * p.ack.ranges.length : 0;
      assert.deepEqual(Array.from(d.subarray(HEADER_SIZE + ackLen, HEADER_SIZE + ackLen + 8)), Array.from(PATH), what);
      assert.equal(d.length, HEADER_SIZE + ackLen + 8 + (p.flags & Flag.DATA ? 4 + payload.length : 0) + CHECKSUM_SIZE);
    }
  }
});

test("packets without CHALLENGE or RESPONSE carry no path data", () => {
  assert.equal(decodeDatagram(emit(base(Flag.PING))).path, undefined);
  assert.equal(decodeDatagram(emit(base(Flag.ACK, { ack: ackOf() }))).path, undefined);
});

test("CHALLENGE with RESPONSE is rejected", () => {
  rejects(craft(Flag.CHALLENGE | Flag.RESPONSE, Array.from(PATH)), /CHALLENGE with RESPONSE/, "both");
  rejects(craft(Flag.CHALLENGE | Flag.RESPONSE, [...PATH, ...PATH]), /CHALLENGE with RESPONSE/, "both, 16 bytes");
  rejects(
    craft(Flag.CHALLENGE | Flag.RESPONSE | Flag.ACK, [...ackSection(), ...PATH]),
    /CHALLENGE with RESPONSE/,
    "both with ACK",
  );
});

test("path validation with SYN is rejected", () => {
  const syn = new Uint8Array(12);
  const v = new DataView(syn.buffer);
  v.setUint32(0, 1);
  v.setUint32(4, 65_536);
  v.setUint16(8, 1200);
  for (const kind of [Flag.CHALLENGE, Flag.RESPONSE]) {
    rejects(craft(kind | Flag.SYN, [...syn, ...PATH]), /path validation during the handshake/, "SYN");
    rejects(
      craft(kind | Flag.SYN | Flag.ACK, [...syn, ...ackSection(), ...PATH]),
      /path validation during the handshake/,
      "SYN-ACK",
    );
  }
});

test("path validation with RST is rejected", () => {
  rejects(craft(Flag.RST | Flag.CHALLENGE, Array.from(PATH), 0), /RST combined/, "RST|CHALLENGE");
});

test("truncated path data is rejected, and extra bytes after it are trailing", () => {
  for (const kind of [Flag.CHALLENGE, Flag.RESPONSE]) {
    for (let n = 0; n < PATH_DATA_SIZE; n++) {
      rejects(craft(kind, Array.from(PATH.subarray(0, n))), /truncated path data/, `${n} bytes`);
      rejects(
        craft(kind | Flag.ACK, [...ackSection(), ...PATH.subarray(0, n)]),
        /truncated path data/,
        `ACK + ${n} bytes`,
      );
    }
    rejects(craft(kind, [...PATH, 0]), /trailing bytes/, "9 bytes");
    // With DATA, the bytes after the path data are the DATA section.
    rejects(craft(kind | Flag.DATA, [...PATH, 0, 0]), /truncated DATA section/, "path + short DATA");
  }
});

test("peekDcid reads the dcid of RETRY and path packets", () => {
  assert.equal(peekDcid(emit(base(Flag.RETRY, { scid: 0, token: Uint8Array.of(1) }))), 0xdeadbeef);
  assert.equal(peekDcid(emit(base(Flag.CHALLENGE, { path: PATH }))), 0xdeadbeef);
});

test("property: RETRY and path packets round trip with random fields", () => {
  const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
  fc.assert(
    fc.property(
      u32,
      u32,
      u32,
      fc.uint8Array({ minLength: 1, maxLength: MAX_TOKEN_SIZE }),
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.constantFrom(Flag.CHALLENGE, Flag.RESPONSE),
      fc.constantFrom(0, Flag.PING, Flag.ACK, Flag.ACK | Flag.PING),
      (dcid, tsval, tsecr, token, path, kind, extra) => {
        const r = decodeDatagram(emit(base(Flag.RETRY, { dcid, scid: 0, tsval, tsecr, token })));
        assert.equal(r.dcid, dcid);
        assert.equal(r.tsval, tsval);
        assert.equal(r.tsecr, tsecr);
        assert.deepEqual(Array.from(r.token ?? []), Array.from(token));
        const flags = kind | extra;
        const p = base(flags, { dcid, tsval, tsecr, path, ack: flags & Flag.ACK ? ackOf() : undefined });
        const q = parsePacket(emit(p));
        assert.equal(q.flags, flags);
        assert.deepEqual(Array.from(q.path ?? []), Array.from(path));
      },
    ),
    { seed: FC_SEED, numRuns: 300 },
  );
});

test("PAD fills a packet to the requested size with zeros and is skipped by the decoder; PAD with DATA is rejected", () => {
  const out = new Uint8Array(2000);
  const n = emitPacket(
    {
      flags: Flag.PING | Flag.CHALLENGE | Flag.PAD,
      dcid: 1,
      scid: 2,
      tsval: 3,
      tsecr: 4,
      handshake: undefined,
      ack: undefined,
      path: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]),
      padTo: 1500,
      seq: 0,
      payload: new Uint8Array(0),
    },
    out,
  );
  assert.equal(n, 1500);
  const p = decodeDatagram(out.subarray(0, n));
  assert.deepEqual([...(p.path ?? [])], [1, 2, 3, 4, 5, 6, 7, 8]);
  assert.equal(p.flags, Flag.PING | Flag.CHALLENGE | Flag.PAD);
  assert.ok(out.subarray(20 + 8, n - 4).every((b) => b === 0));
  const bad = new Uint8Array(100);
  const m = emitPacket(
    {
      flags: Flag.DATA,
      dcid: 1,
      scid: 2,
      tsval: 0,
      tsecr: 0,
      handshake: undefined,
      ack: undefined,
      seq: 1,
      payload: new Uint8Array(5),
    },
    bad,
  );
  new DataView(bad.buffer).setUint16(2, Flag.DATA | Flag.PAD);
  new DataView(bad.buffer).setUint32(m - 4, crc32(bad, 0, m - 4));
  assert.throws(() => decodeDatagram(bad.subarray(0, m)), /PAD with DATA/);
});
