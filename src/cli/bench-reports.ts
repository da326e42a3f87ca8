/** The reports a benchmark's receiving process sends back, queued until the sender asks for them by type. */

export class ReportQueue<R extends { type: string; message?: string }> {
  readonly #reports: R[] = [];
  #wake: (() => void) | undefined;
  #ended: string | undefined;

  /** A report arrived. */
  push(report: R): void {
    this.#reports.push(report);
    this.#wake?.();
  }

  /** No more reports will come (the process exited): `next` rejects with `reason` once it finds none. */
  end(reason: string): void {
    this.#ended = reason;
    this.#wake?.();
  }

  get ended(): boolean {
    return this.#ended !== undefined;
  }

  /** The next report of `type`; an "error" report, the end of the reports or `signal` rejects. */
  async next<T extends R["type"]>(type: T, signal: AbortSignal): Promise<Extract<R, { type: T }>> {
    for (;;) {
      const i = this.#reports.findIndex((r) => r.type === type || r.type === "error");
      if (i >= 0) {
        const r = this.#reports.splice(i, 1)[0];
        if (r.type === "error") throw new Error(`receiver: ${r.message}`);
        return r as Extract<R, { type: T }>;
      }
      if (this.#ended !== undefined) throw new Error(this.#ended);
      if (signal.aborted) throw new Error("timed out");
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        signal.addEventListener("abort", () => resolve(), { once: true });
      });
      this.#wake = undefined;
    }
  }
}
