/**
 * Defaults and option plumbing shared by `connect()` and `Server`.
 */

import { resolveConfig, type TransportConfig } from "../core/config.js";
import { NodeRuntime } from "../runtime/node-runtime.js";

/** Default kernel socket buffer: large enough to avoid drops at full speed (PERFORMANCE-NOTES). */
export const DEFAULT_UDP_BUFFER = 4 * 1024 * 1024;

let sharedRuntime: NodeRuntime | undefined;
/** The process-wide node runtime. */
export function nodeRuntime(): NodeRuntime {
  sharedRuntime ??= new NodeRuntime();
  return sharedRuntime;
}

/**
 * The default `maxProbePacketSize` for a socket talking over `address`.
 * Node cannot set the don't-fragment bit, so beyond the first hop's MTU a
 * path MTU probe "succeeds" through IP fragmentation, and the fragmented
 * datagrams that follow are lost whenever any fragment is (measured across
 * a real 1%-loss link: 3.7% of the link instead of 85%). So discovery stops at
 * the Ethernet payload (1472 bytes over IPv4, 1452 over IPv6), except on
 * loopback, which carries 64 KB datagrams whole. Undefined keeps the core's default.
 */
export function defaultProbeSize(address: string): number | undefined {
  const a = address.toLowerCase();
  if (a === "::1" || a.startsWith("127.") || a.startsWith("::ffff:127.") || a === "localhost") return undefined;
  return a.includes(":") ? 1452 : 1472;
}

/** Splits transport options from the rest. */
export function transportOptions(options: object): Partial<TransportConfig> & { profile?: string } {
  const keys = [...Object.keys(resolveConfig({})), "profile"] as (keyof TransportConfig)[];
  const out: Partial<TransportConfig> & { profile?: string } = {};
  for (const k of keys) {
    const v = (options as Record<string, unknown>)[k];
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}
