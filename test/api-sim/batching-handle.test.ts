/**
 * The driver's shared send slab with batching UDP handles (endpoint-driver.ts:
 * `sendRoom`, `slabWaiting`, `slabPinned`, `#room`, `#sendBatch`). A batching
 * handle keeps a *view* of each datagram until `flush()`, and when the socket
 * is not writable it keeps some of them past the flush (returning false) and
 * sends them later by itself. The driver rewinds the slab only once nothing in
 * it waits; rewinding too early overwrites a datagram before it left.
 *
 * The public API runs on virtual time over a wrapper runtime whose UDP handles
 * batch like the native datapath: `send()` queues the caller's view, `flush()`
 * copies each datagram at that moment (as the kernel would) and hands the copy
 * to the simulated socket, and seeded "blocked" flushes send only a prefix,
 * keep the rest as views, return false and send the rest later (after the
 * current batch of deferred work, or after a virtual-time delay), copied then.
 *
 * What would catch an overwritten datagram:
 * - end to end: the payload's hash, checksum failures (`corruptDrops`) and
 *   retransmissions on a path that loses nothing;
 * - directly: each handle keeps a private copy of every datagram taken at
 *   `send()` time and compares it with the view when it finally sends it.
 * A deliberately lying handle (returns true while it still holds views) shows
 * that these checks do fire.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Address } from "../../src/core/address.js";
import { SeededRng } from "../../src/core/rng.js";
import { type Instant, MS, SECOND } from "../../src/core/time.js";
import { connect, createServer, type Server, type Socket } from "../../src/index.js";
import type { BindOptions, Runtime, Timer, UdpHandle } from "../../src/runtime/runtime.js";
import type { SimRuntime } from "../../src/runtime/sim-runtime.js";
import { deriveSeed } from "../../src/sim/seed.js";
import { withSeed } from "../helpers/seed.js";
import { B, type Collected, collect, listen, randomBytes, sha, shutdown, world } from "./helpers.js";

const MiB = 1024 * 1024;

/** How the wrapped handles behave. */
interface Behaviour {
  /**
   * Traffic alternates between calm phases (no flush blocks, so the slab is rewound again and again once the
   * slab a block pinned has filled) and stormy ones, each lasting a seeded number of queued bytes in these ranges.
   */
  calmBytes: readonly [number, number];
  stormBytes: readonly [number, number];
  /** In a storm, a flush finds the socket unwritable with probability 1/blockOneIn. */
  blockOneIn: number;
  /** Longest time a blocked socket stays unwritable, µs; a quarter of the blocks end after the current batch instead (runtime.defer). */
  maxBlockedFor: number;
  /** A broken handle: returns true from a blocked flush although it still holds views (and sends them later). */
  liar: boolean;
}

const HONEST: Behaviour = {
  calmBytes: [1 * MiB, 2 * MiB],
  stormBytes: [512 * 1024, 1 * MiB],
  blockOneIn: 2,
  maxBlockedFor: 5 * MS,
  liar: false,
};
const LIAR: Behaviour = { ...HONEST, liar: true };

/** What the handles of one test saw, shared by all of them. */
class Watch {
  /** flush() calls, those that found the socket blocked, and datagrams held past a flush and sent later. */
  flushes = 0;
  blockedFlushes = 0;
  sentLater = 0;
  /** Datagrams handed to the simulated socket. */
  sent = 0;
  /** Datagrams built where an earlier datagram of the same slab had been (the slab was rewound). */
  builtInReusedRegion = 0;
  /** Datagrams whose bytes changed between send() and the moment the handle sent them. */
  overwritten = 0;
  /** Datagrams still held (past a flush) whose region a newer datagram was built over. */
  clobberedWhileHeld = 0;
  /** Bytes queued by every handle, which drives the calm / stormy phases. */
  queuedBytes = 0;
  phases = 0;
  readonly #highWater = new WeakMap<ArrayBufferLike, number>();
  readonly #handles = new Set<BatchingHandle>();
  readonly #behaviour: Behaviour;
  readonly #rng: SeededRng;
  #stormy = true;
  #phaseEnd = 0;

