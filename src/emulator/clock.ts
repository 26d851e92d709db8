/**
 * The emulator's own notion of "now". Tests advance it to make 24 h retention, stale
 * callbacks and long outages happen without waiting; everything time-based in the emulator
 * (message dates, retention, rate-limit buckets) reads it.
 */
export interface EmulatorClock {
  /** Current emulator time in milliseconds since the epoch. */
  now(): number;
  /** Current emulator time in whole seconds, as Telegram puts it in `date` fields. */
  unixSeconds(): number;
  /** Moves emulator time forward by `ms` (never backwards). */
  advance(ms: number): void;
  /** How far emulator time is ahead of the real clock, in milliseconds. */
  offsetMs(): number;
}

/**
 * Creates a clock that follows real time plus whatever tests have advanced it by. A frozen
 * clock stands still between `advance` calls, for tests that must not depend on how fast
 * the machine is (flood limits, retention boundaries).
 */
export function createClock(options: { frozen?: boolean } = {}): EmulatorClock {
  let offset = 0;
  const frozenAt = Date.now();
  const base = options.frozen === true ? () => frozenAt : Date.now;
  return {
    now: () => base() + offset,
    unixSeconds: () => Math.floor((base() + offset) / 1000),
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0) {
        throw new RangeError(`clock.advance(ms) needs a finite ms >= 0, got ${String(ms)}`);
      }
      offset += ms;
    },
    offsetMs: () => offset,
  };
}
