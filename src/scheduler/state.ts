/**
 * A schedule's durable state, kept in the store's runtime key/value map (every backend has
 * it): the run due next, whether a run of it was started and not finished, and the history
 * counters. The store is the truth: a process re-reads it before running, so several
 * processes (and restarts) agree on what ran.
 *
 * @module
 */
import type { StateStore } from "../store/index.js";
import { NamedRecords } from "../store/named-records.js";

/** The stored state of one schedule. */
export interface StoredSchedule {
  /** The timing's description when this state was written (a changed timing starts afresh). */
  readonly spec: string;
  /** The run time not yet completed (ms epoch), or null when the timing has none left. */
  readonly due: number | null;
  /** The `due` of a run that was started and not finished (a crash or stop cut it off). */
  readonly started: number | null;
  readonly lastRunAt: number | null;
  readonly lastResult: "ok" | "failed" | null;
  readonly lastError: string | null;
  readonly runs: number;
  readonly failures: number;
}

/** Reads and writes schedule state in a store's key/value map (`unlost:schedule:<name>`, indexed). */
export class ScheduleStateStore extends NamedRecords<StoredSchedule> {
  constructor(state: StateStore) {
    super(state, "unlost:schedule:", "unlost:schedules");
  }
}
