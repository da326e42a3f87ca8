/**
 * Randomness for the core. The core never calls `Math.random`: drivers pass an
 * `Rng`. Production drivers back it with `crypto.randomFillSync`; tests and the
 * simulator use the seeded `SeededRng` so every run can be replayed.
 */

/** A source of random 32-bit integers. */
export interface Rng {
  /** A uniformly distributed integer in [0, 2^32). */
  nextU32(): number;
}

/**
 * xoshiro128** (Blackman & Vigna): fast, small state, good statistical quality.
 * Deterministic for a given seed; not cryptographically secure.
 */
export class SeededRng implements Rng {
  #s0: number;
  #s1: number;
  #s2: number;
  #s3: number;

  constructor(seed: number) {
    // SplitMix32-style expansion so nearby seeds give unrelated streams.
    let x = seed >>> 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.#s0 = next();
    this.#s1 = next();
    this.#s2 = next();
    this.#s3 = next();
    if ((this.#s0 | this.#s1 | this.#s2 | this.#s3) === 0) this.#s0 = 1;
  }

  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.#s1, 5), 7), 9) >>> 0;
    const t = this.#s1 << 9;
    this.#s2 ^= this.#s0;
    this.#s3 ^= this.#s1;
    this.#s1 ^= this.#s2;
    this.#s0 ^= this.#s3;
    this.#s2 ^= t;
    this.#s3 = rotl(this.#s3, 11);
    return result;
  }

  /** A float uniformly distributed in [0, 1). */
  nextFloat(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer uniformly distributed in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.nextFloat() * n);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A random 32-bit value that is never zero (zero means "none" on the wire). */
export function nonZeroU32(rng: Rng): number {
  for (;;) {
    const v = rng.nextU32();
    if (v !== 0) return v;
  }
}
