/**
 * Per-connection statistics, kept as plain counters by the connection and
 * copied out on request.
 */

/** A snapshot of one connection's counters and estimates. Times are microseconds. */
export interface ConnectionStats {
  state: string;
  /** Datagrams and their bytes (headers included) sent and received. */
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Application payload bytes sent (first transmissions) and delivered in order. */
  payloadBytesSent: number;
  payloadBytesReceived: number;
  /** Data segments sent for the first time. */
  segmentsSent: number;
  /** Retransmissions, by cause. */
  retransmits: number;
  timeoutRetransmits: number;
  fastRetransmits: number;
  tailLossProbes: number;
  /** Retransmissions found unnecessary: acknowledged sooner than a round trip after being re-sent, so the original arrived. */
  spuriousRetransmits: number;
  /** Retransmission timeouts that fired. */
  rtoCount: number;
  /** Congestion events (recovery episodes entered). */
  congestionEvents: number;
  /** Data segments dropped because the endpoint's limit on buffered receive bytes (maxBufferedBytes) was reached. */
  bufferLimitDrops: number;
  /** Packets an encrypted connection dropped for arriving unsealed (outside its handshake). */
  unauthenticatedDrops: number;
  /** "none", or the Noise pattern of an encrypted connection ("NNpsk0", "NK", "IK"; §12). */
  encryption: string;
  /** Encrypted connections (§12): sealed packets that failed authentication, replays dropped, and key updates. */
  authFailures: number;
  replays: number;
  keyUpdates: number;
  /** Segments that arrived again after being received. */
  duplicateSegments: number;
  /** Segments dropped for lying outside the receive window. */
  outOfWindowDrops: number;
  /** Datagrams dropped for a checksum mismatch, or for a decoding error or a wrong source cid. */
  corruptDrops: number;
  malformedDrops: number;
  /** ACKs ignored for acknowledging data never sent. */
  invalidAcks: number;
  /** Handshake replies held back by the 3× anti-amplification limit (unvalidated address). */
  amplificationBlocked: number;
  /** Path challenges sent after packets came from a new address, and validated moves to a new address. */
  pathChallenges: number;
  migrations: number;
  /** Path MTU probes sent. */
  pmtuProbes: number;
  /** Fragments sent of segments cut for a larger path MTU than the path carries now, and fragments received (§4.10). */
  fragmentsSent: number;
  fragmentsReceived: number;
  /** Extra copies of resends sent while no new data waited (`tailResendCopies`), also counted in `retransmits`. */
  resendCopies: number;
  /** RTT estimates and the current RTO. */
  srtt: number;
  rttvar: number;
  minRtt: number;
  latestRtt: number;
  rto: number;
  /** Congestion window, slow-start threshold and bytes in flight. */
  cwnd: number;
  ssthresh: number;
  bytesInFlight: number;
  /** The controller's pacing rate in bytes/s (0 when it does not pace). */
  pacingRate: number;
  /** The window the peer last advertised and the one we advertise. */
  peerWindow: number;
  localWindow: number;
  /** Bytes queued by the application and not yet acknowledged. */
  sendBuffered: number;
  /** Bytes delivered and not yet read by the application. */
  receiveBuffered: number;
  /** Payload bytes per data packet, and the datagram size in use (raised by path MTU discovery). */
  mss: number;
  packetSize: number;
  congestionControl: string;
}

/** The counters a connection increments. */
export type Counters = Omit<
  ConnectionStats,
  | "state"
  | "srtt"
  | "rttvar"
  | "minRtt"
  | "latestRtt"
  | "rto"
  | "cwnd"
  | "ssthresh"
  | "pacingRate"
  | "bytesInFlight"
  | "peerWindow"
  | "localWindow"
  | "sendBuffered"
  | "receiveBuffered"
  | "mss"
  | "packetSize"
  | "congestionControl"
  | "encryption"
  | "authFailures"
  | "replays"
  | "keyUpdates"
>;

/** Fresh zeroed counters. */
export function newCounters(): Counters {
  return {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    payloadBytesSent: 0,
    payloadBytesReceived: 0,
    segmentsSent: 0,
    retransmits: 0,
    timeoutRetransmits: 0,
    fastRetransmits: 0,
    tailLossProbes: 0,
    spuriousRetransmits: 0,
    bufferLimitDrops: 0,
    unauthenticatedDrops: 0,
    rtoCount: 0,
    congestionEvents: 0,
    duplicateSegments: 0,
    outOfWindowDrops: 0,
    corruptDrops: 0,
    malformedDrops: 0,
    invalidAcks: 0,
    amplificationBlocked: 0,
    pathChallenges: 0,
    migrations: 0,
    pmtuProbes: 0,
    fragmentsSent: 0,
    fragmentsReceived: 0,
    resendCopies: 0,
  };
}
