/**
 * The overview's "Background work" part: the schedules (timing, last result, next run), the
 * durable tasks by kind and state, and the circuit breakers' last states — read from the store,
 * so `unlost dashboard` shows them without the bot, and every process's work is in it.
 *
 * @module
 */
import { storedBreakers } from "../../guards/index.js";
import { storedSchedules } from "../../scheduler/index.js";
import type { Store, TaskState } from "../../store/index.js";
import { count, h, table, time, type Html } from "./html.js";

const TASK_STATES: readonly TaskState[] = ["queued", "running", "done", "failed", "cancelled"];

/** The section; parts that cannot be read are left out (the rest of the page still shows). */
export async function backgroundSection(store: Store, now: number): Promise<Html> {
  const [schedules, tasks, breakers] = await Promise.all([
    storedSchedules(store).catch(() => undefined),
    store.tasks.counts().catch(() => undefined),
    storedBreakers(store).catch(() => undefined),
  ]);
  const parts: Html[] = [h`<h2>Background work</h2>`];
  if (schedules !== undefined) {
    parts.push(h`<h3>Schedules</h3>`, table(
      ["name", "timing", "last result", "last run", "next run", "runs", "failed", "last error"],
      schedules.map((s) => [s.name, s.spec, s.running ? "running" : s.lastResult === "failed" ? h`<span class="bad">failed</span>` : s.lastResult ?? "never ran", time(s.lastRunAt, now), time(s.nextRunAt, now), count(s.runs), count(s.failures), s.lastError ?? ""]),
      { num: [5, 6], empty: "No schedules (runtime.schedule)." },
    ));
  }
  if (tasks !== undefined) {
    const kinds = [...new Set(tasks.map((t) => t.kind))].sort();
    const of = (kind: string, state: TaskState): number => tasks.find((t) => t.kind === kind && t.state === state)?.count ?? 0;
    parts.push(h`<h3>Tasks</h3>`, table(
      ["kind", ...TASK_STATES.map((s) => (s === "failed" ? "failed (dead letters)" : s))],
      kinds.map((kind) => [kind, ...TASK_STATES.map((state) => (state === "failed" && of(kind, state) > 0 ? h`<span class="bad">${count(of(kind, state))}</span>` : count(of(kind, state))))]),
      { num: [1, 2, 3, 4, 5], empty: "No tasks (runtime.tasks)." },
    ));
  }
  if (breakers !== undefined) {
    parts.push(h`<h3>Circuit breakers</h3>`, table(
      ["name", "state", "since", "opened", "instance", "last error"],
      breakers.map((b) => [b.name, b.state === "closed" ? h`<span class="ok">closed</span>` : h`<span class="bad">${b.state}</span>`, time(b.recordedAt, now), count(b.opened), b.instance, b.lastError ?? ""]),
      { num: [3], empty: "No circuit breakers (runtime.breaker)." },
    ));
  }
  return h`${parts}`;
}
