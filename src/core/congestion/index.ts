/**
 * The registry of congestion controllers, chosen per connection by name.
 */

import { Bbr } from "./bbr.js";
import type { ControllerFactory } from "./controller.js";
import { Cubic } from "./cubic.js";
import { NewReno } from "./new-reno.js";
import { Uncontrolled } from "./uncontrolled.js";

export { Bbr } from "./bbr.js";
export type { AckSample, CongestionController, ControllerFactory } from "./controller.js";
export { Cubic } from "./cubic.js";
export { NewReno } from "./new-reno.js";

/** Controllers by name. */
export const CONTROLLERS: Readonly<Record<string, ControllerFactory>> = Object.freeze({
  newreno: (size, iw) => new NewReno(size, iw),
  cubic: (size, iw) => new Cubic(size, iw),
  bbr: (size, iw) => new Bbr(size, iw),
  "unsafe-uncontrolled": () => new Uncontrolled(),
});

/** Names accepted by the `congestionControl` option. */
export const CONTROLLER_NAMES: readonly string[] = Object.freeze(Object.keys(CONTROLLERS));
