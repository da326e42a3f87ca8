// Example: a compat ReliableServer serving a few ReliableSocket clients (an uppercase service), all in one process.
// Run: npx tsx examples/reliable-server.ts
import { type ClientConnection, ReliableServer, ReliableSocket } from "../src/compat/index.js";

const CLIENTS = 4;

async function serve(conn: ClientConnection): Promise<void> {
  const [host, port] = conn.address;
  let total = 0;
  for (;;) {
    const data = await conn.receive(4096);
    if (data.length === 0) break; // the client closed its side
    total += data.length;
    await conn.send(data.toString().toUpperCase());
  }
  await conn.close();
  console.log(`server: ${host}:${port} done after ${total} bytes`);
}

const server = new ReliableServer("127.0.0.1", 0);
await server.listen();
const [host, port] = server.address();
console.log(`server: listening on ${host}:${port}`);

const handlers: Promise<void>[] = [];
const acceptLoop = (async () => {
  for (let i = 0; i < CLIENTS; i++) handlers.push(serve(await server.accept()));
})();

async function client(id: number): Promise<void> {
  const sock = new ReliableSocket("127.0.0.1", port);
  await sock.connect();
  for (const word of ["hello", "reliable", `udp #${id}`]) {
    await sock.send(word);
    let reply = "";
    while (reply.length < word.length) reply += (await sock.receive(1024)).toString();
    console.log(`client ${id}: sent "${word}", got "${reply}"`);
  }
  await sock.close();
}

await Promise.all(Array.from({ length: CLIENTS }, (_, i) => client(i + 1)));
await acceptLoop;
await Promise.all(handlers);
await server.shutdown();
console.log(`server: shut down after ${CLIENTS} clients`);
