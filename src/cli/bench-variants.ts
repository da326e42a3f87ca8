/** What `rudp bench` runs on loopback, and the lines its receiver process (`rudp bench --serve`) prints. */

import type { TransportConfig } from "../core/config.js";

/** One loopback run: rudp with some transport options, or the node:dgram blast at a datagram size. */
export interface LoopbackVariant {
  id: "rudp" | "rudp-1200" | "dgram-1200";
  label: string;
  kind: "rudp" | "dgram";
  /** rudp: transport options of both ends. */
  options?: Partial<TransportConfig>;
  /** dgram: bytes per datagram (UDP payload, its 8-byte header included). */
  datagramSize?: number;
}

/** The loopback runs, in the order they run and are reported. */
export const LOOPBACK_VARIANTS: readonly LoopbackVariant[] = [
  { id: "rudp", label: "rudp, defaults (path MTU discovery)", kind: "rudp", options: {} },
  {
    id: "rudp-1200",
    label: "rudp, 1200 B datagrams (PMTUD off)",
    kind: "rudp",
    options: { maxPacketSize: 1200, maxProbePacketSize: 0 },
  },
  { id: "dgram-1200", label: "node:dgram credit blast, 1200 B", kind: "dgram", datagramSize: 1200 },
];

/** The variant named `id` (for `--serve`); a RangeError names the choices. */
export function parseVariant(id: string): LoopbackVariant {
  const v = LOOPBACK_VARIANTS.find((x) => x.id === id);
  if (!v) throw new RangeError(`unknown variant "${id}" (choose ${LOOPBACK_VARIANTS.map((x) => x.id).join(", ")})`);
  return v;
}

/** One JSON line on the receiver's stdout. */
export type ServeReport =
  /** Listening; for the blast, the credit window the sender starts with. */
  | { type: "ready"; port: number; window?: number }
  | { type: "error"; message: string }
  | {
      type: "done";
      bytes: number;
      crc: number;
      /** CPU seconds (user + system) of the receiving process during the transfer, checksum excluded. */
      cpuSeconds: number;
      checksumSeconds: number;
      /** Blast: datagrams that never arrived. */
      lost?: number;
    };
