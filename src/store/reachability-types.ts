/**
 * Whether a store's server can be reached: the port through which a remote backend
 * (PostgreSQL) tells the runtime that its server went away and came back, so that the runtime
 * says so once per outage instead of once per failed operation. A local backend (SQLite, a
 * file) has no server to lose and offers none.
 *
 * @module
 */
import type { UnlostError } from "../errors/index.js";
import type { EpochMs } from "./inbox-types.js";

/** A change of reachability, as reported to {@link StoreReachability.subscribe} listeners. */
export type ReachabilityChange =
  /** The first operation that could not reach the server (connect refused or timed out, connection lost). */
  | { readonly reachable: false; readonly since: EpochMs; readonly error: UnlostError }
  /** The first operation that succeeded after an outage. */
  | {
      readonly reachable: true;
      readonly at: EpochMs;
      /** How long the outage lasted (first failure to first success), ms. */
      readonly downForMs: number;
      /** Operations that failed because of it (the first included). */
      readonly failedOperations: number;
    };

/** The reachability of a store's server. */
export interface StoreReachability {
  /** False from an operation that could not reach the server until the next one that succeeded. */
  readonly reachable: boolean;
  /**
   * Calls `listener` (synchronously, before the failing operation's error reaches its caller)
   * on each change. Returns the function that unsubscribes.
   */
  subscribe(listener: (change: ReachabilityChange) => void): () => void;
}
