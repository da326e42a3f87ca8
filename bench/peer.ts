/** Loopback receiver, run as a child process by bench/loopback.ts: accepts transfers, verifies each and reports its own CPU. */

import net from "node:net";
import { blastReceive, creditWindow, openBlastSocket } from "../src/cli/bench-blast.js";
import { crc32 } from "../src/cli/bench-data.js";
import { createServer } from "../src/index.js";
import {
  encryptionFor,
  type PeerCommand,
  type PeerReport,
  pinnedPacketSize,
  runtimeFor,
  UDX_SOCKET_BUFFER,
} from "./loopback.js";
import { loadUdx, type Udx, type UdxSocket } from "./udx.js";

const send = (m: PeerReport) => process.send?.(m);
const fail = (err: unknown) =>
  send({ type: "error", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });

/** One transfer: counts and checksums what arrives, and reports once the sender's end arrived. */
class Sink {
  bytes = 0;
  crc = 0;
  /** Wall time spent in crc32 (pure CPU on this thread): subtracted from the transport's CPU. */
  checksumMs = 0;
  /** CPU is measured from the new connection on (the process idles before it). */
  readonly #cpu = process.cpuUsage();
  #done = false;

  data(chunk: Uint8Array): void {
    const t = performance.now();
    this.crc = crc32(chunk, this.crc);
    this.checksumMs += performance.now() - t;
    this.bytes += chunk.length;
  }

  end(extra: { mtu?: number; lost?: number } = {}): void {
    if (this.#done) return;
    this.#done = true;
    const cpu = process.cpuUsage(this.#cpu);
    send({
      type: "done",
      bytes: this.bytes,
      crc: this.crc,
      cpuUser: cpu.user / 1e6,
      cpuSystem: cpu.system / 1e6,
      checksumSeconds: this.checksumMs / 1000,
      ...extra,
    });
  }
}

/** Closes the listening side when the parent disconnects. */
const closers: (() => void)[] = [];
let udx: { udx: Udx; socket: UdxSocket } | undefined;

async function listen(cmd: Extract<PeerCommand, { cmd: "listen" }>): Promise<void> {
  if (cmd.transport === "rudp") {
    const options = { ...pinnedPacketSize(cmd.maxPacketSize), ...encryptionFor(cmd), ...runtimeFor(cmd) };
    const server = createServer(options, (socket) => {
      const sink = new Sink();
      socket.on("data", (d: Buffer) => sink.data(d));
      socket.on("end", () => sink.end());
      socket.on("error", fail);
    });
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      closers.push(() => server.close());
      send({ type: "ready", port: server.address()?.port ?? 0 });
    });
  } else if (cmd.transport === "tcp") {
    const server = net.createServer((socket) => {
      const sink = new Sink();
      socket.on("data", (d) => sink.data(d));
      socket.on("end", () => sink.end());
      socket.on("error", fail);
    });
    server.on("error", fail);
    server.listen(0, "127.0.0.1", () => {
      closers.push(() => server.close());
      send({ type: "ready", port: (server.address() as net.AddressInfo).port });
    });
  } else if (cmd.transport === "dgram") {
    // One socket for all transfers: each comes from a new sender port, and its Sink starts with its first datagram.
    const size = cmd.maxPacketSize ?? 1200;
    const socket = await openBlastSocket();
    const stop = blastReceive(socket, size, () => {
      const sink = new Sink();
      return { data: (payload) => sink.data(payload), end: (lost) => sink.end({ lost }) };
    });
    socket.on("error", fail);
    closers.push(() => {
      stop();
      socket.close();
    });
    send({ type: "ready", port: socket.address().port, window: creditWindow(socket, size) });
  } else {
    const UDX = await loadUdx();
    if (!UDX) throw new Error("udx-native not installed");
    const u = new UDX();
    const socket = u.createSocket();
    socket.bind(0, "127.0.0.1");
    socket.setRecvBufferSize(UDX_SOCKET_BUFFER);
    socket.setSendBufferSize(UDX_SOCKET_BUFFER);
    closers.push(() => void socket.close().catch(() => {}));
    udx = { udx: u, socket };
    send({ type: "ready", port: socket.address().port });
  }
}

/** udx has no handshake or accept: each transfer's stream is created on the parent's request. */
function udxStream(cmd: Extract<PeerCommand, { cmd: "udx-peer" }>): void {
  if (!udx) throw new Error("udx-peer before listen");
  const stream = udx.udx.createStream(cmd.localId);
  const sink = new Sink();
  stream.on("data", (d: Buffer) => sink.data(d));
  stream.on("end", () => {
    sink.end({ mtu: stream.mtu });
    stream.end();
  });
  stream.on("error", fail);
  stream.connect(udx.socket, cmd.remoteId, cmd.port, "127.0.0.1");
  send({ type: "udx-connected" });
}

process.on("message", (cmd: PeerCommand) => {
  try {
    if (cmd.cmd === "listen") listen(cmd).catch(fail);
    else if (cmd.cmd === "udx-peer") udxStream(cmd);
  } catch (err) {
    fail(err);
  }
});

// The parent disconnects once the run is over.
process.on("disconnect", () => {
  for (const c of closers) c();
  setTimeout(() => process.exit(0), 200).unref();
});
