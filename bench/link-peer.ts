/**
 * Stand-alone peer of the real-link benchmarks (bench/netem.ts, bench/proxy.ts), run as its own process
 * (inside a network namespace for netem). It prints JSON lines on stdout.
 *
 *   recv --proto rudp|udx|tcp --host H [--port P] [--packet-size N]
 *     ready {port}; then progress {bytes, seconds} every 500 ms from the first byte (seconds: elapsed since
 *     it); then done {bytes, seconds} where seconds runs from the first to the last byte received.
 *     udx: the stream connects back to whoever sends to it first (the sender, or the proxy's upstream socket).
 *   send --proto rudp|udx --host H --port P --bytes N [--cc NAME] [--packet-size N]
 *     done {bytes, seconds, ...sender statistics} once the receiver has everything; rudp also prints
 *     stats on SIGTERM. Kernel TCP is sent by the netem tool's tcpxfer.py, which sets the congestion control.
 *
 * rudp is the built API (../dist, like the CLI the other transports run), not the CLI, so that the datagram
 * size can be pinned: --packet-size fixes maxPacketSize and turns path MTU discovery off. It is loaded only
 * for rudp, so udx and TCP do not depend on the build.
 */

import net from "node:net";
import type { Socket } from "../src/index.js";
import { loadUdx, type Udx, type UdxSocket, type UdxStream } from "./udx.js";

type Api = typeof import("../src/index.js");

/** The built rudp API (dist/index.js). */
async function rudpApi(): Promise<Api> {
  const url = new URL("../dist/index.js", import.meta.url).href; // through a variable: types come from src
  return (await import(url)) as Api;
}

/** udx stream ids: the receiver's and the sender's. */
const RECV_ID = 1;
const SEND_ID = 2;
/** Kernel buffers of the udx sockets (rudp's default). */
const SOCKET_BUFFER = 4 * 1024 * 1024;
const PROGRESS_MS = 500;
const WRITE_SIZE = 64 * 1024;

