/**
 * Anti-replay sliding window over packet numbers (RFC 6479, as IPsec and
 * WireGuard use it). With `size` W and highest accepted number T, a number n
 * is acceptable when n > T, or when T - W < n ≤ T and n has not been accepted
 * before. The bitmap is a ring of 32-bit blocks with one spare block, so
 * advancing the window only clears whole blocks.
 *
 * Call `check` before decrypting and `accept` only once the AEAD has
 * verified the packet, so forged packets never move the window.
 */

/** Default window: packets up to 1024 numbers behind the highest accepted one are still taken. */
export const DEFAULT_REPLAY_WINDOW = 1024;

/** Largest packet number the window (and a JS number) can track exactly. */
export const MAX_REPLAY_PACKET_NUMBER = Number.MAX_SAFE_INTEGER;

/** A sliding bitmap of recently accepted packet numbers. */
export class ReplayWindow {
  /** How many packet numbers, counting back from the highest accepted, are tracked. */
  readonly size: number;
  readonly #bits: Uint32Array;
  readonly #blocks: number;
  #top = -1;

  constructor(size = DEFAULT_REPLAY_WINDOW) {
    if (!Number.isInteger(size) || size < 32 || size > 1 << 20 || size % 32 !== 0) {
      throw new RangeError("replay window size must be a multiple of 32 in [32, 2^20]");
    }
    this.size = size;
    this.#blocks = size / 32 + 1;
    this.#bits = new Uint32Array(this.#blocks);
  }

  /** The highest accepted packet number, or -1 before the first. */
  get highest(): number {
    return this.#top;
  }

  /** Whether `pn` would be accepted: new, or inside the window and not seen yet. */
  check(pn: number): boolean {
    if (!Number.isSafeInteger(pn) || pn < 0) return false;
    if (pn > this.#top) return true;
    if (this.#top - pn >= this.size) return false;
    return (this.#bits[Math.floor(pn / 32) % this.#blocks] & (1 << (pn & 31))) === 0;
  }

  /** Marks `pn` as received; false (and no change) if `check(pn)` would fail. */
  accept(pn: number): boolean {
    if (!this.check(pn)) return false;
    const block = Math.floor(pn / 32);
    if (pn > this.#top) {
      const topBlock = this.#top < 0 ? -1 : Math.floor(this.#top / 32);
      for (let b = Math.max(topBlock + 1, block - this.#blocks + 1); b <= block; b++) this.#bits[b % this.#blocks] = 0;
      this.#top = pn;
    }
    this.#bits[block % this.#blocks] |= 1 << (pn & 31);
    return true;
  }
}
