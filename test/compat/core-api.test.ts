// Behaviour of the main API that the compat adapters rely on or work around (buffer ownership after a write).
import assert from "node:assert/strict";
import { test } from "node:test";
import { TCPSocket } from "../../src/compat/index.js";
import { connect, createServer, type Socket } from "../../src/index.js";
import { receiveExactly } from "./helpers.js";

const HOST = "127.0.0.1";
const N = 3 * 1024 * 1024;

test("Socket: a buffer reused after its write callback is not corrupted in flight (net.Socket semantics)", {
  timeout: 10_000,
}, async () => {
  // A small receive window keeps most of the write queued in the sender's core when the callback runs.
  const server = createServer({ receiveWindow: 64 * 1024 });
  const received = new Promise<Buffer>((resolve) => {
    server.on("connection", (s: Socket) => {
      const parts: Buffer[] = [];
      s.on("data", (d: Buffer) => parts.push(d));
      s.on("end", () => {
        s.end();
        resolve(Buffer.concat(parts));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, HOST, resolve));
  const c = connect({ port: (server.address() as { port: number }).port, host: HOST });
  c.resume();
  await new Promise<void>((resolve) => c.once("connect", resolve));
  const buf = Buffer.alloc(N, 0x41);
  await new Promise<void>((resolve) => c.write(buf, () => resolve()));
  buf.fill(0x42); // allowed with net.Socket once the callback ran
  c.end();
  const got = await received;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.equal(got.length, N);
  assert.equal(got.indexOf(0x42), -1, "bytes written after the callback leaked into the stream");
});

test("compat send() copies: reusing the buffer once send() resolved is safe", { timeout: 10_000 }, async () => {
  const l = new TCPSocket({ WINDOW_SIZE: 64 * 1024 });
  l.bind([HOST, 0]);
  await l.listen();
  const c = new TCPSocket();
  await c.connect([HOST, l.getsockname()[1]]);
  const [conn] = await l.accept();
  const buf = Buffer.alloc(N, 0x41);
  const receiving = receiveExactly((n) => conn.receive(n), N);
  await c.send(buf);
  buf.fill(0x42);
  const got = await receiving;
  assert.equal(got.indexOf(0x42), -1);
  await Promise.all([c.close(), conn.close()]);
  await l.close();
});
