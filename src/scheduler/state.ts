/**
 * A schedule's durable state, kept in the store's runtime key/value map (every backend has
 * it): the run due next, whether a run of it was started and not finished, and the history
 * counters. The store is the truth: a process re-reads it before running, so several
 * processes (and restarts) agree on what ran.
 *
 * @module
 */
import type { StateStore } from "../store/index.js";

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

const PREFIX = "unlost:schedule:";
/** The names of the schedules ever registered (the key/value map cannot list keys). */
const INDEX_KEY = "unlost:schedules";

/** Reads and writes schedule state in a store's key/value map. */
export class ScheduleStateStore {
  constructor(private readonly state: StateStore) {}

  /** The stored state of `name`, or null. */
  async read(name: string): Promise<StoredSchedule | null> {
    const text = await this.state.getValue(PREFIX + name);
    return text === null ? null : (JSON.parse(text) as StoredSchedule);
  }

  /** Stores the state of `name`. */
  async write(name: string, value: StoredSchedule): Promise<void> {
    await this.state.setValue(PREFIX + name, JSON.stringify(value));
  }

  /** Adds `name` to the index (for `unlost status` on a store without a running bot). */
  async remember(name: string): Promise<void> {
    const names = await this.names();
    if (!names.includes(name)) await this.state.setValue(INDEX_KEY, JSON.stringify([...names, name].sort()));
  }

  /** Every schedule name registered on this store. */
  async names(): Promise<string[]> {
    const text = await this.state.getValue(INDEX_KEY);
    return text === null ? [] : (JSON.parse(text) as string[]);
  }
}
