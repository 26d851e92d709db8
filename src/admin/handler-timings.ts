/**
 * What the runtime measures per handler run for the admin server: how long the run took and
 * how long the update had waited since it arrived; only when the admin server is configured.
 *
 * @module
 */
import { LightHistogram } from "./light-histogram.js";

/** Bucket bounds of `unlost_handler_duration_seconds`, ms: 1 ms to 5 min (the default handler timeout). */
export const HANDLER_DURATION_BOUNDS_MS: readonly number[] = [1, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000];

/**
 * Bucket bounds of `unlost_update_lag_seconds`, ms: 10 ms (a live bot) to a day (the backlog
 * after a long downtime).
 */
export const UPDATE_LAG_BOUNDS_MS: readonly number[] = [10, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000];

/**
 * Handler durations and update lags of a runtime, in ms of the runtime's clock. A run's start
 * is the time the runtime already read for the catch-up decision, so a run costs one more
 * clock read and two observations: ~80 ns in all on the shared benchmark VM (the clock read
 * ~50 of it; prom-client's `Histogram.observe` ×2 instead: ~480 ns), i.e. ~0.5 % of one core
 * at 63 000 updates/s (bench/admin-timings.mjs). The price is millisecond resolution: a sub-millisecond run counts
 * as 0 or 1 ms, which leaves the mean unbiased and the buckets (from 1 ms) right.
 */
export class HandlerTimings {
  /** Every handler run's duration, successful or not (catch-up steps before it included). */
  readonly duration = new LightHistogram(HANDLER_DURATION_BOUNDS_MS);
  /** Arrival (stored in the inbox) → handler finished, for runs that succeeded. */
  readonly lag = new LightHistogram(UPDATE_LAG_BOUNDS_MS);

  /**
   * A run that started at `startedAt` ended at `now` (both ms epoch, the runtime's clock).
   * `receivedAt`, when the update arrived, is given only for a run that succeeded.
   */
  ended(startedAt: number, now: number, receivedAt?: number): void {
    // A clock set back (NTP, a test's clock) must not record a negative time.
    this.duration.observe(Math.max(0, now - startedAt));
    if (receivedAt !== undefined) this.lag.observe(Math.max(0, now - receivedAt));
  }
}
