/**
 * The native UDP datapath (native/udp_batch.c, Linux): a `UdpHandle` that
 * reads with recvmmsg/GRO and writes with sendmmsg/GSO. Received datagrams
 * arrive a batch per JS call; sends are queued by `send()` and leave in one
 * call per driver flush. `nativeUdpBinding()` is undefined when the addon was
 * not built (see scripts/build-native.mjs), and the runtime uses node:dgram.
 */

import { createRequire } from "node:module";
import { constants as osConstants } from "node:os";
import { fileURLToPath } from "node:url";
import { getSystemErrorName } from "node:util";
import type { Address } from "../core/address.js";
import type { NativeAead } from "./native-aead.js";
import type { BindOptions, UdpHandle } from "./runtime.js";

type NativeSocket = { readonly __nativeUdpSocket: unique symbol };
type HostPort = [host: string, port: number];

/** The addon's functions (negative numbers are `-errno`). */
export interface NativeUdpBinding extends NativeAead {
  readonly META_ENTRIES: number;
  readonly META_STRIDE: number;
  open(
    family: 4 | 6,
    ipv6Only: boolean,
    recvBufferSize: number,
    sendBufferSize: number,
    meta: Int32Array,
    onBatch: (data: Buffer, entries: number) => void,
    onWritable: () => void,
    onError: (errno: number, syscall: string) => void,
    offloads: boolean,
  ): NativeSocket | number;
  bind(socket: NativeSocket, host: string, port: number): number;
  connect(socket: NativeSocket, host: string, port: number): number;
  localAddress(socket: NativeSocket): HostPort | number;
  formatAddress(meta: Int32Array, entry: number): HostPort;
  bufferSizes(socket: NativeSocket): [receive: number, send: number] | number;
  start(socket: NativeSocket): number;
  send(
    socket: NativeSocket,
    datagrams: Uint8Array[],
    count: number,
    hosts: string[] | null,
    ports: Int32Array | null,
    status: Int32Array,
  ): number;
  close(socket: NativeSocket): void;
  ref(socket: NativeSocket, on: boolean): void;
  offloads(socket: NativeSocket): [gso: number, gro: number];
  setGso(socket: NativeSocket, on: boolean): void;
  /** CRC-32 (zlib's polynomial) of data[start, end). */
  crc32(data: Uint8Array, start: number, end: number): number;
  /** "pclmul" or "table". */
  crc32Kind(): string;
}

const ADDON_PATH = fileURLToPath(new URL("../../native/build/Release/udp_batch.node", import.meta.url));
let binding: NativeUdpBinding | null | undefined;
let loadError: string | undefined;

/** The addon, or undefined when it is not built for this platform. */
export function nativeUdpBinding(): NativeUdpBinding | undefined {
  if (binding === undefined) {
    binding = null;
    try {
      binding = createRequire(import.meta.url)(ADDON_PATH) as NativeUdpBinding;
    } catch (err) {
      loadError = (err as Error).message;
    }
  }
  return binding ?? undefined;
}

/** Why the addon could not be loaded (undefined when it loaded or was not tried). */
export function nativeUdpLoadError(): string | undefined {
  return loadError;
}

/** A node-style system error (`code`, `errno`, `syscall`, and `address`/`port` when given). */
export function systemError(errno: number, syscall: string, address?: string, port?: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  const where = address === undefined ? "" : port === undefined ? ` ${address}` : ` ${address}:${port}`;
  const err: NodeJS.ErrnoException & { address?: string; port?: number } = new Error(`${syscall} ${code}${where}`);
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}

const SEND_QUEUE_FLUSH = 1024;
const NOTHING = new Uint8Array(0);
/** Native sends report their last error here: [errno, datagrams dropped]. */
const sendStatus = new Int32Array(2);
/** Sources of the batch being delivered; one table serves every socket (batches are delivered one at a time). */
let sharedMeta: Int32Array | undefined;

/**
 * Binds a native UDP socket; throws a node-style error (EADDRINUSE, …) as node:dgram would report it.
 * `offloads` false keeps UDP GSO and GRO off (for comparisons; GRO cannot change once the socket is open).
 */
export function bindNativeUdp(native: NativeUdpBinding, o: BindOptions, family: 4 | 6, offloads = true): UdpHandle {
  sharedMeta ??= new Int32Array(native.META_ENTRIES * native.META_STRIDE);
  return new NativeUdpHandle(native, sharedMeta, o, family, offloads);
}

const ECONNREFUSED = -osConstants.errno.ECONNREFUSED;

class NativeUdpHandle implements UdpHandle {
  readonly local: Address & { family: "IPv4" | "IPv6" };
  readonly peer: Address | undefined;
  onMessage: (data: Uint8Array, from: Address) => void = () => {};
  onError: (err: Error & { code?: string }) => void = () => {};
  readonly #native: NativeUdpBinding;
  readonly #socket: NativeSocket;
  readonly #meta: Int32Array;
  readonly #stride: number;
  #queue: Uint8Array[] = [];
  #hosts: string[] = [];
  #ports = new Int32Array(SEND_QUEUE_FLUSH);
  #queued = 0;
  #blocked = false;
  #closed = false;
  #sendErrors = 0;
  /** The last source seen, reused while datagrams keep coming from it (one object per peer, not per datagram). */
  #source: Address | undefined;
  #sourcePort = -1;
  #sourceWords = new Int32Array(5);

