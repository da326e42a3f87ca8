/**
 * rudp/compat: thin, promise-based versions of classic reliable-UDP socket
 * APIs (a peer-to-peer message Streamer, a ReliableServer/ReliableSocket pair
 * and a TCP-style socket class) built on rudp's Server and Socket, so code
 * written against them ports directly.
 */

export { ByteReader } from "./byte-reader.js";
export { ClientConnection, type ReliableOptions, ReliableServer, ReliableSocket } from "./reliable.js";
export type { HostPort } from "./shared.js";
export { Streamer, type StreamerOptions } from "./streamer.js";
export { RudpSocket, TCPSocket, type TCPSocketOptions, tcpTransportOptions } from "./tcp-socket.js";
