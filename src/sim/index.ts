/**
 * Deterministic network simulator: a virtual clock, seeded impairments and
 * in-memory hosts, for driving sans-IO protocol endpoints reproducibly.
 */

export { EndpointNode } from "./endpoint-node.js";
export { EventHeap } from "./heap.js";
export type { BurstLoss, DatagramFate, LinkConfig, LinkPartition, LinkSink, LinkStats } from "./link.js";
export {
  addLinkStats,
  DEFAULT_LINK_CONFIG,
  DEFAULT_QUEUE_BYTES,
  emptyLinkStats,
  Link,
  resolveLinkConfig,
} from "./link.js";
export type { DatagramEvent, LinkStatsEntry, NetworkStats, RunOptions, SimNetworkOptions } from "./network.js";
export { MAX_TIMEOUTS_PER_INSTANT, MAX_TRANSMITS_PER_DRAIN, SimNetwork } from "./network.js";
export type { DatagramNode, Transmit } from "./node.js";
export { deriveSeed, describeSeed, normalizeSeed, resolveSeed } from "./seed.js";
