import assert from "node:assert/strict";
import { test } from "node:test";
import { datagramBufferCost, socketBufferWindow } from "../../src/core/socket-buffer.js";

test("a datagram's buffer cost follows Linux's truesize, as measured on loopback", () => {
  // Measured: how many datagrams an 8 MiB receive buffer held (bench notes in socket-buffer.ts).
  for (const [size, measured] of [
    [1200, 2305],
    [1472, 2305],
    [8192, 16644],
    [65000, 66052],
  ]) {
    const cost = datagramBufferCost(size);
    assert.ok(Math.abs(cost - measured) / measured < 0.01, `${size} B: model ${cost}, measured ${measured}`);
  }
});

test("the window is the datagrams that fit three quarters of the buffer, times their payload; never below one", () => {
  assert.equal(socketBufferWindow(8 << 20, 1200, 1172), Math.floor((0.75 * (8 << 20)) / 2304) * 1172);
  assert.equal(socketBufferWindow(4608, 1200, 1172), 1172);
  assert.equal(socketBufferWindow(0, 1200, 1172), 1172);
  assert.ok(socketBufferWindow(8 << 20, 65000, 64972) > 4 << 20, "64 KB datagrams: a 4 MiB window fits");
});