const out = (m: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(m)}\n`);

function option(args: string[], name: string, fallback?: string): string {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? args[i + 1] : fallback;
  if (v === undefined) throw new Error(`--${name} is required`);
  return v;
}

/** maxPacketSize, plus maxProbePacketSize (path MTU discovery off) when the API has it, from --packet-size. */
function packetSize(api: Api, args: string[]): Record<string, number> {
  const v = option(args, "packet-size", "");
  if (v === "") return {};
  const size = Number(v);
  return "maxProbePacketSize" in api.DEFAULT_CONFIG
    ? { maxPacketSize: size, maxProbePacketSize: size }
    : { maxPacketSize: size };
}

/** Counts what arrives and reports progress. */
class Meter {
  bytes = 0;
  #first = 0;
  #last = 0;
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  data(n: number): void {
    const now = performance.now();
    if (this.bytes === 0) {
      this.#first = now;
      this.#timer = setInterval(
        () => out({ type: "progress", bytes: this.bytes, seconds: (performance.now() - this.#first) / 1000 }),
        PROGRESS_MS,
      );
    }
    this.#last = now;
    this.bytes += n;
  }

  done(extra: Record<string, unknown> = {}): void {
    if (this.#done) return;
    this.#done = true;
    clearInterval(this.#timer);
    out({ type: "done", bytes: this.bytes, seconds: (this.#last - this.#first) / 1000, ...extra });
  }
}

const fail = (err: Error) => {
  out({ type: "error", message: err.message });
  process.exit(1);
};

/** Writes `total` bytes with backpressure, then ends the stream. */
function pump(
  stream: { write(c: Buffer): boolean; end(): void; once(e: "drain", f: () => void): unknown },
  total: number,
) {
  const chunk = Buffer.alloc(WRITE_SIZE, 0x5a);
  let sent = 0;
  const more = () => {
    while (sent < total) {
      const n = Math.min(chunk.length, total - sent);
      sent += n;
      if (!stream.write(chunk.subarray(0, n))) {
        stream.once("drain", more);
        return;
      }
    }
    stream.end();
  };
  more();
}

function rudpStats(socket: Socket): Record<string, unknown> {
  try {
    const s = socket.stats();
    return {
      segments: s.segmentsSent,
      retransmits: s.retransmits,
      rtoCount: s.rtoCount,
      packetSize: s.packetSize,
      mss: s.mss,
      congestionControl: s.congestionControl,
    };
  } catch {
    return {};
  }
}

async function udxSocket(host: string, port: number): Promise<{ udx: Udx; socket: UdxSocket }> {
  const UDX = await loadUdx();
  if (!UDX) throw new Error("udx-native not installed");
  const udx = new UDX();
  const socket = udx.createSocket();
  socket.bind(port, host);
  socket.setRecvBufferSize(SOCKET_BUFFER);
  socket.setSendBufferSize(SOCKET_BUFFER);
  return { udx, socket };
}

async function recv(args: string[]): Promise<void> {
  const proto = option(args, "proto");
  const host = option(args, "host");
  const port = Number(option(args, "port", "0"));
  const meter = new Meter();
  if (proto === "tcp") {
    const server = net.createServer((socket) => {
      server.close();
      socket.on("data", (d: Buffer) => meter.data(d.length));
      socket.on("end", () => {
        meter.done();
        socket.end();
      });
      socket.on("close", () => process.exit(0));
      socket.on("error", fail);
    });
    server.on("error", fail);
    server.listen(port, host, () => out({ type: "ready", port: (server.address() as net.AddressInfo).port }));
    return;
  }
  if (proto === "rudp") {
    const api = await rudpApi();
    const server = api.createServer(packetSize(api, args), (socket) => {
      server.close();
      socket.on("data", (d: Buffer) => meter.data(d.length));
      socket.on("end", () => {
        meter.done({ packetSize: rudpStats(socket).packetSize });
        socket.end();
      });
      socket.on("close", () => setTimeout(() => process.exit(0), 100));
      socket.on("error", fail);
    });
    server.on("error", fail);
    server.listen(port, host, () => out({ type: "ready", port: server.address()?.port ?? 0 }));
    return;
  }
  const { udx, socket } = await udxSocket(host, port);
  let stream: UdxStream | undefined;
  let connected = false;
  const firewall = (s: UdxSocket, p: number, h: string) => {
    if (stream && !connected) {
      connected = true;
      stream.connect(s, SEND_ID, p, h);
    }
    return false;
  };
  stream = (udx.createStream as (id: number, o: object) => UdxStream)(RECV_ID, { firewall });
  const st = stream;
  st.on("data", (d: Buffer) => meter.data(d.length));
  st.on("end", () => {
    meter.done({ mtu: st.mtu });
    st.end();
  });
  st.on("close", () => void socket.close().finally(() => process.exit(0)));
  st.on("error", fail);
  out({ type: "ready", port: socket.address().port });
}

async function send(args: string[]): Promise<void> {
  const proto = option(args, "proto");
  const host = option(args, "host");
  const port = Number(option(args, "port"));
  const total = Number(option(args, "bytes"));
  if (proto === "rudp") {
    const cc = option(args, "cc", "");
    const api = await rudpApi();
    const socket = api.connect({ port, host, ...packetSize(api, args), ...(cc ? { congestionControl: cc } : {}) });
    socket.on("error", fail);
    socket.resume();
    process.on("SIGTERM", () => {
      out({ type: "stats", ...rudpStats(socket) });
      process.exit(1);
    });
    socket.once("connect", () => {
      const started = performance.now();
      socket.once("end", () => {
        out({ type: "done", bytes: total, seconds: (performance.now() - started) / 1000, ...rudpStats(socket) });
        socket.end();
        setTimeout(() => process.exit(0), 300);
      });
      pump(socket, total);
    });
    return;
  }
  const { udx, socket } = await udxSocket("0.0.0.0", 0);
  const stream = udx.createStream(SEND_ID);
  stream.on("error", fail);
  stream.on("data", () => {});
  stream.connect(socket, RECV_ID, port, host);
  const started = performance.now();
  stream.once("close", () => {
    out({ type: "done", bytes: total, seconds: (performance.now() - started) / 1000, mtu: stream.mtu });
    void socket.close().finally(() => process.exit(0));
  });
  pump(stream, total);
}

const [mode, ...rest] = process.argv.slice(2);
(mode === "recv"
  ? recv(rest)
  : mode === "send"
    ? send(rest)
    : Promise.reject(new Error(`unknown mode "${mode}"`))
).catch(fail);