  constructor(native: NativeUdpBinding, meta: Int32Array, o: BindOptions, family: 4 | 6, offloads: boolean) {
    this.#native = native;
    this.#meta = meta;
    this.#stride = native.META_STRIDE;
    const socket = native.open(
      family,
      o.ipv6Only ?? false,
      o.recvBufferSize ?? 0,
      o.sendBufferSize ?? 0,
      meta,
      (data, entries) => this.#onBatch(data, entries),
      () => this.#onWritable(),
      (errno, syscall) => this.#onNativeError(errno, syscall),
      offloads,
    );
    if (typeof socket === "number") throw systemError(socket, "socket");
    this.#socket = socket;
    const fail = (errno: number, syscall: string, host: string, port: number): never => {
      native.close(socket);
      throw systemError(errno, syscall, host, port);
    };
    const bound = native.bind(socket, o.host, o.port);
    if (bound < 0) fail(bound, "bind", o.host, o.port);
    if (o.connectTo) {
      const connected = native.connect(socket, o.connectTo.address, o.connectTo.port);
      if (connected < 0) fail(connected, "connect", o.connectTo.address, o.connectTo.port);
      this.peer = { address: o.connectTo.address, port: o.connectTo.port };
    }
    const local = native.localAddress(socket);
    if (typeof local === "number") fail(local, "getsockname", o.host, o.port);
    const [address, port] = local as HostPort;
    this.local = { address, port, family: family === 6 ? "IPv6" : "IPv4" };
    const started = native.start(socket);
    if (started < 0) fail(started, "poll", o.host, o.port);
  }

  get receiveBufferBytes(): number {
    if (this.#closed) return 0;
    const sizes = this.#native.bufferSizes(this.#socket);
    return typeof sizes === "number" ? 0 : sizes[0];
  }

  /** Which kernel offloads the socket uses. */
  get offloads(): { gso: boolean; gro: boolean } {
    const [gso, gro] = this.#native.offloads(this.#socket);
    return { gso: gso === 1, gro: gro === 1 };
  }

  /** Turns UDP GSO off or back on for the following sends, for comparisons. */
  setGso(on: boolean): void {
    if (!this.#closed) this.#native.setGso(this.#socket, on);
  }

  /** Datagrams dropped because the kernel refused them (as node:dgram without a callback, they raise no error). */
  get sendErrors(): number {
    return this.#sendErrors;
  }

  send(data: Uint8Array, to: Address): void {
    if (this.#closed) return;
    const n = this.#queued;
    this.#queue[n] = data;
    if (!this.peer) {
      if (n === this.#ports.length) {
        const grown = new Int32Array(n * 2);
        grown.set(this.#ports);
        this.#ports = grown;
      }
      this.#hosts[n] = to.address;
      this.#ports[n] = to.port;
    }
    this.#queued = n + 1;
    if (this.#queued >= SEND_QUEUE_FLUSH && this.#queued % SEND_QUEUE_FLUSH === 0) this.flush();
  }

  flush(): boolean {
    const n = this.#queued;
    if (this.#closed || n === 0) return true;
    if (this.#blocked) return false;
    const addressed = this.peer === undefined;
    const sent = this.#native.send(
      this.#socket,
      this.#queue,
      n,
      addressed ? this.#hosts : null,
      addressed ? this.#ports : null,
      sendStatus,
    );
    if (sendStatus[0] !== 0) {
      this.#sendErrors += sendStatus[1];
      // ECONNREFUSED on a connected socket is the peer's port unreachable, which the driver acts on.
      if (-sendStatus[0] === ECONNREFUSED) {
        const err = systemError(ECONNREFUSED, "send");
        process.nextTick(() => this.#reportError(err));
      }
    }
    if (sent >= n) {
      // Keep the array (no reallocation per flush) but not the datagrams: they pin the driver's send slabs.
      this.#queue.fill(NOTHING, 0, n);
      this.#queued = 0;
      return true;
    }
    // The kernel's send buffer is full: keep the rest until the socket is writable again.
    this.#blocked = true;
    this.#queue.splice(0, sent);
    if (addressed) {
      this.#hosts.splice(0, sent);
      this.#ports.copyWithin(0, sent, n);
    }
    this.#queued = n - sent;
    return false;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#hosts.length = 0;
    this.#queued = 0;
    this.#native.close(this.#socket);
  }
  ref(): void {
    if (!this.#closed) this.#native.ref(this.#socket, true);
  }
  unref(): void {
    if (!this.#closed) this.#native.ref(this.#socket, false);
  }

  #onBatch(data: Buffer, entries: number): void {
    const meta = this.#meta;
    const stride = this.#stride;
    for (let i = 0, at = 0; i < entries && !this.#closed; i++, at += stride) {
      const from = this.#sourceOf(meta, at, i);
      const start = meta[at];
      this.onMessage(data.subarray(start, start + meta[at + 1]), from);
    }
  }

  #sourceOf(meta: Int32Array, at: number, entry: number): Address {
    const w = this.#sourceWords;
    if (
      this.#source &&
      meta[at + 2] === this.#sourcePort &&
      meta[at + 4] === w[1] &&
      meta[at + 3] === w[0] &&
      (w[0] === 4 || (meta[at + 5] === w[2] && meta[at + 6] === w[3] && meta[at + 7] === w[4]))
    ) {
      return this.#source;
    }
    const [address, port] = this.#native.formatAddress(meta, entry);
    this.#source = { address, port };
    this.#sourcePort = port;
    w[0] = meta[at + 3];
    w[1] = meta[at + 4];
    w[2] = meta[at + 5];
    w[3] = meta[at + 6];
    w[4] = meta[at + 7];
    return this.#source;
  }

  #onWritable(): void {
    this.#blocked = false;
    this.flush();
  }

  #onNativeError(errno: number, syscall: string): void {
    this.#reportError(systemError(errno, syscall));
  }

  #reportError(err: Error): void {
    if (!this.#closed) this.onError(err);
  }
}
