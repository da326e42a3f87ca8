// Example: an rudp echo server (main API) serving 20 clients at once; each client checks its echo, then a summary is printed.
// Run: npx tsx examples/echo-server.ts
import { createHash, randomBytes } from "node:crypto";
import { connect, createServer, type Socket } from "../src/index.js";

const CLIENTS = 20;
const BYTES_PER_CLIENT = 256 * 1024;

const server = createServer((socket: Socket) => {
  socket.pipe(socket); // echo the byte stream; ending ours when the client ends
  socket.on("message", (m: Buffer) => socket.sendMessage(m)); // and echo messages
  socket.on("error", (err) => console.error("server socket:", err.message));
});

await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const { port } = server.address() as { port: number };
console.log(`echo server listening on 127.0.0.1:${port}`);

const digest = (b: Buffer) => createHash("sha256").update(b).digest("hex").slice(0, 16);

async function client(id: number): Promise<{ id: number; ok: boolean; ms: number; rtt: number }> {
  const started = performance.now();
  const data = randomBytes(BYTES_PER_CLIENT);
  const socket = connect({ port, host: "127.0.0.1" });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const greeting = new Promise<Buffer>((resolve) => socket.once("message", resolve));
  socket.sendMessage(Buffer.from(`hello from client ${id}`));
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((resolve, reject) => {
    socket.once("end", resolve);
    socket.once("error", reject);
  });
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.end(data); // write everything, then FIN: the server's pipe ends its side after echoing
  const [echoedGreeting] = await Promise.all([greeting, ended]);
  const echoed = Buffer.concat(chunks);
  const ok = echoed.equals(data) && echoedGreeting.toString() === `hello from client ${id}`;
  const rtt = socket.stats().srtt / 1000;
  await closed;
  if (!ok) console.error(`client ${id}: echo mismatch (${digest(echoed)} != ${digest(data)})`);
  return { id, ok, ms: performance.now() - started, rtt };
}

const results = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i + 1)));
const okCount = results.filter((r) => r.ok).length;
const slowest = Math.max(...results.map((r) => r.ms));
console.log(
  `${okCount}/${CLIENTS} clients verified their echo ` +
    `(${(CLIENTS * BYTES_PER_CLIENT) / 1024} KiB each way in total, slowest client ${slowest.toFixed(0)} ms, ` +
    `mean srtt ${(results.reduce((s, r) => s + r.rtt, 0) / CLIENTS).toFixed(2)} ms)`,
);
await new Promise<void>((resolve) => server.close(() => resolve()));
console.log("server closed");
process.exitCode = okCount === CLIENTS ? 0 : 1;
