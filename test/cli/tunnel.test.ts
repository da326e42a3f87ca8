/** `rudp tunnel`: TCP through rudp and back, with half-close, an HTTP request and resets passing through. */

import assert from "node:assert/strict";
import { once } from "node:events";
import http from "node:http";
import net from "node:net";
import { after, test } from "node:test";
import { freeTcpPort, freeUdpPort, interrupt, killAll, rudp } from "./helpers.js";

after(killAll);

/** Starts a TCP server on 127.0.0.1 and returns it with its port. */
async function tcpServer(server: net.Server | http.Server): Promise<number> {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return (server.address() as net.AddressInfo).port;
}

/** Connects to the tunnel's client side, writes `data`, half-closes, and reads until the end. */
function roundTrip(port: number, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true });
    const parts: Buffer[] = [];
    s.on("data", (d: Buffer) => parts.push(d));
    s.on("end", () => {
      s.end();
      resolve(Buffer.concat(parts));
    });
    s.on("error", reject);
    s.end(data);
  });
}

test("tunnel carries a TCP echo (half-close included), HTTP, and resets", { timeout: 60_000 }, async () => {
  // Echoes after the client's FIN: only a tunnel that passes the half-close through gets an answer.
  const echo = net.createServer({ allowHalfOpen: true }, (s) => {
    const parts: Buffer[] = [];
    s.on("data", (d: Buffer) => parts.push(d));
    s.on("end", () => s.end(Buffer.concat(parts)));
    s.on("error", () => {});
  });
  const web = http.createServer((req, res) => {
    res.setHeader("content-type", "text/plain");
    res.end(`hello from ${req.url}`);
  });
  const resetter = net.createServer((s) => {
    s.on("error", () => {});
    s.once("data", () => s.resetAndDestroy());
  });
  try {
    const [echoPort, webPort, resetPort] = await Promise.all([tcpServer(echo), tcpServer(web), tcpServer(resetter)]);
    const tunnels = await Promise.all(
      [echoPort, webPort, resetPort].map(async (target) => {
        const udp = await freeUdpPort();
        const tcp = await freeTcpPort();
        const server = rudp(["tunnel", "server", "--listen", `127.0.0.1:${udp}`, "--to", `127.0.0.1:${target}`]);
        const client = rudp(["tunnel", "client", "--listen", `127.0.0.1:${tcp}`, "--to", `127.0.0.1:${udp}`]);
        await Promise.all([server.waitForStderr(/listening on/), client.waitForStderr(/listening on/)]);
        return { server, client, tcp };
      }),
    );
    const [echoTunnel, webTunnel, resetTunnel] = tunnels;

    // Two connections at once, one of them large.
    const small = Buffer.from("hello through the tunnel");
    const big = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 8)) & 0xff;
    const [a, b] = await Promise.all([roundTrip(echoTunnel.tcp, small), roundTrip(echoTunnel.tcp, big)]);
    assert.ok(a.equals(small));
    assert.ok(b.equals(big));

    const body = await new Promise<string>((resolve, reject) => {
      http
        .get({ host: "127.0.0.1", port: webTunnel.tcp, path: "/tunnelled", agent: false }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            text += d;
          });
          res.on("end", () => resolve(`${res.statusCode} ${text}`));
        })
        .on("error", reject);
    });
    assert.equal(body, "200 hello from /tunnelled");

    // The target resets: the client's TCP connection is reset too.
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const s = net.connect({ port: resetTunnel.tcp, host: "127.0.0.1" });
      s.on("error", (e) => resolve(e));
      s.on("close", () => resolve(undefined));
      s.write("trigger");
    });
    assert.equal(err?.code, "ECONNRESET");

    for (const t of tunnels) {
      const [s, c] = await Promise.all([interrupt(t.server), interrupt(t.client)]);
      assert.equal(s.code, 0, s.stderr);
      assert.equal(c.code, 0, c.stderr);
    }
    assert.match(echoTunnel.client.stderr(), /carried 2 connections/);
  } finally {
    killAll();
    echo.close();
    web.close();
    resetter.close();
  }
});
