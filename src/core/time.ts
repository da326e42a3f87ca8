/**
 * Time in the core is a plain number of microseconds on a monotonic clock
 * chosen by the driver (virtual in the simulator, `performance.now()` in Node).
 * The core never reads a clock: every input carries `now`.
 */

/** A point in time, in microseconds since an arbitrary epoch chosen by the driver. */
export type Instant = number;
/** A span of time in microseconds. */
export type Duration = number;

/** Microseconds in one millisecond. */
export const MS = 1000;
/** Microseconds in one second. */
export const SECOND = 1_000_000;

/** Sentinel for "no deadline". */
export const NEVER: Instant = Number.POSITIVE_INFINITY;
