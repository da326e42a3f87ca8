/**
 * The maximum of samples taken over the last N round trips (BBR's BtlBw and
 * extra_acked filters). Samples of one round are merged into their maximum,
 * so it keeps at most N entries and allocates once per round, not per ACK.
 */
export class RoundMax {
  readonly #rounds: number;
  #entries: { round: number; value: number }[] = [];
  #max = 0;

  /** A filter over the last `rounds` round trips. */
  constructor(rounds: number) {
    this.#rounds = rounds;
  }

  /** The maximum of the samples in the window (0 before any). */
  get value(): number {
    return this.#max;
  }

  /** Adds `value`, sampled in round `round` (rounds never go backwards), and returns the new maximum. */
  update(round: number, value: number): number {
    const entries = this.#entries;
    const last = entries[entries.length - 1];
    if (last && last.round === round) last.value = Math.max(last.value, value);
    else entries.push({ round, value });
    while (entries.length > 0 && entries[0].round <= round - this.#rounds) entries.shift();
    let max = 0;
    for (const e of entries) if (e.value > max) max = e.value;
    this.#max = max;
    return max;
  }
}
