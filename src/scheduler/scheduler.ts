/**
 * Durable schedules: functions that run at cron times or intervals beside message handling,
 * with their state in the store, so that a restart neither skips a due run silently nor runs
 * a completed one again, and several processes on one store run each due run once.
 *
 * How a run goes: when a schedule is due, the process takes its lease (`schedule:<name>`, one
 * holder across processes), re-reads its state from the store (another process may have run
 * it meanwhile), marks the run *started*, runs the function (retried with backoff on failure,
 * aborted at its timeout), then records the result and the next due time and gives the lease
 * back. A run cut off by a crash or a stop stays marked started and runs again at the next
 * start; runs that fell due while nothing ran follow the missed-run policy (run once, or skip
 * with a warning). Exactly once is not promised for a run whose function finished but whose
 * result was not yet recorded when the process died (milliseconds): it runs again.
 *
 * Handling comes first: at most `maxConcurrent` runs at once (default 2), and a function
 * gets a signal to stop cooperative work at its timeout or at shutdown.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import type { LeaseFence, Store } from "../store/index.js";
import { parseSpec, type ScheduleTiming } from "./spec.js";
import { ScheduleStateStore, type StoredSchedule } from "./state.js";
import type { ScheduleDefinition, ScheduleFunction, ScheduleOptions, ScheduleStatus } from "./types.js";

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  readonly store: Pick<Store, "state" | "leases">;
  /** This process's id (the lease holder). */
  readonly owner: string;
  readonly clock: () => number;
  readonly logger: Logger;
  /** Runs at once, across all schedules of this process. Default 2. */
  readonly maxConcurrent?: number;
  /**
   * The longest the scheduler sleeps before it looks at the clock again, ms. Default 30 s: a
   * timer set for hours does not notice the wall clock being corrected or the machine resuming
   * from a suspend; looking again bounds how late a run can be.
   */
  readonly maxSleepMs?: number;
}

/** A schedule's options with their defaults. */
export interface ResolvedOptions {
  readonly missed: "run-once" | "skip";
  readonly timeoutMs: number;
  readonly attempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

interface Entry {
  readonly name: string;
  readonly fn: ScheduleFunction;
  readonly timing: ScheduleTiming;
  readonly options: ResolvedOptions;
  /** The next time to look at it (ms epoch): its due time, or a retry of a look that could not run it. */
  due: number | null;
  missedRuns: number;
  /** The run in progress in this process. */
  running: Promise<void> | undefined;
  /** A timed-out try whose function has not returned yet: no new try starts meanwhile. */
  straggler: Promise<unknown> | undefined;
  /** The try in progress, to abort on stop. */
  abort: AbortController | undefined;
  /** Made once its state is loaded. */
  ready: boolean;
}

const NAME = /^[\w.:-]{1,100}$/;
/** A run's lease: renewed every third of it while the run goes on. */
const LEASE_MS = 30_000;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long to wait before looking again at a schedule another process is running. */
const BUSY_RECHECK_MS = 1_000;

/** Runs a process's schedules (see the module comment). */
export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly states: ScheduleStateStore;
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopping = false;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  /** Resolved when `stop` gives up on the runs in progress (they are left started). */
  private abandon: { promise: Promise<"abandoned">; resolve: () => void } = abandonment();

  constructor(private readonly options: SchedulerOptions) {
    this.states = new ScheduleStateStore(options.store.state);
  }

  /** Registers a schedule (see `runtime.schedule`). Throws `INVALID_ARGUMENT` on a bad name, timing or option. */
  add(definition: ScheduleDefinition): void {
    const { name, fn } = definition;
    const { timing, options } = checkDefinition(definition);
    if (this.entries.has(name)) throw new UnlostError("INVALID_ARGUMENT", `there is already a schedule named ${JSON.stringify(name)}; names identify a schedule's stored state, so each must be unique`);
    const entry: Entry = {
      name, fn, timing, options,
      due: null, missedRuns: 0, running: undefined, straggler: undefined, abort: undefined, ready: false,
    };
    this.entries.set(name, entry);
    if (this.started) void this.load(entry).then(() => this.arm(), (error: unknown) => this.loadFailed(entry, error));
  }

  /** Loads every schedule's state and starts timing. */
  async start(): Promise<void> {
    this.started = true;
    this.stopping = false;
    this.abandon = abandonment();
    for (const entry of this.entries.values()) await this.load(entry);
    this.arm();
  }

