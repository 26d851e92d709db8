/**
 * When a schedule runs: a cron expression (croner, with seconds optional) or a fixed interval
 * (`{ every: "2h" }`, `{ every: 90_000 }`). Validated where it is given, with a message that
 * says what was wrong.
 *
 * @module
 */
import { Cron } from "croner";
import { UnlostError } from "../errors/index.js";

/** A schedule's timing: a cron expression (`"*\/5 * * * *"`) or an interval. */
export type ScheduleSpec = string | { readonly every: string | number };

/** A parsed spec: the next run time strictly after a moment. */
export interface ScheduleTiming {
  /** The spec as given, for status and logs. */
  readonly description: string;
  /** The first run time after `after` (ms epoch), or null when there is none (a cron that ended). */
  nextAfter(after: number): number | null;
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses `"90s"`, `"5m"`, `"2h"`, `"1d"`, `"250ms"` (or a number of ms) into milliseconds. */
export function parseInterval(every: string | number): number {
  if (typeof every === "number") {
    if (Number.isFinite(every) && every >= 1) return Math.round(every);
  } else {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(every);
    if (match !== null) return Math.round(Number(match[1]) * (UNITS[match[2] as string] as number));
  }
  throw new UnlostError("INVALID_ARGUMENT", `a schedule's "every" must be a duration like "30s", "5m", "2h", "1d" or milliseconds ≥ 1; got ${JSON.stringify(every)}`);
}

/**
 * Parses a spec. Intervals are anchored to the epoch (every 2 h runs at 00:00, 02:00, … UTC),
 * so a restart keeps the same run times instead of drifting with start times.
 */
export function parseSpec(spec: ScheduleSpec): ScheduleTiming {
  if (typeof spec === "object" && spec !== null && "every" in spec) {
    const ms = parseInterval(spec.every);
    return { description: `every ${typeof spec.every === "number" ? `${ms} ms` : spec.every}`, nextAfter: (after) => (Math.floor(after / ms) + 1) * ms };
  }
  if (typeof spec !== "string" || spec.trim() === "") {
    throw new UnlostError("INVALID_ARGUMENT", `a schedule needs a cron expression (e.g. "*/5 * * * *") or { every: "2h" }; got ${JSON.stringify(spec)}`);
  }
  let cron: Cron;
  try {
    cron = new Cron(spec, { paused: true, timezone: "UTC" });
  } catch (error) {
    throw new UnlostError("INVALID_ARGUMENT", `the cron expression ${JSON.stringify(spec)} is not valid (${error instanceof Error ? error.message : String(error)}); e.g. "*/5 * * * *" for every 5 minutes`, { cause: error });
  }
  return {
    description: spec,
    nextAfter: (after) => cron.nextRun(new Date(after))?.getTime() ?? null,
  };
}
