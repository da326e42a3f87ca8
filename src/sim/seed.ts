/**
 * Seeds for reproducible simulations: parsing a replay seed handed in by the
 * environment, printing it, and deriving independent sub-seeds. Seeds are
 * unsigned 32-bit integers. Pure functions: no environment access here, so
 * the simulator runs unchanged in browsers.
 */

/**
 * The seed to use: `envValue` (decimal, negative decimal or `0x` hex) when it
 * is set and non-blank, else `fallback`. Throws on a malformed value rather
 * than silently ignoring it.
 */
export function resolveSeed(envValue: string | undefined, fallback: number): number {
  const text = envValue?.trim() ?? "";
  if (text === "") return normalizeSeed(fallback);
  if (!/^(-?\d+|0x[0-9a-f]+)$/i.test(text)) {
    throw new RangeError(`seed must be an integer, got ${JSON.stringify(envValue)}`);
  }
  return normalizeSeed(Number(text));
}

/** `seed` reduced to the unsigned 32-bit value the generators actually use. */
export function normalizeSeed(seed: number): number {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be a safe integer, got ${seed}`);
  return Number(BigInt.asUintN(32, BigInt(seed)));
}

/** A human-readable line that tells how to replay a run. */
export function describeSeed(seed: number): string {
  const s = normalizeSeed(seed);
  return `seed=${s} (replay with RUDP_SEED=${s})`;
}

/**
 * A seed for an independent random stream named `label` under `seed`.
 * Different labels give unrelated streams; the result depends only on the
 * two inputs.
 */
export function deriveSeed(seed: number, label: string): number {
  let h = 0x811c9dc5 ^ normalizeSeed(seed);
  h = Math.imul(h, 0x01000193);
  for (let i = 0; i < label.length; i++) {
    h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  }
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
