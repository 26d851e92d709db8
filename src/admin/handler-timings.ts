/**
 * What the runtime measures per handler run for the admin server: how long the run took and
 * how long the update had waited since it arrived. Two clock reads and two cheap observations
 * per update, only when the admin server is configured.
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

/** Handler durations and update lags of a runtime, in ms. */
export class HandlerTimings {
  /** Every handler run's duration, successful or not. */
  readonly duration = new LightHistogram(HANDLER_DURATION_BOUNDS_MS);
  /** Arrival (stored in the inbox) → handler finished, for runs that succeeded. */
  readonly lag = new LightHistogram(UPDATE_LAG_BOUNDS_MS);

  /**
   * A run ended. `startedAt` is `performance.now()` at its start; `receivedAt` and `now` are
   * the runtime's clock (ms epoch), given only for a run that succeeded.
   */
  ended(startedAt: number, receivedAt?: number, now?: number): void {
    this.duration.observe(performance.now() - startedAt);
    // A clock set back (NTP, a test's clock) must not record a negative lag.
    if (receivedAt !== undefined && now !== undefined) this.lag.observe(Math.max(0, now - receivedAt));
  }
}
