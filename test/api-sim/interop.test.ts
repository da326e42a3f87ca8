/**
 * The API in less common shapes on virtual time: simultaneous open between
 * two listening peers (`server.connect` on both sides) and node:http running
 * over rudp sockets on a lossy path.
 */

import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import { connect, createServer, type Socket } from "../../src/index.js";
import { withSeed } from "../helpers/seed.js";
import { A, B, collect, listen, randomBytes, sha, shutdown, world } from "./helpers.js";

test(
  "simultaneous open: both peers dial each other from their listening sockets",
  { timeout: 5_000 },
  withSeed(21, async (seed) => {
    const { loop, a, b } = world(seed, { delay: 25 * MS, jitter: 2 * MS, loss: 0.05 });
    const incoming: Socket[] = [];
    const pa = createServer({ runtime: a }, (s) => incoming.push(s));
    const pb = createServer({ runtime: b }, (s) => incoming.push(s));
    await listen(loop, pa, 5000);
    await listen(loop, pb, 5000);
    const toB = pa.connect(5000, B);
    const toA = pb.connect(5000, A);
    const gotA = collect(toB, loop);
    const gotB = collect(toA, loop);
    assert.ok(await loop.run(() => gotA.connected && gotB.connected, { timeout: 60 * SECOND }));
    assert.equal(incoming.length, 0, "one connection, no extra accepted socket");
    assert.equal(toB.remotePort, 5000);
    assert.equal(toA.remoteAddress, A);
    toB.end("from A");
    toA.end("from B");
    assert.ok(await loop.run(() => gotA.closed && gotB.closed, { timeout: 60 * SECOND }));
    assert.equal(gotA.error, undefined);
    assert.equal(gotB.error, undefined);
    assert.equal(gotA.bytes().toString(), "from B");
    assert.equal(gotB.bytes().toString(), "from A");
    await shutdown(loop, [a, b], { servers: [pa, pb] });
  }),
);

test(
  "node:http over rudp on a lossy path",
  { timeout: 10_000 },
  withSeed(22, async (seed) => {
    const { net, loop, a, b } = world(seed, { delay: 20 * MS, jitter: 4 * MS, loss: 0.03 });
    const upload = randomBytes(net, 200_000);
    const httpServer = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (d: Buffer) => parts.push(d));
      req.on("end", () => {
        const body = Buffer.concat(parts);
        res.setHeader("x-sha256", sha(body));
        res.end(Buffer.concat([body, body]));
      });
    });
    const server = createServer({ runtime: b }, (s) => httpServer.emit("connection", s));
    const port = await listen(loop, server, 80);
    let status = 0;
    let headerSha = "";
    const parts: Buffer[] = [];
    let done = false;
    let failure: Error | undefined;
    const req = http.request(
      {
        host: B,
        port,
        method: "POST",
        path: "/echo",
        headers: { "content-length": upload.length },
        createConnection: () => connect({ port, host: B, runtime: a }) as never,
      },
      (res) => {
        status = res.statusCode ?? 0;
        headerSha = String(res.headers["x-sha256"]);
        res.on("data", (d: Buffer) => parts.push(d));
        res.on("end", () => {
          done = true;
        });
      },
    );
    req.on("error", (err) => {
      failure = err;
    });
    req.end(upload);
    assert.ok(await loop.run(() => done || failure !== undefined, { timeout: 120 * SECOND }));
    assert.equal(failure, undefined);
    assert.equal(status, 200);
    assert.equal(headerSha, sha(upload));
    const body = Buffer.concat(parts);
    assert.equal(body.length, 2 * upload.length);
    assert.equal(sha(body), sha(Buffer.concat([upload, upload])));
    httpServer.close();
    await shutdown(loop, [a, b], { servers: [server] });
  }),
);
