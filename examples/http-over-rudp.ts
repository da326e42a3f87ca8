// Example: HTTP/1.1 over rudp — a node:http server fed rudp sockets; a client fetches a page and a verified 10 MiB body.
// Run: npx tsx examples/http-over-rudp.ts
import { createHash, randomBytes } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import { connect, createServer, type Socket } from "../src/index.js";

const BIG = 10 * 1024 * 1024;
const body = randomBytes(BIG);
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const expected = sha256(body);

// The HTTP server never listens on TCP: each accepted rudp socket is handed to it as a connection.
const httpServer = http.createServer((req, res) => {
  if (req.url === "/") {
    const page = "<!doctype html><title>rudp</title><p>Hello from HTTP over rudp.</p>\n";
    res.writeHead(200, { "content-type": "text/html", "content-length": Buffer.byteLength(page) });
    res.end(page);
  } else if (req.url === "/big") {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": BIG, "x-sha256": expected });
    res.end(body);
  } else {
    res.writeHead(404, { "content-length": 0 });
    res.end();
  }
});
const rudpServer = createServer((socket: Socket) => httpServer.emit("connection", socket));
await new Promise<void>((resolve) => rudpServer.listen(0, "127.0.0.1", resolve));
const { port } = rudpServer.address() as { port: number };
console.log(`HTTP over rudp listening on udp://127.0.0.1:${port}`);

// One keep-alive agent whose connections are rudp sockets: both requests share one rudp connection.
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
agent.createConnection = () => connect(port, "127.0.0.1") as unknown as net.Socket;

function get(path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    http
      .get({ agent, host: "127.0.0.1", port, path }, (res) => {
        const parts: Buffer[] = [];
        res.on("data", (c: Buffer) => parts.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(parts),
            ms: performance.now() - started,
          }),
        );
        res.on("error", reject);
      })
      .on("error", reject);
  });
}

let ok = true;
try {
  const page = await get("/");
  console.log(
    `GET /     ${page.status} ${page.body.length} bytes in ${page.ms.toFixed(1)} ms (includes the handshake)`,
  );
  console.log(`          ${page.body.toString().trim()}`);
  ok &&= page.status === 200;

  const big = await get("/big");
  const verified = big.body.length === BIG && sha256(big.body) === expected && big.headers["x-sha256"] === expected;
  const mbps = (big.body.length * 8) / (big.ms / 1000) / 1e6;
  console.log(
    `GET /big  ${big.status} ${(big.body.length / 1024 / 1024).toFixed(1)} MiB in ${big.ms.toFixed(0)} ms ` +
      `(${mbps.toFixed(0)} Mbit/s), SHA-256 ${verified ? "verified" : "MISMATCH"} ${sha256(big.body).slice(0, 16)}…`,
  );
  ok &&= big.status === 200 && verified;
} catch (err) {
  console.error("request failed:", (err as Error).message);
  ok = false;
} finally {
  agent.destroy();
  httpServer.closeAllConnections();
  httpServer.close(); // never listened on TCP: this only stops its connection-checking timer
  await new Promise<void>((resolve) => rudpServer.close(() => resolve()));
  console.log("servers closed");
}
process.exitCode = ok ? 0 : 1;
