/** Optional udx-native: the few types the loopback benchmark uses, and a loader that returns undefined when the package is absent. */

/** A udx UDP socket. */
export interface UdxSocket {
  bind(port?: number, host?: string): void;
  address(): { host: string; family: number; port: number };
  close(): Promise<void>;
  /** Kernel buffer sizes (after bind). */
  setRecvBufferSize(size: number): number;
  setSendBufferSize(size: number): number;
}

/** A udx stream (a streamx Duplex). */
export interface UdxStream {
  /** Largest packet the stream sends. */
  readonly mtu: number;
  connect(socket: UdxSocket, remoteId: number, port: number, host?: string): void;
  write(chunk: Uint8Array): boolean;
  end(): void;
  destroy(err?: Error): void;
  on(event: "data", listener: (chunk: Buffer) => void): this;
  on(event: "error", listener: (err: Error) => void): this;
  on(event: "end" | "close" | "drain", listener: () => void): this;
  once(event: "end" | "close" | "drain", listener: () => void): this;
}

/** A udx instance. */
export interface Udx {
  createSocket(): UdxSocket;
  createStream(id: number): UdxStream;
}

/** The package's default export. */
export type UdxConstructor = new () => Udx;

/** udx-native's constructor, or undefined when the package (or its prebuild) is not available. */
export async function loadUdx(): Promise<UdxConstructor | undefined> {
  try {
    const name = "udx-native"; // through a variable: type-checking and bundling must not require the package
    const mod = (await import(name)) as { default: UdxConstructor };
    return mod.default;
  } catch {
    return undefined;
  }
}
