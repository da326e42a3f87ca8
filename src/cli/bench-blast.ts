/**
 * The reference under `rudp bench`'s loopback runs: a one-way blast over node:dgram whose only control is
 * a credit window that keeps the receiver's kernel buffer from overflowing. No retransmission, no
 * congestion control, no acknowledgement beyond the credit: what it reaches is about the most any Node
 * transport built on node:dgram can move at that datagram size.
 *
 * Each datagram starts with its sequence number and the transfer's datagram count (u32 BE each). Every
 * few datagrams the receiver sends back a 4-byte grant, "send up to (not including) datagram N",
 * N = highest sequence received + 1 + window.
 */

import { createSocket, type Socket } from "node:dgram";

/** Bytes of the header in front of each datagram's payload. */
export const BLAST_HEADER = 8;
/** A datagram costs about its size plus this in the receive buffer (the kernel's per-packet overhead). */
const SKB_OVERHEAD = 1100;
const MAX_WINDOW = 2048;
/** Bytes sent per event-loop turn. */
const TURN_BYTES = 256 * 1024;
/** A transfer that received nothing for this long is over (with its losses). */
const IDLE_MS = 2000;

/** Kernel send and receive buffer of both blast sockets: rudp's default. */
export const BLAST_SOCKET_BUFFER = 4 * 1024 * 1024;

/** A UDP socket on 127.0.0.1 (ephemeral port) with BLAST_SOCKET_BUFFER-byte kernel buffers. */
export async function openBlastSocket(): Promise<Socket> {
  const socket = createSocket({
    type: "udp4",
    recvBufferSize: BLAST_SOCKET_BUFFER,
    sendBufferSize: BLAST_SOCKET_BUFFER,
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      socket.off("error", reject);
      resolve();
    });
  });
  return socket;
}

/** Datagrams of `datagramSize` bytes the receiving `socket` can hold: 3/4 of its buffer, as the kernel counts it. */
export function creditWindow(socket: Socket, datagramSize: number): number {
  const fit = Math.floor((socket.getRecvBufferSize() * 3) / 4 / (datagramSize + SKB_OVERHEAD));
  return Math.max(4, Math.min(MAX_WINDOW, fit));
}

/**
 * Sends `total` bytes from `chunks` over the connected `socket` in `datagramSize`-byte datagrams (header
 * included), a batch per event-loop turn, as far as the receiver's credit allows (`window` at the start).
 */
export function blastSend(
  socket: Socket,
  total: number,
  datagramSize: number,
  window: number,
  chunks: Iterator<Buffer>,
): void {
  const payloadSize = datagramSize - BLAST_HEADER;
  const count = Math.ceil(total / payloadSize);
  const perTurn = Math.max(1, Math.floor(TURN_BYTES / datagramSize));
  let chunk: Buffer = Buffer.alloc(0);
  let offset = 0;
  const fill = (dst: Buffer): void => {
    for (let at = BLAST_HEADER; at < dst.length; ) {
      if (offset === chunk.length) {
        const r = chunks.next();
        if (r.done) return;
        chunk = r.value;
        offset = 0;
      }
      const n = chunk.copy(dst, at, offset, Math.min(chunk.length, offset + dst.length - at));
      offset += n;
      at += n;
    }
  };
  let credit = window;
  let next = 0;
  let scheduled = false;
  const sendBatch = (): void => {
    scheduled = false;
    const end = Math.min(count, credit, next + perTurn);
    for (; next < end; next++) {
      const datagram = Buffer.allocUnsafe(BLAST_HEADER + Math.min(payloadSize, total - next * payloadSize));
      datagram.writeUInt32BE(next, 0);
      datagram.writeUInt32BE(count, 4);
      fill(datagram);
      socket.send(datagram);
    }
    if (next < Math.min(count, credit)) schedule();
  };
  const schedule = (): void => {
    scheduled = true;
    setImmediate(sendBatch);
  };
  socket.on("message", (msg: Buffer) => {
    if (msg.length !== 4) return;
    const grant = msg.readUInt32BE(0);
    if (grant <= credit) return;
    credit = grant;
    if (!scheduled && next < count) schedule();
  });
  schedule();
}

/** Where a blast receiver puts one transfer. */
export interface BlastSink {
  data(payload: Buffer): void;
  /** The transfer is over: its last datagram arrived, or nothing arrived for 2 s. */
  end(lost: number): void;
}

/** The transfer a blast receiver is in: its sender's port and how far it got. */
interface BlastTransfer {
  port: number;
  sink: BlastSink;
  received: number;
  /** `received` at the last idle check. */
  checked: number;
  count: number;
  highest: number;
  grantedAt: number;
}

/**
 * Receives blasts on `socket` (not connected), one transfer per sender port (`newSink` is called for
 * each), in arrival order, granting credit relative to the highest sequence number seen so that a loss
 * cannot stall the window. Returns a function that stops it.
 */
export function blastReceive(socket: Socket, datagramSize: number, newSink: () => BlastSink): () => void {
  const window = creditWindow(socket, datagramSize);
  const grantEvery = Math.max(1, Math.min(64, window >> 2));
  const finished = new Set<number>();
  let t: BlastTransfer | undefined;
  const finish = (): void => {
    if (!t) return;
    finished.add(t.port);
    t.sink.end(t.count - t.received);
    t = undefined;
  };
  socket.on("message", (msg: Buffer, rinfo) => {
    if (msg.length < BLAST_HEADER || finished.has(rinfo.port)) return;
    if (t?.port !== rinfo.port) {
      finish();
      t = { port: rinfo.port, sink: newSink(), received: 0, checked: 0, count: 0, highest: -1, grantedAt: -1 };
    }
    const seq = msg.readUInt32BE(0);
    t.count = msg.readUInt32BE(4);
    t.received++;
    t.sink.data(msg.subarray(BLAST_HEADER));
    if (seq > t.highest) t.highest = seq;
    if (seq === t.count - 1 || t.received === t.count) return finish();
    if (t.highest - t.grantedAt >= grantEvery) {
      t.grantedAt = t.highest;
      const grant = Buffer.allocUnsafe(4);
      grant.writeUInt32BE(t.highest + 1 + window, 0);
      socket.send(grant, rinfo.port, rinfo.address);
    }
  });
  const idleCheck = setInterval(() => {
    if (t && t.received === t.checked) finish();
    else if (t) t.checked = t.received;
  }, IDLE_MS);
  return () => clearInterval(idleCheck);
}
