// Helpers for the compat tests: ephemeral UDP ports, random payloads and deadlines.
import { randomBytes } from "node:crypto";
import dgram from "node:dgram";

/** An ephemeral UDP port on 127.0.0.1 that was free a moment ago (the OS picks it; the socket is closed). */
export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** A bound UDP socket that receives and never answers (a peer that drops everything). */
export async function silentUdp(): Promise<{ port: number; close: () => Promise<void> }> {
  const s = dgram.createSocket("udp4");
  s.on("message", () => {});
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  return { port: s.address().port, close: () => new Promise<void>((resolve) => s.close(() => resolve())) };
}

/** `n` random bytes. */
export function payload(n: number): Buffer {
  return randomBytes(n);
}

/** Rejects with `message` after `ms` unless `p` settles first. */
export function within<T>(p: Promise<T>, ms: number, message = `timed out after ${ms} ms`): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Reads exactly `n` bytes through `receive`, failing on a premature end. */
export async function receiveExactly(receive: (n: number) => Promise<Buffer>, n: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let got = 0;
  while (got < n) {
    const chunk = await receive(Math.min(64 * 1024, n - got));
    if (chunk.length === 0) throw new Error(`end of stream after ${got} of ${n} bytes`);
    parts.push(chunk);
    got += chunk.length;
  }
  return Buffer.concat(parts);
}

/** Reads until end of stream. */
export async function receiveAll(receive: (n: number) => Promise<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (;;) {
    const chunk = await receive(64 * 1024);
    if (chunk.length === 0) return Buffer.concat(parts);
    parts.push(chunk);
  }
}
