/**
 * Handshake extensions: the type-length-value area of SYN and SYN-ACK
 * (u8 type, u16 length, value). Unknown types are skipped, so later versions
 * can add key exchange without breaking older peers.
 */

/** Extension types. */
export const ExtType = {
  /** u32: the largest message the sender accepts. */
  MAX_MESSAGE_SIZE: 1,
  /** The address-validation token from the server's RETRY, echoed in the client's next SYN. */
  TOKEN: 2,
  /** A key-exchange message: the client's first (SYN) or the server's reply (SYN-ACK), §12. */
  NOISE: 3,
  /** Empty: the sender reassembles segments resent in fragments (flag FRAG, §4.10), so they may be sent to it. */
  FRAGMENTS: 4,
} as const;

/** What a SYN or SYN-ACK may carry in its extensions. */
export interface HandshakeExtensions {
  maxMessageSize?: number;
  token?: Uint8Array;
  noise?: Uint8Array;
  fragments?: boolean;
}

/** Encodes handshake extensions. */
export function writeHandshakeExtensions(o: HandshakeExtensions): Uint8Array {
  const size =
    (o.maxMessageSize !== undefined ? 7 : 0) +
    (o.token ? 3 + o.token.length : 0) +
    (o.noise ? 3 + o.noise.length : 0) +
    (o.fragments ? 3 : 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let off = 0;
  if (o.maxMessageSize !== undefined) {
    out[off] = ExtType.MAX_MESSAGE_SIZE;
    view.setUint16(off + 1, 4);
    view.setUint32(off + 3, Math.min(o.maxMessageSize, 0xffffffff));
    off += 7;
  }
  if (o.token) {
    out[off] = ExtType.TOKEN;
    view.setUint16(off + 1, o.token.length);
    out.set(o.token, off + 3);
    off += 3 + o.token.length;
  }
  if (o.noise) {
    out[off] = ExtType.NOISE;
    view.setUint16(off + 1, o.noise.length);
    out.set(o.noise, off + 3);
    off += 3 + o.noise.length;
  }
  if (o.fragments) out[off] = ExtType.FRAGMENTS; // and a zero length
  return out;
}

/** Decodes the extensions this version understands; malformed or unknown entries are ignored. */
export function readHandshakeExtensions(ext: Uint8Array): HandshakeExtensions {
  const view = new DataView(ext.buffer, ext.byteOffset, ext.byteLength);
  const out: HandshakeExtensions = {};
  let off = 0;
  while (off + 3 <= ext.length) {
    const type = ext[off];
    const len = view.getUint16(off + 1);
    if (off + 3 + len > ext.length) break;
    if (type === ExtType.MAX_MESSAGE_SIZE && len === 4) out.maxMessageSize = view.getUint32(off + 3);
    else if (type === ExtType.TOKEN && len > 0) out.token = ext.subarray(off + 3, off + 3 + len);
    else if (type === ExtType.NOISE && len > 0) out.noise = ext.subarray(off + 3, off + 3 + len);
    else if (type === ExtType.FRAGMENTS && len === 0) out.fragments = true;
    off += 3 + len;
  }
  return out;
}
