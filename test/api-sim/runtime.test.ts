/**
 * SimRuntime and SimLoop on their own: virtual timers, deferred work, the
 * pump's settle-then-step order, UDP handles on the network, ICMP emulation,
 * lookup, bind errors, crashes and replayable randomness.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { MS, SECOND } from "../../src/core/time.js";
import type { UdpHandle } from "../../src/runtime/runtime.js";
import { createSimRuntimes, SimLoop, SimRuntime } from "../../src/runtime/sim-runtime.js";
import { type DatagramEvent, SimNetwork } from "../../src/sim/index.js";

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function setup(seed = 1) {
  const net = new SimNetwork({ seed, defaultLink: { delay: 10 * MS } });
  const {
    loop,
    hosts: [a, b],
  } = createSimRuntimes(net, ["10.0.0.1", "10.0.0.2"]);
  return { net, loop, a, b };
}

test("one loop per network; host() returns the same runtime for an address", () => {
  const { net, loop, a } = setup();
  assert.equal(SimLoop.for(net), loop);
  assert.equal(loop.host("10.0.0.1"), a);
  assert.equal(a.loop, loop);
  assert.equal(a.family, "IPv4");
  assert.equal(new SimRuntime(net, "fd00::1").family, "IPv6");
  assert.throws(() => new SimRuntime(net, "example.com"), TypeError);
});

test("timers fire at their virtual deadline, in (deadline, arming) order; re-arm replaces, cancel removes", async () => {
  const { loop, a, b } = setup();
  const log: string[] = [];
  const mk = (name: string) => a.createTimer(() => log.push(`${name}@${a.now() / MS}`));
  const t1 = mk("t1");
  const t2 = mk("t2");
  const t3 = b.createTimer(() => log.push(`t3@${b.now() / MS}`));
  const t4 = mk("t4");
  t1.arm(50 * MS);
  t2.arm(20 * MS);
  t3.arm(20 * MS);
  t4.arm(5 * MS);
  t1.arm(30 * MS); // replaces 50 ms
  t4.cancel();
  assert.equal(await loop.run(), false, "returns false once nothing is scheduled");
  assert.deepEqual(log, ["t2@20", "t3@20", "t1@30"]);
  assert.equal(loop.now, 30 * MS);
});

test("a timer can re-arm itself; one armed in the past fires at once without moving time back", async () => {
  const { loop, a } = setup();
  const seen: number[] = [];
  const t = a.createTimer(() => {
    seen.push(a.now());
    if (seen.length < 3) t.arm(a.now() + SECOND);
  });
  t.arm(SECOND);
  await loop.run();
  assert.deepEqual(seen, [SECOND, 2 * SECOND, 3 * SECOND]);
  const late = a.createTimer(() => seen.push(a.now()));
  late.arm(0);
  await loop.run();
  assert.equal(seen.at(-1), 3 * SECOND);
});

test("deferred work runs before virtual time moves and before until() is checked", async () => {
  const { loop, a } = setup();
  const log: string[] = [];
  const t = a.createTimer(() => {
    log.push(`timer@${a.now()}`);
    a.defer(() => {
      log.push(`deferred@${a.now()}`);
      process.nextTick(() => {
        log.push("tick");
        a.defer(() => log.push("deferred again"));
      });
    });
  });
  t.arm(7 * MS);
  const later = a.createTimer(() => log.push(`later@${a.now()}`));
  later.arm(8 * MS);
  await loop.run(() => log.includes("deferred again"));
  assert.deepEqual(log, ["timer@7000", "deferred@7000", "tick", "deferred again"]);
  assert.equal(loop.now, 7 * MS);
  await loop.run();
  assert.deepEqual(log.at(-1), "later@8000");
});

test("run honours its virtual timeout and leaves the clock at it; runFor ends exactly at its target", async () => {
  const { loop, a } = setup();
  let fired = false;
  a.createTimer(() => {
    fired = true;
  }).arm(10 * SECOND);
  assert.equal(await loop.run(() => fired, { timeout: 3 * SECOND }), false);
  assert.equal(loop.now, 3 * SECOND);
  assert.equal(fired, false);
  await loop.runFor(2 * SECOND);
  assert.equal(loop.now, 5 * SECOND);
  await loop.runFor(60 * SECOND); // the timer fires on the way; the clock still ends at the target
  assert.equal(fired, true);
  assert.equal(loop.now, 65 * SECOND);
});

test("wait() pumps until a promise settles and reports a promise that never does", async () => {
  const { loop, a } = setup();
  const p = new Promise<number>((resolve) => a.createTimer(() => resolve(a.now())).arm(4 * SECOND));
  assert.equal(await loop.wait(p), 4 * SECOND);
  await assert.rejects(loop.wait(new Promise(() => {})), /nothing left to run/);
  await assert.rejects(loop.wait(Promise.reject(new Error("boom"))), /boom/);
});

test("an exception in a callback rejects the run; the loop stays usable", async () => {
  const { loop, a } = setup();
  a.createTimer(() => {
    throw new Error("timer failed");
  }).arm(MS);
  await assert.rejects(loop.run(), /timer failed/);
  a.defer(() => {
    throw new Error("deferred failed");
  });
  await assert.rejects(loop.run(), /deferred failed/);
  assert.equal(loop.running, false);
  assert.equal(await loop.run(() => true), true);
});

test("run refuses to run twice at once", async () => {
  const { loop, a } = setup();
  a.createTimer(() => {}).arm(SECOND);
  const first = loop.run();
  await assert.rejects(loop.run(), /already running/);
  await first;
});

test("UDP handles exchange datagrams over the network's links", async () => {
  const { net, loop, a, b } = setup();
  net.setPath("10.0.0.1", "10.0.0.2", { delay: 25 * MS });
  const server = await b.bindUdp({ port: 9000, host: "0.0.0.0" });
  const client = await a.bindUdp({ port: 0, host: "0.0.0.0" });
  assert.deepEqual(server.local, { address: "10.0.0.2", port: 9000, family: "IPv4" });
  assert.equal(client.local.address, "10.0.0.1");
  assert.ok(client.local.port >= 49152);
  const log: string[] = [];
  server.onMessage = (data, from) => {
    log.push(`server got ${text(data)} from ${from.address}:${from.port} at ${loop.now / MS}`);
    server.send(bytes("pong"), from);
  };
  client.onMessage = (data) => log.push(`client got ${text(data)} at ${loop.now / MS}`);
  client.send(bytes("ping"), { address: "10.0.0.2", port: 9000 });
  await loop.run(() => log.length === 2);
  assert.deepEqual(log, [`server got ping from 10.0.0.1:${client.local.port} at 25`, "client got pong at 50"]);
  server.close();
  client.close();
  assert.equal(a.openHandles + b.openHandles, 0);
});

test("a connected handle only hears its peer", async () => {
  const { loop, a, b } = setup();
  const peer = await b.bindUdp({ port: 9000, host: "::" });
  const stranger = await b.bindUdp({ port: 9001, host: "::" });
  const client = await a.bindUdp({ port: 0, host: "0.0.0.0", connectTo: { address: "10.0.0.2", port: 9000 } });
  assert.deepEqual(client.peer, { address: "10.0.0.2", port: 9000 });
  const heard: string[] = [];
  client.onMessage = (data) => heard.push(text(data));
  peer.send(bytes("from peer"), client.local);
  stranger.send(bytes("from stranger"), client.local);
  await loop.run();
  assert.deepEqual(heard, ["from peer"]);
  for (const h of [peer, stranger, client]) h.close();
});

test("ICMP emulation: ECONNREFUSED on connected handles only, after a round trip, only from live hosts", async () => {
  const { net, loop, a, b } = setup();
  const errors: string[] = [];
  const watch = (name: string, h: UdpHandle) => {
    h.onError = (err) => errors.push(`${name} ${err.code} at ${loop.now / MS}`);
  };
  const connected = await a.bindUdp({ port: 0, host: "0.0.0.0", connectTo: { address: "10.0.0.2", port: 9 } });
  const unconnected = await a.bindUdp({ port: 0, host: "0.0.0.0" });
  const toNowhere = await a.bindUdp({ port: 0, host: "0.0.0.0", connectTo: { address: "10.9.9.9", port: 9 } });
  watch("connected", connected);
  watch("unconnected", unconnected);
  watch("nowhere", toNowhere);
  connected.send(bytes("x"), { address: "10.0.0.2", port: 9 });
  unconnected.send(bytes("x"), { address: "10.0.0.2", port: 9 });
  toNowhere.send(bytes("x"), { address: "10.9.9.9", port: 9 });
  await loop.run();
  assert.deepEqual(errors, ["connected ECONNREFUSED at 20"]);
  // A crashed host answers nothing; neither does a path that is down.
  b.crash();
  connected.send(bytes("x"), { address: "10.0.0.2", port: 9 });
  await loop.run();
  b.restart();
  net.link("10.0.0.2", "10.0.0.1").setDown(true);
  connected.send(bytes("x"), { address: "10.0.0.2", port: 9 });
  await loop.run();
  assert.equal(errors.length, 1);
  for (const h of [connected, unconnected, toNowhere]) h.close();
});

test("the test's own net.onDatagram keeps working, even when it chains to the previous hook", async () => {
  const seenByOption: string[] = [];
  const net = new SimNetwork({ seed: 3, onDatagram: (ev) => seenByOption.push(ev.fate) });
  const { loop, hosts } = createSimRuntimes(net, ["10.0.0.1", "10.0.0.2"]);
  const [a] = hosts;
  const seen: string[] = [];
  const previous = net.onDatagram;
  net.onDatagram = (ev: DatagramEvent) => {
    previous?.(ev);
    seen.push(`${ev.fate} ${ev.to.port}`);
  };
  const h = await a.bindUdp({ port: 0, host: "0.0.0.0", connectTo: { address: "10.0.0.2", port: 9 } });
  let refused = 0;
  h.onError = () => refused++;
  h.send(bytes("x"), { address: "10.0.0.2", port: 9 });
  await loop.run();
  assert.deepEqual(seen, ["no-host 9"]);
  assert.deepEqual(seenByOption, []); // replaced by the assignment, as without a runtime
  assert.equal(refused, 1);
  h.close();
});

test("closing a handle frees its port; datagrams already sent still leave", async () => {
  const { loop, a, b } = setup();
  const sink = await b.bindUdp({ port: 7000, host: "0.0.0.0" });
  const got: string[] = [];
  sink.onMessage = (d) => got.push(text(d));
  const h = await a.bindUdp({ port: 5000, host: "0.0.0.0" });
  await assert.rejects(a.bindUdp({ port: 5000, host: "0.0.0.0" }), { code: "EADDRINUSE" });
  h.send(bytes("last words"), { address: "10.0.0.2", port: 7000 });
  h.close();
  h.send(bytes("after close"), { address: "10.0.0.2", port: 7000 });
  const again = await a.bindUdp({ port: 5000, host: "10.0.0.1" });
  await loop.run();
  assert.deepEqual(got, ["last words"]);
  again.close();
  sink.close();
});

test("bind errors and ephemeral ports", async () => {
  const { a } = setup();
  await assert.rejects(a.bindUdp({ port: 0, host: "10.0.0.2" }), { code: "EADDRNOTAVAIL" });
  const ports = new Set<number>();
  const handles = [];
  for (let i = 0; i < 5; i++) {
    const h = await a.bindUdp({ port: 0, host: "0.0.0.0" });
    ports.add(h.local.port);
    handles.push(h);
  }
  assert.equal(ports.size, 5);
  for (const p of ports) assert.ok(p >= 49152 && p <= 65535);
  for (const h of handles) h.close();
  a.crash();
  await assert.rejects(a.bindUdp({ port: 0, host: "0.0.0.0" }), { code: "ENETDOWN" });
});

test("lookup: IP literals pass, loopback and localhost mean the host itself, names come from loop.names", async () => {
  const { loop, a } = setup();
  assert.deepEqual(await a.lookup("10.0.0.2"), { address: "10.0.0.2", family: "IPv4" });
  assert.deepEqual(await a.lookup("fd00::2"), { address: "fd00::2", family: "IPv6" });
  assert.deepEqual(await a.lookup("localhost"), { address: "10.0.0.1", family: "IPv4" });
  assert.deepEqual(await a.lookup("127.0.0.1"), { address: "10.0.0.1", family: "IPv4" });
  loop.names.set("server.sim", "10.0.0.2");
  assert.deepEqual(await a.lookup("server.sim"), { address: "10.0.0.2", family: "IPv4" });
  await assert.rejects(a.lookup("nowhere.sim"), { code: "ENOTFOUND" });
});

test("a crash drops the host's sockets, timers and deferred work", async () => {
  const { loop, a, b } = setup();
  const log: string[] = [];
  const h = await b.bindUdp({ port: 9000, host: "0.0.0.0" });
  h.onMessage = () => log.push("delivered");
  b.createTimer(() => log.push("timer")).arm(SECOND);
  b.defer(() => log.push("deferred"));
  const sender = await a.bindUdp({ port: 0, host: "0.0.0.0" });
  sender.send(bytes("x"), { address: "10.0.0.2", port: 9000 });
  b.crash();
  assert.equal(b.openHandles, 0);
  assert.deepEqual(loop.pending, { timers: 0, deferred: 0 });
  await loop.run();
  assert.deepEqual(log, []);
  sender.close();
});

test("randomness is seeded per network and host", () => {
  const draw = (seed: number, host: string) => {
    const net = new SimNetwork({ seed });
    return new SimRuntime(net, host).rng.nextU32();
  };
  assert.equal(draw(1, "10.0.0.1"), draw(1, "10.0.0.1"));
  assert.notEqual(draw(1, "10.0.0.1"), draw(2, "10.0.0.1"));
  assert.notEqual(draw(1, "10.0.0.1"), draw(1, "10.0.0.2"));
  const net = new SimNetwork({ seed: 1 });
  const first = new SimRuntime(net, "10.0.0.1");
  const second = new SimRuntime(net, "10.0.0.1");
  assert.notEqual(first.rng.nextU32(), second.rng.nextU32(), "a second runtime for a host gets its own stream");
});
