/**
 * The loopback benchmark's reference: a one-way blast over node:dgram whose only control is a credit window
 * that keeps the receiver's kernel buffer from overflowing. No retransmission, no congestion control, no
 * acknowledgement beyond the credit: what is lost stays lost and is reported. What it reaches is an upper
 * bound for any Node transport built on node:dgram at the same datagram size.
 *
 * Each datagram starts with an 8-byte header: its sequence number and the transfer's datagram count (u32 BE
 * each). Every `grantEvery` datagrams the receiver sends back a 4-byte grant, "send up to (not including)
 * datagram N", N = highest sequence received + 1 + window; when done it sends FIN (0xffffffff) and the
 * sender closes its socket.
 */

import { createSocket, type Socket } from "node:dgram";

/** Bytes of the header in front of each datagram's payload. */
const BLAST_HEADER = 8;

/** The receiver's last message: the sender may close. */
const FIN = 0xffffffff;
/** A datagram costs ≈ its size + this in the receive buffer (skb truesize): 2.3 KB at 1200 B, 66 KB at 65000 B. */
const SKB_OVERHEAD = 1100;
/** Receive-buffer bytes the window may fill: 3/4 of the 8 MiB Linux gives a 4 MiB SO_RCVBUF (it doubles the value). */
const WINDOW_BYTES = 6 * 2 ** 20;
const MAX_WINDOW = 2048;
/** Bytes the sender sends per event-loop turn. */
const TURN_BYTES = 256 * 1024;
/** The receiver gives up once no datagram arrived during one of these periods. */
const IDLE_MS = 2000;

/** Datagrams a sender of `datagramSize`-byte datagrams may have beyond the highest the receiver has seen. */
export function creditWindow(datagramSize: number): number {
  return Math.max(4, Math.min(MAX_WINDOW, Math.floor(WINDOW_BYTES / (datagramSize + SKB_OVERHEAD))));
}

/** Datagrams between two grants. */
function grantInterval(window: number): number {
  return Math.max(1, Math.min(64, window >> 2));
}

/** A UDP socket on 127.0.0.1 (ephemeral port) with `bufferSize`-byte kernel send and receive buffers. */
export async function openBlastSocket(bufferSize: number): Promise<Socket> {
  const socket = createSocket({ type: "udp4", recvBufferSize: bufferSize, sendBufferSize: bufferSize });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      socket.off("error", reject);
      resolve();
    });
  });
  return socket;
}

/** Copies a stream of chunks into datagrams. */
class ChunkReader {
  #chunk: Buffer = Buffer.alloc(0);
  #offset = 0;

  constructor(readonly chunks: Iterator<Buffer>) {}

  /** Fills `dst` from `at` to its end (less if the chunks run out). */
  fill(dst: Buffer, at: number): void {
    while (at < dst.length) {
      if (this.#offset === this.#chunk.length) {
        const r = this.chunks.next();
        if (r.done) return;
        this.#chunk = r.value;
        this.#offset = 0;
      }
      const n = this.#chunk.copy(dst, at, this.#offset, Math.min(this.#chunk.length, this.#offset + dst.length - at));
      this.#offset += n;
      at += n;
    }
  }
}

/**
 * Sends `total` bytes taken from `chunks` over the connected `socket` in datagrams of `datagramSize` bytes
 * (header included), as fast as the receiver's credit allows: a batch per event-loop turn, no send callbacks.
 * Closes the socket when the receiver sends FIN; sends nothing more once credit stops coming.
 */
export function blastSend(socket: Socket, total: number, datagramSize: number, chunks: Iterator<Buffer>): void {
  const payloadSize = datagramSize - BLAST_HEADER;
  const count = Math.ceil(total / payloadSize);
  const perTurn = Math.max(1, Math.floor(TURN_BYTES / datagramSize));
  const reader = new ChunkReader(chunks);
  let credit = creditWindow(datagramSize);
  let next = 0;
  let scheduled = false;
  const sendBatch = () => {
    scheduled = false;
    const end = Math.min(count, credit, next + perTurn);
    for (; next < end; next++) {
      const datagram = Buffer.allocUnsafe(BLAST_HEADER + Math.min(payloadSize, total - next * payloadSize));
      datagram.writeUInt32BE(next, 0);
      datagram.writeUInt32BE(count, 4);
      reader.fill(datagram, BLAST_HEADER);
      socket.send(datagram);
    }
    if (next < Math.min(count, credit)) schedule();
  };
  const schedule = () => {
    scheduled = true;
    setImmediate(sendBatch);
  };
  socket.on("message", (msg: Buffer) => {
    if (msg.length !== 4) return;
    const grant = msg.readUInt32BE(0);
    if (grant === FIN) socket.close();
    else if (grant > credit) {
      credit = grant;
      if (!scheduled && next < count) schedule();
    }
  });
  schedule();
}

/** How a blast ended at the receiver. */
export interface BlastReport {
  datagrams: number;
  /** Datagrams of the transfer that never arrived (0 when none arrived at all: the count is unknown then). */
  lost: number;
}

/**
 * Receives one blast of `datagramSize`-byte datagrams on `socket` (connected to the sender): hands each
 * payload to `onPayload` in arrival order and grants credit relative to the highest sequence number seen,
 * so that a loss cannot stall the window. Done when the last datagram arrives or none arrived during a
 * 2-second check period; then sends FIN and calls `onDone`. Returns a function that stops it without reporting.
 */
export function blastReceive(
  socket: Socket,
  datagramSize: number,
  onPayload: (payload: Buffer) => void,
  onDone: (report: BlastReport) => void,
): () => void {
  const window = creditWindow(datagramSize);
  const grantEvery = grantInterval(window);
  let received = 0;
  let receivedAtLastCheck = 0;
  let count = 0;
  let highest = -1;
  let grantedAt = -1;
  const onMessage = (msg: Buffer) => {
    if (msg.length < BLAST_HEADER) return;
    const seq = msg.readUInt32BE(0);
    count = msg.readUInt32BE(4);
    received++;
    onPayload(msg.subarray(BLAST_HEADER));
    if (seq > highest) highest = seq;
    if (seq === count - 1) return finish();
    if (highest - grantedAt >= grantEvery) {
      grantedAt = highest;
      const grant = Buffer.allocUnsafe(4);
      grant.writeUInt32BE(highest + 1 + window, 0);
      socket.send(grant);
    }
  };
  const idleCheck = setInterval(() => {
    if (received === receivedAtLastCheck) finish();
    receivedAtLastCheck = received;
  }, IDLE_MS);
  const stop = () => {
    clearInterval(idleCheck);
    socket.off("message", onMessage);
  };
  const finish = () => {
    stop();
    const fin = Buffer.allocUnsafe(4);
    fin.writeUInt32BE(FIN, 0);
    socket.send(fin);
    onDone({ datagrams: received, lost: count - received });
  };
  socket.on("message", onMessage);
  return stop;
}
