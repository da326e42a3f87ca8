/**
 * Scale (issue #6): 2,000 connections open at the same time to one server on
 * loopback, each echoing 1 KiB, all verified, then all closed. The clients
 * share four UDP sockets (servers used only to `connect` from), so the test
 * needs five UDP sockets, not 2,001. Then what an idle connection and a client
 * socket cost in ArrayBuffers (datagrams and send buffers), which at 10,000
 * connections decides the memory bill.
 */

import assert from "node:assert/strict";
import { once } from "node:events";
import { test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";
import { connect, createServer, type Server, type Socket } from "../../src/index.js";
import { closeServer, pattern, portOf } from "../api/helpers.js";

const LOCAL = "127.0.0.1";
const CONNECTIONS = 2000;
const CLIENT_ENDPOINTS = 4;
/** Handshakes in progress at once: a steady arrival of clients rather than a SYN flood. */
const OPENING = 200;
const PAYLOAD = 1024;

async function listenOn(server: Server, backlog = 511): Promise<number> {
  server.listen({ port: 0, host: LOCAL, backlog });
  await once(server, "listening");
  return portOf(server);
}

/** Forces a full GC (exposed at runtime: the test runner does not pass --expose-gc). */
const gc: () => void = (() => {
  v8.setFlagsFromString("--expose-gc");
  return vm.runInNewContext("gc") as () => void;
})();

/** Live ArrayBuffer bytes after a full collection. */
async function liveArrayBuffers(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  return process.memoryUsage().arrayBuffers;
}

function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "UDPWrap").length;
}

