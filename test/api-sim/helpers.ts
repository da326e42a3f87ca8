/**
 * Helpers for API tests on the simulated network: two hosts with a
 * configurable path between them, a byte collector for sockets, and a
 * shutdown that closes everything and checks that no UDP socket leaked.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { Server } from "../../src/api/server.js";
import type { Socket } from "../../src/api/socket.js";
import { createSimRuntimes, type SimLoop, type SimRuntime } from "../../src/runtime/sim-runtime.js";
import { type LinkConfig, SimNetwork } from "../../src/sim/index.js";

/** The client host's address. */
export const A = "10.0.0.1";
/** The server host's address. */
export const B = "10.0.0.2";

/** A network with hosts A and B (runtimes `a` and `b`) and `link` applied in both directions. */
export function world(
  seed: number,
  link: Partial<LinkConfig> = {},
): { net: SimNetwork; loop: SimLoop; a: SimRuntime; b: SimRuntime } {
  const net = new SimNetwork({ seed });
  const {
    loop,
    hosts: [a, b],
  } = createSimRuntimes(net, [A, B]);
  // An ordinary Ethernet path (1500-byte MTU) unless the test says otherwise, so path MTU discovery stops at 1472.
  net.setPath(A, B, { mtu: 1472, ...link });
  return { net, loop, a, b };
}

/** Starts `server` listening on `port` (0: ephemeral) and returns the bound port. */
export async function listen(loop: SimLoop, server: Server, port = 0, host?: string): Promise<number> {
  let listening = false;
  server.listen({ port, host }, () => {
    listening = true;
  });
  assert.ok(await loop.run(() => listening, { timeout: 0 }), "server did not start listening");
  return (server.address() as { port: number }).port;
}

/** What a socket delivered and went through. */
export interface Collected {
  chunks: Buffer[];
  ended: boolean;
  closed: boolean;
  connected: boolean;
  error: (Error & { code?: string }) | undefined;
  /** Virtual time of each milestone, µs. */
  at: { connect?: number; end?: number; close?: number; error?: number };
  bytes(): Buffer;
  length(): number;
}

/** Records `socket`'s data, end, close and error (reading in flowing mode). */
export function collect(socket: Socket, loop: SimLoop): Collected {
  const c: Collected = {
    chunks: [],
    ended: false,
    closed: false,
    connected: !socket.connecting,
    error: undefined,
    at: {},
    bytes: () => Buffer.concat(c.chunks),
    length: () => c.chunks.reduce((n, b) => n + b.length, 0),
  };
  socket.on("connect", () => {
    c.connected = true;
    c.at.connect = loop.now;
  });
  socket.on("data", (d: Buffer) => c.chunks.push(d));
  socket.on("end", () => {
    c.ended = true;
    c.at.end = loop.now;
  });
  socket.on("error", (err: Error) => {
    c.error = err;
    c.at.error = loop.now;
  });
  socket.on("close", () => {
    c.closed = true;
    c.at.close = loop.now;
  });
  return c;
}

/** `n` pseudo-random bytes from the network's test stream. */
export function randomBytes(net: SimNetwork, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i + 4 <= n; i += 4) b.writeUInt32LE(net.rng.nextU32(), i);
  for (let i = n & ~3; i < n; i++) b[i] = net.rng.nextInt(256);
  return b;
}

/** SHA-256 of `b`, hex (short messages on mismatch instead of megabyte diffs). */
export function sha(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

/**
 * Closes the servers, destroys the sockets, pumps until every runtime's UDP
 * sockets are closed (TIME-WAIT included) and checks none leaked.
 */
export async function shutdown(
  loop: SimLoop,
  runtimes: SimRuntime[],
  things: { servers?: Server[]; sockets?: Socket[] } = {},
): Promise<void> {
  for (const s of things.sockets ?? []) s.destroy();
  for (const s of things.servers ?? []) if (s.listening) s.close();
  const open = () => runtimes.reduce((n, rt) => n + rt.openHandles, 0);
  await loop.run(() => open() === 0, { timeout: 120 * 1_000_000 });
  assert.equal(open(), 0, "UDP sockets left open after shutdown");
}
