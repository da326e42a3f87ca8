/** The wire layer: datagram codec, CRC-32C and sequence arithmetic. */

export { crc32c } from "./crc32c.js";
export * from "./packet.js";
export { seqCompare, unwrapSeq, wrapSeq } from "./seq.js";
