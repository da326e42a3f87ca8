/**
 * `connect()` / `createConnection()`, shaped like node:net's: resolves the
 * host, binds a UDP socket connected to the peer (so ICMP "port unreachable"
 * refuses the connection at once), and opens an rudp connection on it.
 */

import type { TransportConfig } from "../core/config.js";
import type { EncryptionOptions } from "../core/crypto/session.js";
import { Endpoint, type EndpointOptions } from "../core/endpoint.js";
import { RudpArgumentError } from "../core/errors.js";
import { EndpointDriver } from "../driver/endpoint-driver.js";
import type { Runtime } from "../runtime/runtime.js";
import { DEFAULT_UDP_BUFFER, defaultProbeSize, nodeRuntime, transportOptions } from "./defaults.js";
import { type EncryptionConfig, encryptionOptions } from "./encryption.js";
import { AbortError, RudpSocketError, validatePort } from "./errors.js";
import { Socket, type SocketOptions } from "./socket.js";

/** Options of `connect()`. */
export interface ConnectOptions extends SocketOptions, Partial<TransportConfig> {
  port: number;
  /** Host name or address (default "localhost"). */
  host?: string;
  /** Local address and port to bind (default: any, ephemeral). */
  localAddress?: string;
  localPort?: number;
  /** Aborts the connect (the socket is destroyed with an AbortError). */
  signal?: AbortSignal;
  /** Milliseconds to wait for the handshake before failing with ETIMEDOUT (default 30,000; 0 waits for the SYN retries). */
  connectTimeout?: number;
  /** Sets socket.setTimeout(timeout) once connected (idle timeout, as node:net). */
  timeout?: number;
  /** Enables keepalive probes, as node:net. */
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  noDelay?: boolean;
  udpRecvBufferSize?: number;
  udpSendBufferSize?: number;
  /** Where time, timers and sockets come from (tests pass a simulated runtime). */
  runtime?: Runtime;
  /** Called for every datagram sent, received or dropped (for tracing tools). */
  onTrace?: EndpointOptions["onTrace"];
  /** Encrypts the connection (docs/SECURITY.md): a pre-shared key, or the server's public key to pin. */
  encryption?: EncryptionConfig;
}

/**
 * Opens a connection: `connect(port, host?, listener?)` or `connect(options, listener?)`.
 * Returns the Socket at once; 'connect' fires when the handshake completes.
 */
export function connect(...args: unknown[]): Socket {
  const listener = typeof args[args.length - 1] === "function" ? (args.pop() as () => void) : undefined;
  let options: ConnectOptions;
  if (typeof args[0] === "object" && args[0] !== null) options = args[0] as ConnectOptions;
  else options = { port: args[0] as number, host: args[1] as string | undefined };
  const port = validatePort(options.port);
  if (port === 0)
    throw new RudpArgumentError("ERR_SOCKET_BAD_PORT" as never, "Port should be > 0 and < 65536. Received 0.");
  const host = options.host ?? "localhost";
  if (typeof host !== "string")
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "host" option must be a string');
  if (options.localPort !== undefined) validatePort(options.localPort, "localPort");
  const encryption = options.encryption === undefined ? undefined : encryptionOptions(options.encryption, "client");

  const socket = new Socket(options);
  socket._setTarget({ address: host, port });
  if (listener) socket.once("connect", listener);
  const runtime = options.runtime ?? nodeRuntime();
  if (guardConnect(socket, runtime, options, host, port))
    open(socket, runtime, { ...options, encryption }, host, port).catch((err: Error) => socket.destroy(err));
  return socket;
}

/** Options that bound a connect attempt. */
export interface ConnectGuards {
  signal?: AbortSignal;
  connectTimeout?: number;
}

/**
 * Applies the AbortSignal and the connect timeout (default 30 s) to a socket
 * that is connecting. Returns false when the signal was already aborted.
 */
export function guardConnect(socket: Socket, runtime: Runtime, o: ConnectGuards, host: string, port: number): boolean {
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal))
    throw new RudpArgumentError("ERR_INVALID_ARG_TYPE", 'The "signal" option must be an AbortSignal');
  const signal = o.signal;
  if (signal?.aborted) {
    process.nextTick(() => socket.destroy(new AbortError(signal.reason)));
    return false;
  }
  const onAbort = () => socket.destroy(new AbortError(signal?.reason));
  signal?.addEventListener("abort", onAbort, { once: true });
  const timeoutMs = o.connectTimeout ?? 30_000;
  const timer =
    timeoutMs > 0
      ? runtime.createTimer(() => {
          if (socket.connecting && !socket.destroyed)
            socket.destroy(new RudpSocketError("ETIMEDOUT", "connect timed out", "connect", host, port));
        })
      : undefined;
  timer?.arm(runtime.now() + timeoutMs * 1000);
  const done = () => {
    timer?.cancel();
    signal?.removeEventListener("abort", onAbort);
  };
  socket.once("connect", done);
  socket.once("close", done);
  return true;
}

/** Alias of `connect`, as node:net. */
export const createConnection = connect;

async function open(
  socket: Socket,
  runtime: Runtime,
  o: Omit<ConnectOptions, "encryption"> & { encryption?: EncryptionOptions },
  host: string,
  port: number,
): Promise<void> {
  const { address, family } = await runtime.lookup(host);
  if (socket.destroyed) return;
  const remote = { address, port };
  const udp = await runtime.bindUdp({
    port: o.localPort ?? 0,
    host: o.localAddress ?? (family === "IPv6" ? "::" : "0.0.0.0"),
    recvBufferSize: o.udpRecvBufferSize ?? DEFAULT_UDP_BUFFER,
    sendBufferSize: o.udpSendBufferSize ?? DEFAULT_UDP_BUFFER,
    connectTo: remote,
  });
  if (socket.destroyed) {
    udp.close();
    return;
  }
  const endpoint = new Endpoint({
    maxProbePacketSize: defaultProbeSize(address),
    ...transportOptions(o),
    rng: runtime.rng,
    checksum: runtime.checksum,
    onTrace: o.onTrace,
    crypto: runtime.crypto,
  });
  const driver = new EndpointDriver(runtime, udp, endpoint);
  driver.onError = (err) => socket.destroy(err);
  const conn = driver.connect(remote, o.encryption ? { encryption: o.encryption } : {});
  socket._attach(driver, conn, false, true);
  if (o.timeout !== undefined) socket.setTimeout(o.timeout);
  if (o.keepAlive) socket.setKeepAlive(true, o.keepAliveInitialDelay);
}
