/**
 * `rudp bench --serve VARIANT`, the receiving process of the loopback runs (`rudp bench` starts it):
 * listens on 127.0.0.1, counts and checksums every transfer into a null sink, and prints JSON lines
 * (ServeReport) on stdout: "ready" with its port, then "done" per transfer with its own CPU time.
 * Exits when its stdin closes.
 */

import { createServer } from "../api/server.js";
import { blastReceive, creditWindow, openBlastSocket } from "./bench-blast.js";
import { crc32 } from "./bench-data.js";
import type { LoopbackVariant, ServeReport } from "./bench-variants.js";
import { describeError } from "./command.js";

function report(r: ServeReport): void {
  process.stdout.write(`${JSON.stringify(r)}\n`);
}

/** One transfer: byte count, CRC-32, and the CPU this process spent from the transfer's start. */
class Sink {
  #bytes = 0;
  #crc = 0;
  #checksumMs = 0;
  readonly #cpu = process.cpuUsage();

  data(chunk: Uint8Array): void {
    const t = performance.now();
    this.#crc = crc32(chunk, this.#crc);
    this.#checksumMs += performance.now() - t;
    this.#bytes += chunk.length;
  }

  end(lost?: number): void {
    const cpu = process.cpuUsage(this.#cpu);
    const checksumSeconds = this.#checksumMs / 1000;
    report({
      type: "done",
      bytes: this.#bytes,
      crc: this.#crc,
      cpuSeconds: (cpu.user + cpu.system) / 1e6 - checksumSeconds,
      checksumSeconds,
      ...(lost === undefined ? {} : { lost }),
    });
  }
}

/** Serves `variant` until stdin closes (or stdout does); resolves with the exit code. */
export async function serveBench(variant: LoopbackVariant): Promise<number> {
  const parentGone = new Promise<void>((resolve) => {
    process.stdin.on("end", resolve).on("close", resolve).on("error", resolve).resume();
    process.stdout.on("error", resolve);
  });
  const fail = (err: unknown): void => report({ type: "error", message: describeError(err) });
  if (variant.kind === "dgram") {
    const size = variant.datagramSize ?? 1200;
    const socket = await openBlastSocket();
    const stop = blastReceive(socket, size, () => new Sink());
    socket.on("error", fail);
    report({ type: "ready", port: socket.address().port, window: creditWindow(socket, size) });
    await parentGone;
    stop();
    socket.close();
    return 0;
  }
  const server = createServer({ ...variant.options }, (socket) => {
    const sink = new Sink();
    socket.on("data", (d: Buffer) => sink.data(d));
    socket.on("end", () => sink.end());
    socket.on("error", fail);
  });
  server.on("error", fail);
  const listening = new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  await Promise.race([listening, parentGone]);
  const port = server.address()?.port;
  if (port !== undefined) report({ type: "ready", port });
  await parentGone;
  server.close();
  return 0;
}
