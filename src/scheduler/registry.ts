/**
 * The runtime's schedules: registered any time (before `start()` too), run while the runtime
 * runs. What the composition root wires; the work is the {@link Scheduler}'s.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import type { Store } from "../store/index.js";
import { checkDefinition, Scheduler } from "./scheduler.js";
import type { ScheduleSpec } from "./spec.js";
import type { ScheduleDefinition, ScheduleFunction, ScheduleOptions, ScheduleStatus } from "./types.js";

/** Schedules of one runtime, across its starts and stops. */
export class ScheduleRegistry {
  private readonly definitions: ScheduleDefinition[] = [];
  private scheduler: Scheduler | undefined;

  /** Adds a schedule; validated now (a bad name, timing or option throws `INVALID_ARGUMENT`). */
  add(name: string, spec: ScheduleSpec, fn: ScheduleFunction, options: ScheduleOptions = {}): void {
    const definition = { name, spec, fn, options };
    checkDefinition(definition);
    if (this.definitions.some((d) => d.name === name)) {
      throw new UnlostError("INVALID_ARGUMENT", `there is already a schedule named ${JSON.stringify(name)}; names identify a schedule's stored state, so each must be unique`);
    }
    this.scheduler?.add(definition);
    this.definitions.push(definition);
  }

  /** Starts running the schedules on `store`. */
  async start(options: { store: Pick<Store, "state" | "leases">; owner: string; clock: () => number; logger: Logger }): Promise<void> {
    if (this.definitions.length === 0) return;
    const scheduler = new Scheduler(options);
    for (const d of this.definitions) scheduler.add(d);
    this.scheduler = scheduler;
    await scheduler.start();
  }

  /** Stops running them; runs in progress may finish within `deadlineMs`. */
  async stop(deadlineMs: number): Promise<void> {
    const scheduler = this.scheduler;
    this.scheduler = undefined;
    await scheduler?.stop(deadlineMs);
  }

  /** Every schedule's status (needs a started runtime). */
  async status(): Promise<ScheduleStatus[]> {
    if (this.scheduler === undefined) {
      if (this.definitions.length === 0) return [];
      throw new UnlostError("STOPPED", "schedules' status is read from the store: start the runtime first (or run `unlost status --data <dir>`)");
    }
    return this.scheduler.status();
  }
}
