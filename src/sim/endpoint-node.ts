/**
 * Attaches a core `Endpoint` to the simulator: forwards datagrams and timers
 * and hands every endpoint event to a callback right after the input that
 * caused it, so simulated applications react in virtual time.
 */

import type { Address } from "../core/address.js";
import type { Endpoint, EndpointEvent, Transmit } from "../core/endpoint.js";
import type { Instant } from "../core/time.js";
import type { DatagramNode } from "./node.js";

/** An endpoint as a simulator node. */
export class EndpointNode implements DatagramNode {
  readonly endpoint: Endpoint;
  /** Called for each endpoint event, in order. */
  onEvent: (event: EndpointEvent) => void;

  constructor(endpoint: Endpoint, onEvent: (event: EndpointEvent) => void = () => {}) {
    this.endpoint = endpoint;
    this.onEvent = onEvent;
  }

  handleDatagram(now: Instant, from: Address, data: Uint8Array): void {
    this.endpoint.handleDatagram(now, from, data);
    this.#drain();
  }
  handleTimeout(now: Instant): void {
    this.endpoint.handleTimeout(now);
    this.#drain();
  }
  pollTransmit(now: Instant): Transmit | undefined {
    const t = this.endpoint.pollTransmit(now);
    this.#drain();
    return t;
  }
  pollTimeout(): Instant | undefined {
    return this.endpoint.pollTimeout();
  }

  #drain(): void {
    for (let ev = this.endpoint.pollEvent(); ev; ev = this.endpoint.pollEvent()) this.onEvent(ev);
  }
}
