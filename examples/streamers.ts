// Example: two compat Streamers aimed at each other (no server) exchange the numbers 1..N both ways and print them.
// Run: npx tsx examples/streamers.ts
import dgram from "node:dgram";
import { Streamer } from "../src/compat/index.js";

const N = 10;
const HOST = "127.0.0.1";

/** Asks the OS for a free UDP port (bind to 0, read it, release it). */
async function freePort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, HOST, resolve));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const [portA, portB] = [await freePort(), await freePort()];
const alice = new Streamer({ srcHost: HOST, srcPort: portA, dstHost: HOST, dstPort: portB });
const bob = new Streamer({ srcHost: HOST, srcPort: portB, dstHost: HOST, dstPort: portA });
console.log(`alice on ${HOST}:${portA} <-> bob on ${HOST}:${portB}`);

// Messages sent before the connection is up wait for it.
for (let i = 1; i <= N; i++) {
  alice.send(`alice says ${i}`);
  bob.send(`bob says ${i * i}`);
}
await Promise.all([alice.ready(), bob.ready()]);
console.log("connected (simultaneous open: one connection)");

for (let i = 1; i <= N; i++) {
  const [atBob, atAlice] = await Promise.all([bob.recv(), alice.recv()]);
  console.log(`bob got "${atBob}"   alice got "${atAlice}"`);
}

await Promise.all([alice.close(), bob.close()]);
console.log("both closed after FIN exchange");
