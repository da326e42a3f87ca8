/** `ByteReader`: serves `read(n)` requests in order from a byte stream, as a blocking `recv(n)` would. */

import type { Readable } from "node:stream";
import { RudpSocketError } from "../api/errors.js";

interface ReadRequest {
  max: number;
  resolve: (chunk: Buffer) => void;
  reject: (err: Error) => void;
}

const EMPTY = Buffer.alloc(0);

/**
 * Reads a Readable (in paused mode, through 'readable' and `read()`) only while
 * a request waits, so an idle reader leaves data in the stream and backpressure
 * reaches the sender. Each request resolves with 1..n bytes, in the order the
 * requests were made; at end of stream with an empty Buffer (every time, like
 * `recv()` returning b''); after a stream error with that error; after the
 * stream closed without an end with ERR_SOCKET_CLOSED.
 */
export class ByteReader {
  readonly #stream: Readable;
  readonly #requests: ReadRequest[] = [];
  #leftover: Buffer | undefined;
  #ended = false;
  #closed = false;
  #error: Error | undefined;
  #discarding = false;

  constructor(stream: Readable) {
    this.#stream = stream;
    stream.on("readable", () => this.#drain());
    stream.on("end", () => {
      this.#ended = true;
      this.#drain();
    });
    stream.on("error", (err: Error) => {
      this.#error ??= err;
      this.#drain();
    });
    stream.on("close", () => {
      this.#closed = true;
      this.#drain();
    });
  }

  /** True once the end of the stream was read. */
  get ended(): boolean {
    return this.#ended;
  }

  /** Resolves with up to `max` bytes (at least one), or an empty Buffer at end of stream. */
  read(max: number): Promise<Buffer> {
    if (this.#discarding) return Promise.reject(closedError("read"));
    return new Promise((resolve, reject) => {
      this.#requests.push({ max, resolve, reject });
      this.#drain();
    });
  }

  /**
   * Stops serving reads: waiting requests fail with ERR_SOCKET_CLOSED and
   * everything the stream still delivers is read and dropped (so its end is
   * reached and the stream can close).
   */
  discard(): void {
    this.#discarding = true;
    this.#leftover = undefined;
    const err = closedError("read");
    for (const r of this.#requests.splice(0)) r.reject(err);
    this.#drain();
  }

  #drain(): void {
    const stream = this.#stream;
    if (this.#discarding) {
      while (stream.read() !== null);
      return;
    }
    const requests = this.#requests;
    while (requests.length > 0) {
      let chunk = this.#leftover;
      if (!chunk) {
        const next = stream.read() as Buffer | null;
        if (next === null) break;
        chunk = next;
      }
      const req = requests.shift() as ReadRequest;
      if (chunk.length <= req.max) {
        this.#leftover = undefined;
        req.resolve(chunk);
      } else {
        this.#leftover = chunk.subarray(req.max);
        req.resolve(chunk.subarray(0, req.max));
      }
    }
    if (requests.length === 0 || this.#leftover) return;
    if (this.#ended) for (const r of requests.splice(0)) r.resolve(EMPTY);
    else if (this.#error) for (const r of requests.splice(0)) r.reject(this.#error);
    else if (this.#closed) {
      const err = closedError("read");
      for (const r of requests.splice(0)) r.reject(err);
    }
  }
}

function closedError(syscall: string): RudpSocketError {
  return new RudpSocketError("ERR_SOCKET_CLOSED", "the socket is closed", syscall);
}
