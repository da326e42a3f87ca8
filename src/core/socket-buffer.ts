/**
 * How much data a UDP socket's receive buffer holds. Kernels charge each
 * queued datagram its allocation ("truesize"), not its length: on Linux a
 * 1200-byte datagram costs 2304 bytes of buffer and an 8 KiB one 16.6 KB
 * (measured on loopback). A receive window larger than what the socket can
 * hold lets a sender overrun a busy receiver's socket, where datagrams are
 * lost without a trace; the window is capped to what fits instead.
 */

/** Share of the socket buffer the advertised window may fill (the rest absorbs other traffic on the socket). */
const WINDOW_SHARE = 0.75;
/** Per-datagram bookkeeping added to the data's allocation (Linux: sk_buff and skb_shared_info). */
const DATAGRAM_EXTRA = 256;
/** Headroom and headers allocated with the data before rounding to a power of two. */
const DATAGRAM_HEADROOM = 320;

/** Receive-buffer bytes a datagram of `size` bytes costs while queued (a model of Linux's truesize). */
export function datagramBufferCost(size: number): number {
  return 2 ** Math.ceil(Math.log2(size + DATAGRAM_HEADROOM)) + DATAGRAM_EXTRA;
}

/**
 * The most payload bytes a window may allow in flight so that datagrams of
 * `datagramSize` bytes, each carrying `payloadSize`, fit a socket buffer of `bufferBytes`.
 */
export function socketBufferWindow(bufferBytes: number, datagramSize: number, payloadSize: number): number {
  const datagrams = Math.floor((bufferBytes * WINDOW_SHARE) / datagramBufferCost(datagramSize));
  return Math.max(1, datagrams) * payloadSize;
}