  /**
   * Stops starting runs; runs in progress may finish within `deadlineMs`, then their signals
   * are aborted and they are left started (they run again at the next start).
   */
  async stop(deadlineMs: number): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const running = [...this.entries.values()].flatMap((e) => (e.running === undefined ? [] : [e.running]));
    if (running.length > 0) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((r) => (timer = setTimeout(r, deadlineMs)));
      await Promise.race([Promise.allSettled(running), deadline]);
      clearTimeout(timer);
      for (const e of this.entries.values()) e.abort?.abort(new UnlostError("STOPPED", `the runtime stopped while schedule ${e.name} ran`));
      // Runs still going are given up: each releases its lease, so that the next start (of
      // this or another process) runs them again at once.
      this.abandon.resolve();
      await Promise.allSettled(running);
    }
    for (const w of this.waiting.splice(0)) w();
    this.started = false;
  }

  /** The status of every schedule registered on the store (also ones no process registered now). */
  async status(): Promise<ScheduleStatus[]> {
    const names = new Set([...(await this.states.names()), ...this.entries.keys()]);
    const out: ScheduleStatus[] = [];
    for (const name of [...names].sort()) out.push(statusOf(name, await this.states.read(name), this.entries.get(name)));
    return out;
  }

  private async load(entry: Entry): Promise<void> {
    const { clock, logger } = this.options;
    const now = clock();
    const stored = await this.states.read(entry.name);
    const spec = entry.timing.description;
    if (stored === null || stored.spec !== spec) {
      const due = entry.timing.nextAfter(now);
      if (stored !== null) logger.info({ schedule: entry.name, from: stored.spec, to: spec }, "a schedule's timing changed: it starts afresh from now");
      await this.states.write(entry.name, { ...(stored ?? EMPTY), spec, due, started: null });
      entry.due = due;
    } else if (stored.started !== null) {
      logger.warn({ schedule: entry.name, scheduledFor: new Date(stored.started).toISOString() }, "a schedule's run was cut off (the process stopped or crashed while it ran); it runs again now");
      entry.due = now;
    } else if (stored.due !== null && stored.due <= now) {
      const missed = countMissed(entry.timing, stored.due, now);
      if (entry.options.missed === "skip") {
        const due = entry.timing.nextAfter(now);
        logger.warn({ schedule: entry.name, missed, next: due === null ? null : new Date(due).toISOString() }, "runs of a schedule fell due while no process ran; skipped (missed: \"skip\")");
        await this.states.write(entry.name, { ...stored, due });
        entry.due = due;
      } else {
        logger.info({ schedule: entry.name, missed }, "runs of a schedule fell due while no process ran; running once now (missed: \"run-once\")");
        entry.due = now;
        entry.missedRuns = missed - 1;
      }
    } else {
      entry.due = stored.due;
    }
    await this.states.remember(entry.name);
    entry.ready = true;
  }

  private loadFailed(entry: Entry, error: unknown): void {
    this.options.logger.error({ err: error, schedule: entry.name }, "loading a schedule's state failed; retrying in 5 s");
    setTimeout(() => void this.load(entry).then(() => this.arm(), (e: unknown) => this.loadFailed(entry, e)), 5_000).unref();
  }

  /** Sets the timer for the earliest due schedule. */
  private arm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.started || this.stopping) return;
    let next = Infinity;
    for (const e of this.entries.values()) if (e.ready && e.running === undefined && e.due !== null) next = Math.min(next, e.due);
    if (next === Infinity) return;
    const delay = Math.min(MAX_TIMER_MS, this.options.maxSleepMs ?? 30_000, Math.max(0, next - this.options.clock()));
    this.timer = setTimeout(() => this.tick(), delay);
  }

  private tick(): void {
    this.timer = undefined;
    const now = this.options.clock();
    for (const e of this.entries.values()) {
      if (!e.ready || e.running !== undefined || e.due === null || e.due > now) continue;
      e.running = this.run(e).finally(() => {
        e.running = undefined;
        this.arm();
      });
    }
    this.arm();
  }

  private async run(entry: Entry): Promise<void> {
    const { store, owner, clock, logger } = this.options;
    await this.slot();
    let fence: LeaseFence | undefined;
    try {
      if (this.stopping) return;
      if (entry.straggler !== undefined) {
        logger.warn({ schedule: entry.name }, "a schedule's timed-out run is still running; the next run waits for it");
        await entry.straggler;
      }
      const ttl = LEASE_MS;
      const grant = await store.leases.acquire(`schedule:${entry.name}`, owner, ttl, { now: clock() });
      if (!grant.held) {
        // Another process runs it now: look again later (its result moves the due time).
        entry.due = clock() + BUSY_RECHECK_MS;
        return;
      }
      fence = { name: `schedule:${entry.name}`, owner, epoch: grant.epoch };
      // The store is the truth: another process (or an earlier life of this one) may have run it.
      const stored = (await this.states.read(entry.name)) ?? { ...EMPTY, spec: entry.timing.description, due: entry.due };
      const now = clock();
      if (stored.started === null && (stored.due === null || stored.due > now)) {
        entry.due = stored.due;
        return;
      }
      const scheduledFor = stored.started ?? (stored.due as number);
      await this.states.write(entry.name, { ...stored, started: scheduledFor });
      const outcome = await this.tries(entry, scheduledFor, fence, ttl);
      if (outcome === "stopped") return; // left started: it runs again at the next start
      const ended = clock();
      const due = entry.timing.nextAfter(Math.max(ended, scheduledFor));
      await this.states.write(entry.name, {
        ...stored, started: null, due, lastRunAt: ended,
        lastResult: outcome === "ok" ? "ok" : "failed",
        lastError: outcome === "ok" ? stored.lastError : outcome.error,
        runs: stored.runs + 1,
        failures: stored.failures + (outcome === "ok" ? 0 : 1),
      });
      entry.due = due;
      entry.missedRuns = 0;
    } catch (error) {
      logger.error({ err: error, schedule: entry.name }, "running a schedule failed in the store; trying again in 5 s");
      entry.due = clock() + 5_000;
    } finally {
      if (fence !== undefined) await store.leases.release(fence).catch(() => false);
      this.release();
    }
  }

  /** The tries of one run: retried with backoff; a timed-out try ends the run. */
  private async tries(entry: Entry, scheduledFor: number, fence: LeaseFence, ttl: number): Promise<"ok" | "stopped" | { error: string }> {
    const { logger, store, clock } = this.options;
    const { attempts, timeoutMs } = entry.options;
    let lastError = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (this.stopping) return "stopped";
      const abort = new AbortController();
      entry.abort = abort;
      const started = clock();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => {
          abort.abort(new UnlostError("SCHEDULE_TIMEOUT", `schedule ${entry.name} did not finish within ${timeoutMs} ms`));
          resolve("timeout");
        }, timeoutMs);
      });
      const call = Promise.resolve().then(() => entry.fn({ name: entry.name, scheduledFor, attempt, missedRuns: entry.missedRuns, signal: abort.signal }));
      // The lease is kept while the try runs: a process that dies loses it within LEASE_MS.
      let lost = false;
      const keepAlive = setInterval(() => {
        void store.leases.renew(fence, ttl, { now: clock() }).then((grant) => {
          if (grant.held || lost) return;
          lost = true;
          logger.warn({ schedule: entry.name }, "a schedule's lease was lost while it ran (paused too long?); another process may run it too");
          abort.abort(new UnlostError("CONFLICT", `schedule ${entry.name}'s lease was taken over`));
        }, () => undefined);
      }, ttl / 3);
      const result = await Promise.race([call.then(() => "ok" as const, (error: unknown) => ({ error })), timedOut, this.abandon.promise]);
      clearTimeout(timer);
      clearInterval(keepAlive);
      entry.abort = undefined;
      if (result === "abandoned") return "stopped";
      if (result === "ok") {
        logger.debug({ schedule: entry.name, attempt, ms: clock() - started }, "schedule ran");
        return "ok";
      }
      if (this.stopping) return "stopped";
      if (result === "timeout") {
        entry.straggler = call.catch(() => undefined).finally(() => (entry.straggler = undefined));
        lastError = `did not finish within ${timeoutMs} ms`;
        logger.error({ schedule: entry.name, attempt, timeoutMs }, "a schedule's run timed out; it is failed (not retried while it may still run)");
        return { error: lastError };
      }
      lastError = result.error instanceof Error ? result.error.message : String(result.error);
      const last = attempt === attempts;
      logger[last ? "error" : "warn"]({ err: result.error, schedule: entry.name, attempt, attempts }, last ? "a schedule's run failed on its last try" : "a schedule's run failed; retrying");
      if (last) break;
      await sleep(Math.min(entry.options.maxMs, entry.options.baseMs * 2 ** (attempt - 1)));
      const renewed = await store.leases.renew(fence, ttl, { now: clock() });
      if (!renewed.held) {
        logger.warn({ schedule: entry.name }, "a schedule's lease was lost between tries (paused too long?); another process takes the run over");
        return "stopped";
      }
    }
    return { error: lastError };
  }

  /** Waits for one of `maxConcurrent` run slots. */
  private slot(): Promise<void> | undefined {
    if (this.active < (this.options.maxConcurrent ?? 2)) {
      this.active++;
      return undefined;
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(): void {
    const next = this.waiting.shift();
    if (next === undefined) this.active--;
    else next();
  }
}

/**
 * Checks a schedule's definition (name, function, timing, options), throwing `INVALID_ARGUMENT`
 * with what was wrong; returns the parsed timing and the options with their defaults.
 */
export function checkDefinition(definition: ScheduleDefinition): { timing: ScheduleTiming; options: ResolvedOptions } {
  const { name, spec, fn, options } = definition;
  if (typeof name !== "string" || !NAME.test(name)) {
    throw new UnlostError("INVALID_ARGUMENT", `a schedule's name must be 1–100 letters, digits or . : - _; got ${JSON.stringify(name)}`);
  }
  if (typeof fn !== "function") throw new UnlostError("INVALID_ARGUMENT", `schedule ${JSON.stringify(name)} needs a function to run`);
  return { timing: parseSpec(spec), options: resolve(name, options) };
}

const EMPTY: Omit<StoredSchedule, "spec" | "due"> = { started: null, lastRunAt: null, lastResult: null, lastError: null, runs: 0, failures: 0 };

function resolve(name: string, options: ScheduleOptions = {}): ResolvedOptions {
  const bad = (field: string, want: string, got: unknown): never => {
    throw new UnlostError("INVALID_ARGUMENT", `schedule ${JSON.stringify(name)}: ${field} must be ${want}; got ${JSON.stringify(got)}`);
  };
  const missed = options.missed ?? "run-once";
  if (missed !== "run-once" && missed !== "skip") bad("missed", '"run-once" or "skip"', missed);
  const int = (field: string, value: number | undefined, fallback: number, min: number): number => {
    const v = value ?? fallback;
    return Number.isInteger(v) && v >= min ? v : bad(field, `a whole number ≥ ${min}`, value);
  };
  return {
    missed,
    timeoutMs: int("timeoutMs", options.timeoutMs, 5 * 60_000, 1),
    attempts: int("attempts", options.attempts, 3, 1),
    baseMs: int("backoff.baseMs", options.backoff?.baseMs, 1_000, 0),
    maxMs: int("backoff.maxMs", options.backoff?.maxMs, 60_000, 0),
  };
}

/** Run times from `due` up to `now` (at least 1: `due` itself), counted up to 10,000. */
function countMissed(timing: ScheduleTiming, due: number, now: number): number {
  let n = 1;
  for (let t = timing.nextAfter(due); t !== null && t <= now && n < 10_000; t = timing.nextAfter(t)) n++;
  return n;
}

/** The schedules recorded in a store, as its state says (for `unlost status`, with or without the bot running). */
export async function storedSchedules(store: Pick<Store, "state">): Promise<ScheduleStatus[]> {
  const states = new ScheduleStateStore(store.state);
  const out: ScheduleStatus[] = [];
  for (const name of await states.names()) out.push(statusOf(name, await states.read(name), undefined));
  return out;
}

function statusOf(name: string, stored: StoredSchedule | null, entry: Entry | undefined): ScheduleStatus {
  return {
    name,
    spec: entry?.timing.description ?? stored?.spec ?? "",
    nextRunAt: stored?.started ?? stored?.due ?? null,
    lastRunAt: stored?.lastRunAt ?? null,
    lastResult: stored?.lastResult ?? null,
    lastError: stored?.lastError ?? null,
    runs: stored?.runs ?? 0,
    failures: stored?.failures ?? 0,
    running: entry?.running !== undefined || (stored?.started ?? null) !== null,
  };
}

function abandonment(): { promise: Promise<"abandoned">; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<"abandoned">((r) => (resolve = () => r("abandoned")));
  return { promise, resolve };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
