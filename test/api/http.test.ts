/** HTTP/1.1 over rudp on real loopback: a node:http server fed rudp sockets, and http clients whose connections are rudp. */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { once } from "node:events";
import http from "node:http";
import type net from "node:net";
import type { Duplex } from "node:stream";
import { describe, test } from "node:test";
import { connect, createServer, type Server, type Socket } from "../../src/index.js";
import { closeServer, pattern, portOf } from "./helpers.js";

const BIG = 10 * 1024 * 1024;
const BIG_BODY = pattern(BIG, 7);
const BIG_SHA = sha256(BIG_BODY);
const PAGE = "<!doctype html><title>rudp</title><p>Hello over rudp.</p>\n";

/** An rudp connection, typed as the net.Socket that http's createConnection is declared to return. */
function dial(port: number): net.Socket {
  return connect(port, "127.0.0.1") as unknown as net.Socket;
}

function sha256(b: Buffer): string {
  return createHash("sha256").update(b).digest("hex");
}

interface Stack {
  rudp: Server;
  httpServer: http.Server;
  port: number;
  /** rudp connections the HTTP server was handed. */
  connections: Socket[];
  close(): Promise<void>;
}

/** An HTTP server whose connections are the rudp server's sockets, on 127.0.0.1 (ephemeral port). */
async function stack(handler: http.RequestListener): Promise<Stack> {
  const httpServer = http.createServer(handler);
  const connections: Socket[] = [];
  const rudp = createServer();
  rudp.on("connection", (s: Socket) => {
    connections.push(s);
    httpServer.emit("connection", s);
  });
  rudp.listen(0, "127.0.0.1");
  await once(rudp, "listening");
  return {
    rudp,
    httpServer,
    port: portOf(rudp),
    connections,
    async close() {
      // The HTTP server never listened: close() only stops its timers; end idle keep-alive sockets.
      httpServer.closeAllConnections();
      await new Promise<void>((resolve) => httpServer.close(() => resolve()));
      for (const s of connections) s.destroy();
      await closeServer(rudp);
    },
  };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  socket: Duplex;
}

/** One request; `options` may name an agent or a createConnection. */
function request(options: http.RequestOptions, body?: Buffer): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(options, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (c: Buffer) => parts.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(parts),
          socket: req.socket as Duplex,
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function routes(seen: { method: string; url: string; remote?: string }[] = []): http.RequestListener {
  return (req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", remote: req.socket.remoteAddress });
    if (req.method === "GET" && req.url === "/") {
      res.writeHead(200, { "content-type": "text/html", "content-length": Buffer.byteLength(PAGE) });
      res.end(PAGE);
    } else if (req.method === "GET" && req.url === "/big") {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": BIG });
      res.end(BIG_BODY);
    } else if (req.method === "POST" && req.url === "/hash") {
      const h = createHash("sha256");
      let n = 0;
      req.on("data", (c: Buffer) => {
        h.update(c);
        n += c.length;
      });
      req.on("end", () => {
        const out = JSON.stringify({ bytes: n, sha256: h.digest("hex") });
        res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(out) });
        res.end(out);
      });
    } else {
      res.writeHead(404, { "content-length": 0 });
      res.end();
    }
  };
}

describe("HTTP over rudp (loopback)", { timeout: 120_000 }, () => {
  test("GET a small page", { timeout: 30_000 }, async () => {
    const seen: { method: string; url: string; remote?: string }[] = [];
    const st = await stack(routes(seen));
    try {
      const r = await request({
        createConnection: () => dial(st.port),
        path: "/",
        headers: { connection: "close" },
      });
      assert.equal(r.status, 200);
      assert.equal(r.headers["content-type"], "text/html");
      assert.equal(r.body.toString(), PAGE);
      assert.deepEqual(
        seen.map((s) => [s.method, s.url, s.remote]),
        [["GET", "/", "127.0.0.1"]],
      );
      assert.equal(st.connections.length, 1);
      const missing = await request({
        createConnection: () => dial(st.port),
        path: "/nope",
        headers: { connection: "close" },
      });
      assert.equal(missing.status, 404);
      assert.equal(missing.body.length, 0);
    } finally {
      await st.close();
    }
  });

  test("GET a 10 MiB body (SHA-256 verified)", { timeout: 30_000 }, async () => {
    const st = await stack(routes());
    try {
      const r = await request({
        createConnection: () => dial(st.port),
        path: "/big",
        headers: { connection: "close" },
      });
      assert.equal(r.status, 200);
      assert.equal(Number(r.headers["content-length"]), BIG);
      assert.equal(r.body.length, BIG);
      assert.equal(sha256(r.body), BIG_SHA);
    } finally {
      await st.close();
    }
  });

  test("POST a 10 MiB body that the server hashes", { timeout: 30_000 }, async () => {
    const st = await stack(routes());
    try {
      const body = pattern(BIG, 99);
      const r = await request(
        {
          createConnection: () => dial(st.port),
          method: "POST",
          path: "/hash",
          headers: { "content-type": "application/octet-stream", "content-length": BIG, connection: "close" },
        },
        body,
      );
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.body.toString()), { bytes: BIG, sha256: sha256(body) });
    } finally {
      await st.close();
    }
  });

  test("keep-alive: two requests share one rudp connection through an http.Agent", { timeout: 30_000 }, async () => {
    const seen: { method: string; url: string }[] = [];
    const st = await stack(routes(seen));
    let dialed = 0;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // Agent#createConnection is how an Agent makes its sockets; return rudp ones.
    agent.createConnection = () => {
      dialed++;
      return dial(st.port);
    };
    try {
      const first = await request({ agent, host: "127.0.0.1", port: st.port, path: "/" });
      assert.equal(first.status, 200);
      assert.equal(first.body.toString(), PAGE);
      assert.equal(first.headers.connection, "keep-alive");
      const second = await request({ agent, host: "127.0.0.1", port: st.port, path: "/big" });
      assert.equal(second.status, 200);
      assert.equal(sha256(second.body), BIG_SHA);
      assert.equal(second.socket, first.socket, "the agent reused the socket");
      assert.equal(dialed, 1, "one rudp connection dialed");
      assert.equal(st.connections.length, 1, "the server saw one connection");
      assert.deepEqual(
        seen.map((s) => s.url),
        ["/", "/big"],
      );
    } finally {
      agent.destroy();
      await st.close();
    }
  });
});
