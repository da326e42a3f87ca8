/**
 * Stateless address-validation tokens (as QUIC Retry, RFC 9000 §8.1.2): the
 * endpoint answers a SYN with a token instead of creating state; a client that
 * echoes it in a new SYN proves it receives at its address. A token is
 * [u32 issue time in seconds][8-byte SipHash-2-4 MAC over time, client cid and
 * client address] under a key only the endpoint knows.
 */

import { type Address, addressKey } from "./address.js";
import type { Rng } from "./rng.js";
import { siphash24 } from "./siphash.js";
import { type Duration, type Instant, SECOND } from "./time.js";

/** Bytes of a token. */
export const TOKEN_SIZE = 12;

/** Mints and checks tokens under a random key. */
export class AddressTokens {
  readonly #key = new Uint8Array(16);
  readonly #lifetime: Duration;

  constructor(rng: Rng, lifetime: Duration) {
    const view = new DataView(this.#key.buffer);
    for (let i = 0; i < 16; i += 4) view.setUint32(i, rng.nextU32());
    this.#lifetime = lifetime;
  }

  /** A token for a client at `from` whose SYN carried source cid `cid`. */
  mint(now: Instant, from: Address, cid: number): Uint8Array {
    const token = new Uint8Array(TOKEN_SIZE);
    const issued = Math.floor(now / SECOND) >>> 0;
    new DataView(token.buffer).setUint32(0, issued);
    token.set(this.#mac(issued, from, cid), 4);
    return token;
  }

  /** "valid", "expired" or "forged" for a token presented by `from` with source cid `cid`. */
  check(now: Instant, token: Uint8Array, from: Address, cid: number): "valid" | "expired" | "forged" {
    if (token.length !== TOKEN_SIZE) return "forged";
    const issued = new DataView(token.buffer, token.byteOffset, token.byteLength).getUint32(0);
    const mac = this.#mac(issued, from, cid);
    let diff = 0;
    for (let i = 0; i < 8; i++) diff |= mac[i] ^ token[4 + i];
    if (diff !== 0) return "forged";
    const age = (((Math.floor(now / SECOND) >>> 0) - issued) | 0) * SECOND;
    return age < 0 || age > this.#lifetime ? "expired" : "valid";
  }

  #mac(issued: number, from: Address, cid: number): Uint8Array {
    const key = addressKey(from);
    const input = new Uint8Array(8 + key.length);
    const view = new DataView(input.buffer);
    view.setUint32(0, issued);
    view.setUint32(4, cid >>> 0);
    for (let i = 0; i < key.length; i++) input[8 + i] = key.charCodeAt(i) & 0xff;
    return siphash24(this.#key, input);
  }
}
