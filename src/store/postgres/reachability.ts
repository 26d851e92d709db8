/**
 * Tracks whether the PostgreSQL server can be reached, from the outcome of the store's own
 * transactions (no probe of its own: an idle store costs the server nothing). A transaction
 * that could not connect, or whose connection was lost (its ROLLBACK failed too), starts an
 * outage; the next one that commits ends it. Listeners hear each change once.
 *
 * @module
 */
import type { UnlostError } from "../../errors/index.js";
import type { EpochMs } from "../inbox-types.js";
import type { ReachabilityChange, StoreReachability } from "../reachability-types.js";

/** {@link StoreReachability} of one pool. */
export class PgReachability implements StoreReachability {
  private down: { since: EpochMs; failures: number } | undefined;
  private readonly listeners = new Set<(change: ReachabilityChange) => void>();

  /** {@inheritDoc StoreReachability.reachable} */
  get reachable(): boolean {
    return this.down === undefined;
  }

  /** {@inheritDoc StoreReachability.subscribe} */
  subscribe(listener: (change: ReachabilityChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A transaction committed (or a read ended): an outage, if any, is over. */
  succeeded(now: EpochMs): void {
    const down = this.down;
    if (down === undefined) return;
    this.down = undefined;
    this.emit({ reachable: true, at: now, downForMs: Math.max(0, now - down.since), failedOperations: down.failures });
  }

  /** A transaction could not reach the server; `error` is what its caller gets. */
  failed(error: UnlostError, now: EpochMs): void {
    if (this.down !== undefined) {
      this.down.failures++;
      return;
    }
    this.down = { since: now, failures: 1 };
    this.emit({ reachable: false, since: now, error });
  }

  private emit(change: ReachabilityChange): void {
    // A listener's failure must not turn into the store operation's failure.
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        /* the listener's own problem */
      }
    }
  }
}
