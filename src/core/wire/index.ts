/** The wire layer: datagram codec, CRC-32 and sequence arithmetic. */

export { type Checksum, crc32 } from "./crc32.js";
export * from "./packet.js";
export { seqCompare, unwrapSeq, wrapSeq } from "./seq.js";
