/**
 * The public shapes of schedules: options, what a run gets, and a schedule's status.
 *
 * @module
 */
import type { ScheduleSpec } from "./spec.js";

/** What to do with runs that fell due while no process was running (downtime). */
export type MissedRunPolicy = "run-once" | "skip";

/** Options of `runtime.schedule`. Every field is optional. */
export interface ScheduleOptions {
  /** Runs missed while down: `"run-once"` (default) runs once at start for all of them; `"skip"` logs and waits for the next. */
  readonly missed?: MissedRunPolicy;
  /** A try running longer fails (its `signal` is aborted; it is not retried while it still runs). Default 5 min. */
  readonly timeoutMs?: number;
  /** Tries per due run (a failed try is retried with backoff). Default 3. */
  readonly attempts?: number;
  /** Backoff between tries: `baseMs` doubling up to `maxMs`. Default 1 s, 60 s. */
  readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
}

/** What a schedule's function gets for each try. */
export interface ScheduleRun {
  /** The schedule's name. */
  readonly name: string;
  /** The run time this try is for (ms epoch). */
  readonly scheduledFor: number;
  /** 1 on the first try of this run. */
  readonly attempt: number;
  /** How many runs were missed while down and folded into this one (`missed: "run-once"`). */
  readonly missedRuns: number;
  /** Aborted when the try passes `timeoutMs` or the runtime stops: pass it to cancellable work. */
  readonly signal: AbortSignal;
}

/** A schedule's function. Throwing (or rejecting) fails the try. */
export type ScheduleFunction = (run: ScheduleRun) => unknown;

/** A schedule as `runtime.schedules()` and `unlost status` show it. */
export interface ScheduleStatus {
  readonly name: string;
  /** The timing as given (`"*\/5 * * * *"`, `"every 2h"`). */
  readonly spec: string;
  /** The next run time (ms epoch), or null when the timing has none left. */
  readonly nextRunAt: number | null;
  /** When the last run ended (ms epoch), or null before the first. */
  readonly lastRunAt: number | null;
  /** How the last run ended. */
  readonly lastResult: "ok" | "failed" | null;
  /** The last failure's message (kept after later successes). */
  readonly lastError: string | null;
  /** Runs that ended, successful or not. */
  readonly runs: number;
  /** Runs that failed after their last try. */
  readonly failures: number;
  /** True while a try runs (in any process). */
  readonly running: boolean;
}

/** @internal A schedule's registration. */
export interface ScheduleDefinition {
  readonly name: string;
  readonly spec: ScheduleSpec;
  readonly fn: ScheduleFunction;
  readonly options: ScheduleOptions;
}
