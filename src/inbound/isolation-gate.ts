/**
 * The isolation gate: lets a process run a few handlers with nothing else of its own running.
 *
 * Why: when a process dies, every update it was running is taken over, and nothing tells the
 * update that killed it (a *poison* update: a native crash, `process.exit`, memory exhaustion,
 * a `kill` of its own) from the ones that merely ran beside it, or from an unrelated `kill -9`.
 * Counting every take-over against every update in flight parks healthy updates in a crash loop.
 * So an update taken over from a process that died is a *suspect*, and its next run is
 * isolated: the row dispatcher {@link IsolationGate.hold holds} the gate (no dispatcher starts an
 * ordinary handler), waits until the ordinary handlers running have ended, runs the suspects
 * (in groups that halve each time a group's process dies, down to one alone), then releases it.
 * A process that dies while one update runs alone is evidence against that update
 * (`InboxStore.isolate`, `ClaimedUpdate.isolatedDeaths`).
 *
 * Both dispatchers of a process share one gate: the journal's handlers and the rows' handlers
 * run in the same process. The hot path is a counter and a flag check per handler run.
 *
 * @module
 */

/** Shared by the dispatchers of one process; see the module comment. */
export class IsolationGate {
  private ordinary = 0;
  private holds = 0;
  private readonly listeners = new Set<() => void>();

  /** True while a holder keeps ordinary handlers from starting. */
  get held(): boolean {
    return this.holds > 0;
  }

  /** Ordinary (not isolated) handler runs in progress. */
  get running(): number {
    return this.ordinary;
  }

  /** An ordinary handler run starts; the caller checked {@link held} first. */
  began(): void {
    this.ordinary++;
  }

  /**
   * An ordinary handler run ended (or passed its deadline: JavaScript cannot stop it, and a
   * handler that never returns must not keep the suspects from running for ever).
   */
  ended(): void {
    if (--this.ordinary === 0 && this.holds > 0) this.notify();
  }

  /** From now on no ordinary handler starts, until {@link release}. */
  hold(): void {
    this.holds++;
  }

  /** Ends a {@link hold}: the dispatchers start what waited. */
  release(): void {
    if (this.holds === 0) return;
    this.holds--;
    if (this.holds === 0) this.notify();
  }

  /**
   * Calls `listener` when the gate opens, and when the last ordinary run ends while it is held.
   * Returns the unsubscribe function.
   */
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}