  constructor(behaviour: Behaviour, seed: number) {
    this.#behaviour = behaviour;
    this.#rng = new SeededRng(deriveSeed(seed, "batching handle phases"));
  }

  /** Whether flushes may block now (a stormy phase). */
  get stormy(): boolean {
    if (this.queuedBytes >= this.#phaseEnd) {
      this.#stormy = !this.#stormy;
      const [lo, hi] = this.#stormy ? this.#behaviour.stormBytes : this.#behaviour.calmBytes;
      this.#phaseEnd = this.queuedBytes + lo + this.#rng.nextInt(hi - lo);
      this.phases++;
    }
    return this.#stormy;
  }

  /** @internal */
  _register(h: BatchingHandle): void {
    this.#handles.add(h);
  }

  /** @internal A datagram was queued: note whether its region of the slab was used before, and whether a held one is there. */
  _queued(view: Uint8Array): void {
    const buf = view.buffer;
    const start = view.byteOffset;
    const end = start + view.byteLength;
    this.queuedBytes += view.byteLength;
    const high = this.#highWater.get(buf) ?? 0;
    if (start < high) {
      this.builtInReusedRegion++;
      for (const h of this.#handles) this.clobberedWhileHeld += h._heldOverlapping(buf, start, end);
    }
    if (end > high) this.#highWater.set(buf, end);
  }

  /** A one-line summary for diagnostics and assertion messages. */
  toString(): string {
    return (
      `${this.phases} phases, ${this.flushes} flushes (${this.blockedFlushes} blocked), ${this.sent} datagrams sent ` +
      `(${this.sentLater} held past a flush), ${this.builtInReusedRegion} built in a rewound slab region, ` +
      `${this.overwritten} overwritten before sent, ${this.clobberedWhileHeld} clobbered while held`
    );
  }
}

interface Queued {
  data: Uint8Array;
  to: Address;
  /** A private copy taken at send(), to check the view was not overwritten. */
  shadow: Buffer;
  /** Kept past a flush (blocked socket). */
  held: boolean;
}

/** A UdpHandle that batches like the native datapath, over a simulated socket. */
class BatchingHandle implements UdpHandle {
  readonly #inner: UdpHandle;
  readonly #runtime: BatchingRuntime;
  readonly #rng: SeededRng;
  readonly #timer: Timer;
  #queue: Queued[] = [];
  #blocked = false;
  #closed = false;

  constructor(inner: UdpHandle, runtime: BatchingRuntime, seed: number) {
    this.#inner = inner;
    this.#runtime = runtime;
    this.#rng = new SeededRng(deriveSeed(seed, `batching handle ${inner.local.address}:${inner.local.port}`));
    this.#timer = runtime.sim.createTimer(() => this.#writable());
    runtime.watch._register(this);
  }

  get local(): UdpHandle["local"] {
    return this.#inner.local;
  }
  get peer(): Address | undefined {
    return this.#inner.peer;
  }
  get onMessage(): UdpHandle["onMessage"] {
    return this.#inner.onMessage;
  }
  set onMessage(fn: UdpHandle["onMessage"]) {
    this.#inner.onMessage = fn;
  }
  get onError(): UdpHandle["onError"] {
    return this.#inner.onError;
  }
  set onError(fn: UdpHandle["onError"]) {
    this.#inner.onError = fn;
  }
  get receiveBufferBytes(): number {
    return this.#inner.receiveBufferBytes;
  }

