/**
 * Handshake extensions: the type-length-value area of SYN and SYN-ACK
 * (u8 type, u16 length, value). Unknown types are skipped, so later versions
 * can add cookies and key exchange without breaking older peers.
 */

/** Extension types. */
export const ExtType = {
  /** u32: the largest message the sender accepts. */
  MAX_MESSAGE_SIZE: 1,
} as const;

/** Encodes the extensions this version sends. */
export function writeHandshakeExtensions(o: { maxMessageSize: number }): Uint8Array {
  const out = new Uint8Array(7);
  const view = new DataView(out.buffer);
  out[0] = ExtType.MAX_MESSAGE_SIZE;
  view.setUint16(1, 4);
  view.setUint32(3, Math.min(o.maxMessageSize, 0xffffffff));
  return out;
}

/** The peer's maximum message size, if its extensions carry one (malformed extensions are ignored). */
export function readMaxMessageSize(ext: Uint8Array): number | undefined {
  const view = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
  let off = 0;
  while (off + 3 <= ext.length) {
    const type = ext[off];
    const len = view.getUint16(off + 1);
    if (off + 3 + len > ext.length) return undefined;
    if (type === ExtType.MAX_MESSAGE_SIZE && len === 4) return view.getUint32(off + 3);
    off += 3 + len;
  }
  return undefined;
}
