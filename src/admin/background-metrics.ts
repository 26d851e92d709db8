/**
 * The metrics of background work (issue 12): circuit breakers, schedules and tasks, read at
 * scrape time like the rest (see metrics.ts). Tasks come from the store, so `unlost dashboard`
 * shows them without a bot; breakers and schedules are a running bot's.
 *
 * @module
 */
import type { BreakerStatus } from "../guards/index.js";
import type { ScheduleStatus } from "../scheduler/index.js";
import type { TaskCount } from "../store/index.js";

/** What a scrape read of background work; each part absent when its source is. */
export interface BackgroundSnapshot {
  readonly breakers?: readonly BreakerStatus[];
  readonly schedules?: readonly ScheduleStatus[];
  readonly tasks?: readonly TaskCount[];
}

/** A family's samples (the shape metrics.ts renders). */
interface BackgroundFamily {
  readonly runtime?: true;
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly samples: (s: BackgroundSnapshot) => ReadonlyArray<{ readonly value: number; readonly labels?: Readonly<Record<string, string>> }>;
}

const BREAKER_STATE: Readonly<Record<BreakerStatus["state"], number>> = { closed: 0, open: 1, "half-open": 2 };

/** The families; `runtime` ones only with a running bot. */
export const BACKGROUND_FAMILIES: readonly BackgroundFamily[] = [
  {
    runtime: true, name: "unlost_breaker_state", type: "gauge",
    help: "Circuit breakers of runtime.breaker: 0 closed, 1 open (calls fail fast with CIRCUIT_OPEN), 2 half-open (one probe let through).",
    samples: (s) => (s.breakers ?? []).map((b) => ({ value: BREAKER_STATE[b.state], labels: { name: b.name } })),
  },
  {
    runtime: true, name: "unlost_breaker_opened_total", type: "counter",
    help: "How often each circuit breaker opened since start.",
    samples: (s) => (s.breakers ?? []).map((b) => ({ value: b.opened, labels: { name: b.name } })),
  },
  {
    runtime: true, name: "unlost_schedule_runs_total", type: "counter",
    help: 'Runs of each schedule, by result ("ok" or "failed"), from its stored state (every process\'s runs).',
    samples: (s) => (s.schedules ?? []).flatMap((r) => [
      { value: r.runs - r.failures, labels: { name: r.name, result: "ok" } },
      { value: r.failures, labels: { name: r.name, result: "failed" } },
    ]),
  },
  {
    runtime: true, name: "unlost_schedule_next_run_seconds", type: "gauge",
    help: "When each schedule runs next (Unix time, seconds); absent while it has no next run.",
    samples: (s) => (s.schedules ?? []).flatMap((r) => (r.nextRunAt === null ? [] : [{ value: r.nextRunAt / 1_000, labels: { name: r.name } }])),
  },
  {
    name: "unlost_tasks", type: "gauge",
    help: "Durable tasks in the store by kind and state (queued, running, done, failed = dead letters, cancelled).",
    samples: (s) => (s.tasks ?? []).map((t) => ({ value: t.count, labels: { kind: t.kind, state: t.state } })),
  },
];
