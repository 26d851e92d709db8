/**
 * Exponential backoff with jitter, shared by handler retries and the poller.
 */

/** Backoff settings. */
export interface BackoffOptions {
  /** Delay after the first failure, ms. */
  readonly baseMs: number;
  /** Upper bound of the delay, ms. */
  readonly maxMs: number;
  /** Random spread as a share of the delay (0.2 → ±20 %), so retries of many items do not align. */
  readonly jitter: number;
}

/** The delay before try `attempt + 1` after `attempt` failures (attempt ≥ 1). */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exact = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  const spread = exact * options.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(exact + spread));
}
