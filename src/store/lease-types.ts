/**
 * Named leases: "only one process does X" (the poller) with a fencing epoch, so a process
 * that lost its lease while paused can be refused when it wakes up and tries to write.
 *
 * @module
 */
import type { EpochMs } from "./inbox-types.js";

/** Identifies one holding of a lease; passed to writes that must be fenced. */
export interface LeaseFence {
  /** The lease's name. */
  readonly name: string;
  /** The holder. */
  readonly owner: string;
  /** The epoch returned by `acquire`. */
  readonly epoch: number;
}

/** The answer of {@link LeaseStore.acquire} and {@link LeaseStore.renew}. */
export type LeaseGrant =
  /** The caller holds the lease until `expiresAt`. */
  | {
      readonly held: true;
      /** The fencing token: increases every time the lease changes hands (never reused). */
      readonly epoch: number;
      /** When the lease lapses unless renewed (ms epoch). */
      readonly expiresAt: EpochMs;
    }
  /** Someone else holds it (or, for renew, the caller lost it). */
  | {
      readonly held: false;
      /** The current holder, when there is one. */
      readonly holder: string | null;
      /** When the current holding lapses (ms epoch), when there is one. */
      readonly expiresAt: EpochMs | null;
    };

/** The current state of a lease, for logs ("another instance, X, is polling"). */
export interface LeaseInfo {
  /** The lease's name. */
  readonly name: string;
  /** The last holder. */
  readonly owner: string;
  /** The last epoch granted. */
  readonly epoch: number;
  /** When the holding lapses; in the past (or 0 after release) when nobody holds it. */
  readonly expiresAt: EpochMs;
}

/** Lease operations. Each call is one atomic transaction. */
export interface LeaseStore {
  /**
   * Takes the lease for `ttlMs` when nobody holds it or the holding expired (a new epoch), or
   * renews it when `owner` already holds it (same epoch). Refused while another owner holds it.
   */
  acquire(name: string, owner: string, ttlMs: number, options?: { readonly now?: EpochMs }): Promise<LeaseGrant>;
  /**
   * Extends the caller's holding to `now + ttlMs`. Refused when the lease changed hands since
   * (different epoch); accepted after expiry as long as nobody took it meanwhile.
   */
  renew(fence: LeaseFence, ttlMs: number, options?: { readonly now?: EpochMs }): Promise<LeaseGrant>;
  /** Gives the lease up at once. Returns false when the caller no longer held it. */
  release(fence: LeaseFence): Promise<boolean>;
  /** The lease's current state, or null when it was never taken. */
  get(name: string): Promise<LeaseInfo | null>;
}
