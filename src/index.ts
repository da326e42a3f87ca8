/**
 * rudp: reliable, connection-oriented transport over UDP for Node.js, with a
 * node:net-shaped API (`createServer`, `connect`, `Socket` as a Duplex),
 * message framing on the same connection, and the sans-IO core underneath.
 */

export { type ConnectOptions, connect, createConnection } from "./api/connect.js";
export type { EncryptionConfig, KeyInput } from "./api/encryption.js";
export { AbortError, RudpSocketError } from "./api/errors.js";
export { createServer, type ListenOptions, Server, type ServerOptions } from "./api/server.js";
export { Socket, type SocketOptions } from "./api/socket.js";
export * from "./core/index.js";
export { EndpointDriver } from "./driver/endpoint-driver.js";
export { formatKeyFile, KeyFileError, parseKeyFile, parsePublicKey } from "./runtime/key-file.js";
export { decodeKey, encodeKey, generateKeyPair, nodeCryptoProvider } from "./runtime/node-crypto.js";
export { NodeRuntime } from "./runtime/node-runtime.js";
export type { BindOptions, Runtime, Timer, UdpHandle } from "./runtime/runtime.js";
