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
