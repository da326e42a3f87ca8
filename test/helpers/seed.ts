/**
 * Replayable randomness for tests: pick the seed from RUDP_SEED when set, and
 * make failures name the seed that produced them.
 */

import { normalizeSeed, resolveSeed } from "../../src/sim/seed.js";

/** `RUDP_SEED` from the environment when set, else `fallback`. */
export function seedFor(fallback: number): number {
  return resolveSeed(process.env.RUDP_SEED, fallback);
}

/** Runs `fn` (sync or async) and rethrows any failure with the message prefixed `[seed=N] replay with RUDP_SEED=N`. */
export function reportSeedOnFailure<T>(seed: number, fn: () => T): T {
  try {
    const result = fn();
    if (result instanceof Promise) {
      return result.catch((err: unknown) => {
        throw tagWithSeed(err, seed);
      }) as T;
    }
    return result;
  } catch (err) {
    throw tagWithSeed(err, seed);
  }
}

/**
 * A test body for `test(name, withSeed(fallback, (seed, t) => ...))`: resolves
 * the seed, passes the test context through, and reports the seed on failure.
 */
export function withSeed<A extends unknown[], T>(
  fallback: number,
  fn: (seed: number, ...args: A) => T,
): (...args: A) => T {
  return (...args: A) => {
    const seed = seedFor(fallback);
    return reportSeedOnFailure(seed, () => fn(seed, ...args));
  };
}

function tagWithSeed(err: unknown, seed: number): unknown {
  const s = normalizeSeed(seed);
  const prefix = `[seed=${s}] replay with RUDP_SEED=${s}`;
  if (err instanceof Error) {
    if (err.message.startsWith("[seed=")) return err;
    const old = err.message;
    err.message = old === "" ? prefix : `${prefix}: ${old}`;
    if (err.stack !== undefined && old !== "") err.stack = err.stack.replace(old, err.message);
    return err;
  }
  return new Error(`${prefix}: ${String(err)}`, { cause: err });
}