test(`${CONNECTIONS} concurrent connections to one server each echo 1 KiB`, { timeout: 60_000 }, async (t) => {
  const startedAt = performance.now();
  const cpuBefore = process.cpuUsage();
  const udpBefore = udpHandles();
  let active = 0;
  let peak = 0;
  let peakCore = 0;
  const server = createServer((s: Socket) => {
    active++;
    peak = Math.max(peak, active);
    s.on("error", () => {});
    s.once("close", () => active--);
    s.pipe(s);
  });
  const port = await listenOn(server, 1024);
  const clientEndpoints = Array.from({ length: CLIENT_ENDPOINTS }, () => createServer((s) => s.destroy()));
  await Promise.all(clientEndpoints.map((e) => listenOn(e)));

  const sockets: Socket[] = [];
  const echoed: Promise<boolean>[] = [];
  let opening = 0;
  let connected = 0;
  let wake: (() => void) | undefined;
  for (let i = 0; i < CONNECTIONS; i++) {
    while (opening >= OPENING) await new Promise<void>((r) => (wake = r));
    opening++;
    const socket = clientEndpoints[i % CLIENT_ENDPOINTS].connect(port, LOCAL);
    sockets.push(socket);
    const data = pattern(PAYLOAD, i + 1);
    echoed.push(
      new Promise<boolean>((resolve, reject) => {
        const parts: Buffer[] = [];
        let n = 0;
        socket.once("error", reject);
        socket.once("connect", () => {
          opening--;
          connected++;
          wake?.();
          socket.write(data);
        });
        socket.on("data", (d: Buffer) => {
          parts.push(d);
          n += d.length;
          if (n >= PAYLOAD) resolve(Buffer.concat(parts).equals(data));
        });
      }),
    );
  }
  const results = await Promise.all(echoed);
  const allOpenAt = performance.now();
  assert.equal(connected, CONNECTIONS);
  assert.equal(results.filter(Boolean).length, CONNECTIONS, "every echo is byte-exact");
  // Nothing has been closed yet: every connection is open at once.
  const count = await new Promise<number>((r) => server.getConnections((_e, n) => r(n)));
  peakCore = server.endpointStats()?.connections ?? 0;
  assert.equal(count, CONNECTIONS);
  assert.equal(peak, CONNECTIONS);
  assert.equal(peakCore, CONNECTIONS);
  const st = server.endpointStats();
  assert.equal(st?.droppedHandshakes, 0);
  assert.equal(st?.internalErrors, 0);

  const closed = sockets.map((s) => once(s, "close"));
  for (const s of sockets) s.end();
  await Promise.all(closed);
  await new Promise<void>((resolve) => {
    const check = (): void => {
      if (active === 0) resolve();
      else setTimeout(check, 10);
    };
    check();
  });
  await Promise.all([closeServer(server), ...clientEndpoints.map(closeServer)]);
  // The UDP sockets close once their last connection left TIME-WAIT (4 s).
  const deadline = performance.now() + 15_000;
  while (udpHandles() > udpBefore && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(udpHandles(), udpBefore, "every UDP socket closed");
  const cpu = process.cpuUsage(cpuBefore);
  t.diagnostic(
    `${CONNECTIONS} connections open and echoed in ${((allOpenAt - startedAt) / 1000).toFixed(2)} s, ` +
      `closed by ${((performance.now() - startedAt) / 1000).toFixed(2)} s; ` +
      `CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`,
  );
});

// Regression: answering a probe kept `p.path.slice()`, a view (node Buffers' slice) pinning the whole datagram.
test("idle connections retain no received datagrams: ArrayBuffer memory per connection stays small", {
  timeout: 30_000,
}, async (t) => {
  const N = 400;
  const server = createServer((s: Socket) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  const port = await listenOn(server, 1024);
  const client = createServer((s) => s.destroy());
  await listenOn(client);
  const sockets: Socket[] = [];
  let probed = 0;
  const open = async (n: number): Promise<void> => {
    const batch = Array.from({ length: n }, () => {
      const s = client.connect(port, LOCAL);
      sockets.push(s);
      // Path MTU discovery climbs to the 64 KB loopback limit; wait for each connection to get there.
      const onMtu = (size: number) => {
        if (size < 32_000) return;
        probed++;
        s.off("mtu", onMtu);
      };
      s.on("mtu", onMtu);
      return once(s, "connect");
    });
    await Promise.all(batch);
  };
  const settle = async (want: number) => {
    const deadline = performance.now() + 10_000;
    while (probed < want && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300));
  };
  // Warm-up: send slabs and other per-endpoint buffers exist before the baseline.
  await open(10);
  await settle(10);
  const base = await liveArrayBuffers();
  for (let i = 0; i < N; i += 200) await open(200);
  await settle(N + 10);
  const perConnection = ((await liveArrayBuffers()) - base) / N;
  t.diagnostic(
    `${(perConnection / 1024).toFixed(1)} KiB of ArrayBuffers per idle connection (both ends); ${probed} probed`,
  );
  const closed = sockets.map((s) => once(s, "close"));
  for (const s of sockets) s.end();
  await Promise.all(closed);
  await Promise.all([closeServer(server), closeServer(client)]);
  assert.ok(perConnection < 8 * 1024, `${(perConnection / 1024).toFixed(1)} KiB per connection`);
});

// Regression: the driver of each connect() used to allocate its own 1 MiB send slab.
test("a client socket from connect() costs little memory beyond its connection", {
  timeout: 30_000,
}, async (t) => {
  const N = 40;
  const server = createServer((s: Socket) => {
    s.on("error", () => {});
    s.pipe(s);
  });
  const port = await listenOn(server);
  const options = { port, host: LOCAL, maxProbePacketSize: 0 }; // path MTU discovery off: see the test above
  const warm = connect(options);
  await once(warm, "connect");
  const base = await liveArrayBuffers();
  const sockets = Array.from({ length: N }, () => connect(options));
  await Promise.all(
    sockets.map(async (s) => {
      await once(s, "connect");
      s.write(Buffer.alloc(1000, 1));
      await once(s, "data");
    }),
  );
  const perSocket = ((await liveArrayBuffers()) - base) / N;
  t.diagnostic(`${(perSocket / 1024).toFixed(0)} KiB of ArrayBuffers per client socket (server side included)`);
  const closed = [warm, ...sockets].map((s) => once(s, "close"));
  for (const s of [warm, ...sockets]) s.end();
  await Promise.all(closed);
  await closeServer(server);
  assert.ok(perSocket < 32 * 1024, `${(perSocket / 1024).toFixed(0)} KiB per client socket`);
});
