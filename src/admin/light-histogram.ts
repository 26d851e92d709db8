/**
 * A histogram cheap enough for the path every update takes: `observe` is a short scan over a
 * typed array and three additions, no allocation, no label hashing. prom-client's own
 * `Histogram.observe` hashes its labels and allocates a closure per call; for a no-op handler
 * at ~60 000 updates/s that would be a measurable share of the time. The cumulative buckets
 * Prometheus wants are computed at scrape time instead.
 *
 * @module
 */

/** A snapshot of a {@link LightHistogram}, in the unit it was built with. */
export interface HistogramSnapshot {
  /** Upper bounds of the buckets, ascending (without +Inf). */
  readonly bounds: readonly number[];
  /** Observations ≤ each bound (cumulative), one per bound. */
  readonly cumulative: readonly number[];
  /** Observations in all (the +Inf bucket). */
  readonly count: number;
  /** Sum of the observed values. */
  readonly sum: number;
}

/** A fixed-bucket histogram of non-negative values. */
export class LightHistogram {
  private readonly bounds: Float64Array;
  /** Per-bucket counts (not cumulative); the last slot is the +Inf bucket. */
  private readonly counts: Float64Array;
  private sum = 0;

  /** @param bounds upper bounds, ascending; +Inf is implied. */
  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!((bounds[i] as number) > (bounds[i - 1] as number))) throw new RangeError("histogram bounds must be ascending");
    }
    this.bounds = Float64Array.from(bounds);
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Records one value. */
  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    // Most values fall in the first buckets (fast handlers, small lag): a linear scan beats a
    // binary search there.
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    (this.counts[i] as number)++;
    this.sum += value;
  }

  /** Cumulative counts, as Prometheus exposes them. */
  snapshot(): HistogramSnapshot {
    const cumulative: number[] = [];
    let running = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      running += this.counts[i] as number;
      cumulative.push(running);
    }
    return { bounds: [...this.bounds], cumulative, count: running + (this.counts[this.bounds.length] as number), sum: this.sum };
  }
}
