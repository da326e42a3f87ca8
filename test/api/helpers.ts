/**
 * Helpers for API tests on real loopback sockets: listening servers on
 * ephemeral ports, and promises for stream events.
 */

import { once } from "node:events";
import { createServer, type Server, type ServerOptions, type Socket } from "../../src/index.js";

/** A server listening on 127.0.0.1:0. */
export async function listening(options: ServerOptions = {}, onConnection?: (s: Socket) => void): Promise<Server> {
  const server = createServer(options, onConnection);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return server;
}

/** The port a server listens on. */
export function portOf(server: Server): number {
  const a = server.address();
  if (!a) throw new Error("server is not listening");
  return a.port;
}

/** Closes a server, resolving once it has closed. */
export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Reads a stream to its end. */
export async function readAll(s: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of s) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Deterministic test data. */
export function pattern(n: number, seed = 1): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Resolves once the stream has emitted 'close' (at once if it already has). */
export function whenClosed(s: NodeJS.EventEmitter & { closed?: boolean }): Promise<void> {
  if (s.closed) return Promise.resolve();
  return new Promise((resolve) => s.once("close", () => resolve()));
}

/** Resolves with the arguments of the next `name` event (unlike events.once, an 'error' does not reject it). */
export function nextEvent<T extends unknown[] = unknown[]>(emitter: NodeJS.EventEmitter, name: string): Promise<T> {
  return new Promise((resolve) => emitter.once(name, (...args: unknown[]) => resolve(args as T)));
}
