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

/** Creates a clock that follows real time plus whatever tests have advanced it by. */
export function createClock(startOffsetMs = 0): EmulatorClock {
  let offset = startOffsetMs;
  return {
    now: () => Date.now() + offset,
    unixSeconds: () => Math.floor((Date.now() + offset) / 1000),
    advance(ms) {
      if (!Number.isFinite(ms) || ms < 0) {
        throw new RangeError(`clock.advance(ms) needs a finite ms >= 0, got ${String(ms)}`);
      }
      offset += ms;
    },
    offsetMs: () => offset,
  };
}