  /** Queues the caller's view itself (no copy), as the native handle does. */
  send(data: Uint8Array, to: Address): void {
    if (this.#closed) return;
    this.#runtime.watch._queued(data);
    this.#queue.push({ data, to, shadow: Buffer.from(data), held: false });
  }

  flush(): boolean {
    const watch = this.#runtime.watch;
    const b = this.#runtime.behaviour;
    watch.flushes++;
    if (this.#closed || this.#queue.length === 0) return true;
    if (this.#blocked) {
      // Still unwritable: everything queued waits for the socket.
      this.#hold();
      return b.liar;
    }
    if (watch.stormy && this.#rng.nextInt(b.blockOneIn) === 0) {
      watch.blockedFlushes++;
      this.#transmit(this.#rng.nextInt(this.#queue.length)); // the kernel took a prefix (maybe nothing)
      this.#hold();
      this.#blocked = true;
      if (b.maxBlockedFor === 0 || this.#rng.nextInt(4) === 0) this.#runtime.defer(() => this.#writable());
      else this.#timer.arm(this.#runtime.now() + 1 + this.#rng.nextInt(b.maxBlockedFor));
      return b.liar;
    }
    this.#transmit(this.#queue.length);
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#timer.cancel();
    this.#transmit(this.#queue.length); // what the socket had taken leaves before it closes
    this.#closed = true;
    this.#inner.close();
  }
  ref(): void {
    this.#inner.ref();
  }
  unref(): void {
    this.#inner.unref();
  }

  /** @internal How many datagrams held past a flush lie in [start, end) of `buf`. */
  _heldOverlapping(buf: ArrayBufferLike, start: number, end: number): number {
    let n = 0;
    for (const q of this.#queue) {
      if (!q.held || q.data.buffer !== buf) continue;
      const s = q.data.byteOffset;
      if (s < end && start < s + q.data.byteLength) n++;
    }
    return n;
  }

  #hold(): void {
    for (const q of this.#queue) q.held = true;
  }

  /** The socket is writable again: send what is held, copied now. */
  #writable(): void {
    if (this.#closed || !this.#blocked) return;
    this.#blocked = false;
    this.#runtime.watch.sentLater += this.#queue.length;
    this.#transmit(this.#queue.length);
  }

  /** Hands the first `n` queued datagrams to the simulated socket, each copied at this moment (as the kernel copies). */
  #transmit(n: number): void {
    if (n === 0) return;
    const watch = this.#runtime.watch;
    for (let i = 0; i < n; i++) {
      const q = this.#queue[i];
      const now = Buffer.from(q.data.buffer, q.data.byteOffset, q.data.byteLength);
      if (!now.equals(q.shadow)) watch.overwritten++;
      this.#inner.send(new Uint8Array(q.data), q.to);
      watch.sent++;
    }
    this.#queue = this.#queue.slice(n);
  }
}

/** A Runtime that delegates to a SimRuntime, but binds batching handles. */
class BatchingRuntime implements Runtime {
  readonly sim: SimRuntime;
  readonly behaviour: Behaviour;
  readonly watch: Watch;
  readonly #seed: number;

  constructor(sim: SimRuntime, behaviour: Behaviour, watch: Watch, seed: number) {
    this.sim = sim;
    this.behaviour = behaviour;
    this.watch = watch;
    this.#seed = seed;
  }

  get rng(): Runtime["rng"] {
    return this.sim.rng;
  }
  get crypto(): Runtime["crypto"] {
    return this.sim.crypto;
  }
  get checksum(): Runtime["checksum"] {
    return (this.sim as Runtime).checksum;
  }
  now(): Instant {
    return this.sim.now();
  }
  createTimer(fn: () => void): Timer {
    return this.sim.createTimer(fn);
  }
  defer(fn: () => void): void {
    this.sim.defer(fn);
  }
  lookup(host: string): Promise<{ address: string; family: "IPv4" | "IPv6" }> {
    return this.sim.lookup(host);
  }
  async bindUdp(options: BindOptions): Promise<UdpHandle> {
    return new BatchingHandle(await this.sim.bindUdp(options), this, this.#seed);
  }
}

/**
 * Hosts A and B, each behind batching handles, on a path that loses, reorders and corrupts nothing. The
 * bottleneck paces the data, so acknowledgements arrive spread out and each releases a small batch: many
 * flushes, many slab rewinds. Its queue is deep enough never to drop.
 */
function batchingWorld(seed: number, behaviour: Behaviour, mtu = 1472) {
  const w = world(seed, { delay: 10 * MS, mtu, rate: 200_000_000, queueBytes: 64 * MiB });
  const watch = new Watch(behaviour, seed);
  return {
    ...w,
    watch,
    ra: new BatchingRuntime(w.a, behaviour, watch, seed),
    rb: new BatchingRuntime(w.b, behaviour, watch, seed),
  };
}

/** `size` random bytes whose first four say `index` (so a receiver knows what to compare with). */
function tagged(net: Parameters<typeof randomBytes>[0], size: number, index: number): Buffer {
  const b = randomBytes(net, size);
  b.writeUInt32BE(index, 0);
  return b;
}

/** Checks bytes a side received against the payload their first four bytes name; returns that index. */
function checkTagged(label: string, got: Collected, payloads: Buffer[]): number {
  assert.equal(got.error, undefined, `${label}: ${got.error?.message}`);
  const bytes = got.bytes();
  assert.ok(bytes.length >= 4, `${label}: received ${bytes.length} bytes`);
  const index = bytes.readUInt32BE(0);
  const want = payloads[index];
  assert.ok(want, `${label}: unknown payload ${index}`);
  assert.equal(bytes.length, want.length, `${label}: length`);
  assert.equal(sha(bytes), sha(want), `${label}: payload ${index} differs`);
  return index;
}

/** Datagram-level damage an endpoint saw (all zero when no datagram was overwritten). */
function damage(stats: ReturnType<Server["endpointStats"]>) {
  assert.ok(stats, "endpoint stats");
  return { corruptDrops: stats.corruptDrops, malformedDrops: stats.malformedDrops };
}

interface UploadResult {
  done: boolean;
  hashOk: boolean;
  /** Damaged datagrams the receiving server's endpoint dropped. */
  corruptDrops: number;
  malformedDrops: number;
  /** Damaged datagrams (acknowledgements) the sending client's connection dropped. */
  senderDrops: number;
  /** The sender's retransmissions and first transmissions of data segments. */
  retransmits: number;
  segmentsSent: number;
  virtual: number;
}

/** The client uploads `size` bytes to the server, both on batching handles; the server hashes what it got. */
async function upload(
  seed: number,
  behaviour: Behaviour,
  size: number,
  maxPacketSize: number,
  mtu: number,
  virtualLimit = 300 * SECOND,
): Promise<UploadResult & { watch: Watch }> {
  const { net, loop, a, b, ra, rb, watch } = batchingWorld(seed, behaviour, mtu);
  const transport = { maxPacketSize, maxProbePacketSize: maxPacketSize === 1200 ? undefined : 0 };
  const accepted: Socket[] = [];
  let received: Collected | undefined;
  const server = createServer({ runtime: rb, ...transport }, (s) => {
    accepted.push(s);
    received = collect(s, loop);
  });
  const port = await listen(loop, server);
  const payload = randomBytes(net, size);
  const start = loop.now;
  const client = connect({ port, host: B, runtime: ra, ...transport });
  const sent = collect(client, loop);
  client.end(payload);
  const done = await loop.run(() => sent.closed && received?.closed === true, { timeout: virtualLimit });
  const got = received?.bytes() ?? Buffer.alloc(0);
  const st = client.stats();
  const result = {
    done,
    hashOk: got.length === size && sha(got) === sha(payload),
    ...damage(server.endpointStats()),
    senderDrops: st.corruptDrops + st.malformedDrops,
    retransmits: st.retransmits,
    segmentsSent: st.segmentsSent,
    virtual: loop.now - start,
    watch,
  };
  if (done && !behaviour.liar) {
    assert.equal(sent.error, undefined);
    assert.equal(received?.error, undefined);
    assert.equal(
      st.packetSize,
      maxPacketSize === 1200 ? 1472 : maxPacketSize,
      `the packet size the test meant (${st.pmtuProbes} probes, ${loop.now - start} us)`,
    );
  }
  await shutdown(loop, [a, b], { servers: [server], sockets: [client, ...accepted] });
  return result;
}

/** Asserts an honest run moved every byte intact, exercised blocked flushes and slab reuse, and overwrote nothing. */
function assertClean(r: UploadResult & { watch: Watch }): void {
  const w = `${r.watch}`;
  assert.ok(r.done, `transfer did not finish (${w})`);
  assert.ok(r.hashOk, `payload differs (${w})`);
  assert.equal(r.corruptDrops, 0, `checksum failures at the receiver (${w})`);
  assert.equal(r.malformedDrops, 0, `malformed datagrams at the receiver (${w})`);
  assert.equal(r.senderDrops, 0, `damaged datagrams at the sender (${w})`);
  assert.equal(r.watch.overwritten, 0, w);
  assert.equal(r.watch.clobberedWhileHeld, 0, w);
  // The path loses nothing: a retransmission means a datagram was damaged (a tail-loss probe or two may fire).
  assert.ok(r.retransmits <= 4, `${r.retransmits} retransmissions of ${r.segmentsSent} segments (${w})`);
  // The test is only worth something if the risky paths ran: blocks that held datagrams past a flush, and
  // datagrams built over rewound parts of the slab.
  assert.ok(r.watch.blockedFlushes >= 10, `few blocked flushes (${w})`);
  assert.ok(r.watch.sentLater * 20 >= r.watch.sent, `few datagrams held past a flush (${w})`);
  assert.ok(r.watch.builtInReusedRegion * 5 >= r.watch.sent, `the slab was hardly rewound (${w})`);
}

for (const [maxPacketSize, mtu] of [
  [1200, 1472],
  [9000, 9000],
] as const) {
  test(
    `6 MiB over batching handles with blocked flushes arrive intact (maxPacketSize ${maxPacketSize})`,
    { timeout: 30_000 },
    withSeed(maxPacketSize, async (seed, t) => {
      const size = 6 * MiB;
      const realStart = performance.now();
      const r = await upload(seed, HONEST, size, maxPacketSize, mtu);
      t.diagnostic(
        `${(r.virtual / SECOND).toFixed(2)} virtual s, ${(performance.now() - realStart).toFixed(0)} ms real; ` +
          `${r.segmentsSent} segments, ${r.retransmits} retransmitted; ${r.watch}`,
      );
      assertClean(r);
    }),
  );
}

test(
  "several connections from one client endpoint and two connect() sockets, both ways at once, arrive intact",
  { timeout: 30_000 },
  withSeed(21, async (seed, t) => {
    const { net, loop, a, b, ra, rb, watch } = batchingWorld(seed, HONEST);
    const SHARED = 4; // connections from one client endpoint (one UDP socket)
    const OWN = 2; // connect() sockets, each with its own UDP socket
    const n = SHARED + OWN;
    const sizes = Array.from({ length: n }, (_, i) => 512 * 1024 + i * 97_531);
    const up = sizes.map((size, i) => tagged(net, size, i));
    const down = sizes.map((size, i) => tagged(net, size + 12_345, i));

    // Both ways at once: the server sends the download of its accept order as soon as it accepts (payloads carry
    // their index in their first bytes, so either side can tell which one it got).
    const accepted: { socket: Socket; got: Collected; sentIndex: number }[] = [];
    const server = createServer({ runtime: rb }, (s) => {
      const sentIndex = accepted.length;
      accepted.push({ socket: s, got: collect(s, loop), sentIndex });
      s.end(down[sentIndex]);
    });
    const port = await listen(loop, server);
    const clientEndpoint = createServer({ runtime: ra }, (s) => s.destroy());
    await listen(loop, clientEndpoint);

    const clients: Socket[] = [];
    for (let i = 0; i < n; i++) {
      const s = i < SHARED ? clientEndpoint.connect(port, B) : connect({ port, host: B, runtime: ra });
      clients.push(s);
    }
    const got = clients.map((s) => collect(s, loop));
    clients.forEach((s, i) => {
      s.end(up[i]);
    });
    const done = await loop.run(() => got.every((g) => g.closed) && accepted.every((x) => x.got.closed), {
      timeout: 300 * SECOND,
    });
    assert.ok(done, `transfers did not finish (${watch})`);
    assert.equal(accepted.length, n);

    const seenUp = new Set<number>();
    const seenDown = new Set<number>();
    for (const x of accepted) seenUp.add(checkTagged(`upload on server connection ${x.sentIndex}`, x.got, up));
    for (let i = 0; i < n; i++) seenDown.add(checkTagged(`download on client ${i}`, got[i], down));
    assert.equal(seenUp.size, n, "every upload arrived once");
    assert.equal(seenDown.size, n, "every download arrived once");

    const retransmits = [...clients, ...accepted.map((x) => x.socket)].reduce(
      (sum, s) => sum + s.stats().retransmits,
      0,
    );
    for (const [label, st] of [
      ["server", server.endpointStats()],
      ["client endpoint", clientEndpoint.endpointStats()],
    ] as const) {
      assert.deepEqual(damage(st), { corruptDrops: 0, malformedDrops: 0 }, `${label} (${watch})`);
    }
    for (let i = SHARED; i < n; i++) {
      const st = clients[i].stats();
      assert.equal(st.corruptDrops + st.malformedDrops, 0, `connect() socket ${i} (${watch})`);
    }
    t.diagnostic(`${retransmits} retransmissions; ${watch}`);
    assert.equal(watch.overwritten, 0, `${watch}`);
    assert.equal(watch.clobberedWhileHeld, 0, `${watch}`);
    assert.ok(retransmits <= 4 * n, `${retransmits} retransmissions on a lossless path (${watch})`);
    assert.ok(watch.blockedFlushes >= 10, `few blocked flushes (${watch})`);
    assert.ok(watch.sentLater * 20 >= watch.sent, `few datagrams held past a flush (${watch})`);
    assert.ok(watch.builtInReusedRegion * 5 >= watch.sent, `the slab was hardly rewound (${watch})`);
    await shutdown(loop, [a, b], {
      servers: [server, clientEndpoint],
      sockets: [...clients, ...accepted.map((x) => x.socket)],
    });
  }),
);

test(
  "the checks catch a handle that reports drained while it still holds datagrams",
  { timeout: 30_000 },
  withSeed(31, async (seed, t) => {
    const size = 2 * MiB;
    const r = await upload(seed, LIAR, size, 1200, 1472, 60 * SECOND);
    t.diagnostic(
      `done ${r.done}, hash ${r.hashOk ? "ok" : "differs"}, ${r.corruptDrops} checksum failures, ` +
        `${r.malformedDrops} malformed, ${r.senderDrops} at the sender, ${r.retransmits} retransmissions of ${r.segmentsSent}; ${r.watch}`,
    );
    // The direct check: datagrams held past a "drained" flush were overwritten before they left.
    assert.ok(r.watch.overwritten > 0, `no datagram overwritten (${r.watch})`);
    assert.ok(r.watch.clobberedWhileHeld > 0, `no held datagram clobbered (${r.watch})`);
    // The end-to-end checks the honest tests rely on fire too.
    assert.ok(r.corruptDrops > 0, "the receiver saw no checksum failure");
    assert.ok(!r.done || !r.hashOk || r.retransmits > 4, "retransmissions stayed low");
  }),
);
