// ByteReader on in-memory streams: request order, splitting, EOF, errors and discard.
import assert from "node:assert/strict";
import { PassThrough } from "node:stream";
import { test } from "node:test";
import { ByteReader } from "../../src/compat/index.js";

test("requests are served in order, each with 1..n bytes, leftovers kept", { timeout: 5000 }, async () => {
  const s = new PassThrough();
  const r = new ByteReader(s);
  const a = r.read(3);
  const b = r.read(100);
  s.write("abcdef");
  assert.equal((await a).toString(), "abc");
  assert.equal((await b).toString(), "def");
  s.write("xyz");
  assert.equal((await r.read(1)).toString(), "x");
  assert.equal((await r.read(5)).toString(), "yz");
  s.end();
  assert.equal((await r.read(5)).length, 0);
  assert.equal((await r.read(5)).length, 0, "EOF repeats");
  assert.ok(r.ended);
});

test("only reads while a request waits (data stays in the stream)", { timeout: 5000 }, async () => {
  const s = new PassThrough({ highWaterMark: 4 });
  const r = new ByteReader(s);
  s.write("12345678");
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(s.readableLength > 0, "nothing was pulled without a request");
  assert.equal((await r.read(8)).toString(), "12345678");
  s.destroy();
});

test("data before EOF is delivered first; an error fails the waiting requests", { timeout: 5000 }, async () => {
  const s = new PassThrough();
  const r = new ByteReader(s);
  s.end("tail");
  assert.equal((await r.read(10)).toString(), "tail");
  assert.equal((await r.read(10)).length, 0);

  const e = new PassThrough();
  const re = new ByteReader(e);
  const pending = re.read(10);
  e.destroy(Object.assign(new Error("boom"), { code: "ECONNRESET" }));
  await assert.rejects(pending, { code: "ECONNRESET" });
  await assert.rejects(re.read(1), { code: "ECONNRESET" });
});

test("a stream closed without an end, and discard(), fail requests with ERR_SOCKET_CLOSED", {
  timeout: 5000,
}, async () => {
  const s = new PassThrough();
  const r = new ByteReader(s);
  const pending = r.read(10);
  s.destroy();
  await assert.rejects(pending, { code: "ERR_SOCKET_CLOSED" });

  const d = new PassThrough();
  const rd = new ByteReader(d);
  const waiting = rd.read(10);
  rd.discard();
  await assert.rejects(waiting, { code: "ERR_SOCKET_CLOSED" });
  await assert.rejects(rd.read(1), { code: "ERR_SOCKET_CLOSED" });
  d.end("dropped");
  await new Promise((resolve) => d.once("end", resolve)); // discarding reads to the end
});
