/**
 * The task runner of one process: claims runnable tasks of the kinds it handles (within each
 * kind's limits, counted over every process by the store), runs them, keeps their claims alive,
 * and records how each try ended.
 *
 * Users first: it has its own concurrency (each kind's), claims in one transaction what its free
 * slots allow, and yields to the event loop (`setImmediate`) between claims, so handlers' work
 * queued meanwhile runs before the next claim; when there is nothing to claim it sleeps until
 * woken (a task added here, a slot freed) or the next poll.
 *
 * How a try ends: its function returns (done, the result stored) or throws (retried after a
 * backoff, or a dead letter once its attempts are used); `CIRCUIT_OPEN` from a breaker queues
 * it again for when the breaker lets a probe through, without using an attempt; a cancel aborts
 * its signal and ends it cancelled; a stop past the grace period aborts it and queues it again
 * (no attempt used). A claim this process no longer holds (it stalled past its lease and
 * another process took the task over) is not settled here.
 *
 * @module
 */
import { UnlostError, isUnlostError } from "../errors/index.js";
import type { Logger } from "../runtime/logger.js";
import type { ClaimedTask, TaskLease, TaskOutcome, TaskStore } from "../store/index.js";
import { retryDelay, type ResolvedTaskOptions } from "./options.js";
import type { TaskTempDirs } from "./temp-dirs.js";
import type { TaskFunction, TaskRun } from "./types.js";
import type { Api } from "grammy";

/** A kind this process runs. */
export interface TaskHandler {
  readonly kind: string;
  readonly fn: TaskFunction;
  readonly options: ResolvedTaskOptions;
}

/** Options of {@link TaskRunner}. */
export interface TaskRunnerOptions {
  readonly store: TaskStore;
  /** This process's id (the claims' owner). */
  readonly owner: string;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly tempDirs: TaskTempDirs;
  /** The `api` of a try: sends through the outbox keyed by `scopeKey` and their position. */
  readonly api: (scopeKey: string, rerun: boolean) => Api;
  /** How long a claim holds without renewal, ms (renewed every third of it). */
  readonly leaseMs: number;
  /** The longest sleep before looking for due tasks again, ms. */
  readonly pollMs: number;
  /** Take-overs of a dead process's claim before the task is a dead letter. */
  readonly maxRecoveries: number;
  /** The kinds handled (read at each claim: kinds may be added while running). */
  readonly handlers: () => Iterable<TaskHandler>;
}

/** Counters since start. */
export interface RunnerCounters {
  done: number;
  failed: number;
  deadLettered: number;
  released: number;
  cancelled: number;
}

/** One try running in this process. */
interface Run {
  readonly lease: TaskLease;
  readonly kind: string;
  readonly abort: AbortController;
  /** Resolves when the try settled (or was given up). */
  finished: Promise<void>;
  /** Settled (or released by the stop): a late end of the function writes nothing. */
  settled: boolean;
  /** The claim was lost: nothing is written for this try. */
  lost: boolean;
}

/** See the module comment. */
export class TaskRunner {
  private readonly runs = new Map<string, Run>();
  private readonly runningByKind = new Map<string, number>();
  private stopping = false;
  private pumping = false;
  /** The claim in progress, awaited by `stop` (what it claims is given back). */
  private pumpDone: Promise<void> | undefined;
  private again = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  readonly counters: RunnerCounters = { done: 0, failed: 0, deadLettered: 0, released: 0, cancelled: 0 };

  constructor(private readonly o: TaskRunnerOptions) {}

  /** Tries running here now. */
  get running(): number {
    return this.runs.size;
  }

  /** True when task `id` runs in this process. */
  runsHere(id: string): boolean {
    return this.runs.has(id);
  }

  /** Sweeps temp folders left by crashed tries, then starts claiming. */
  async start(): Promise<void> {
    const now = this.o.clock();
    const removed = await this.o.tempDirs.sweep(async (id) => {
      const task = await this.o.store.get(id).catch(() => null);
      // Another process's live try (a folder shared by several processes) keeps its folder.
      return task !== null && task.state === "running" && task.leaseOwner !== this.o.owner && (task.leaseUntil ?? 0) > now;
    });
    if (removed.length > 0) this.o.logger.info({ removed: removed.length }, "removed the temp folders of task tries cut off by a crash or a kill");
    const renewEvery = Math.max(100, Math.floor(this.o.leaseMs / 3));
    this.renewTimer = setInterval(() => void this.renew(), renewEvery);
    this.renewTimer.unref();
    this.wake();
  }

  /** Looks for runnable tasks soon (a task was added, a slot freed). */
  wake(): void {
    if (this.stopping) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    // Yield first: handlers' work waiting in the event loop goes ahead of a claim.
    this.pumpDone = new Promise((resolve) => setImmediate(() => void this.pump().finally(resolve)));
  }

  /** Cancels a try running here at once (its store row is flagged by the caller). */
  abortHere(id: string): boolean {
    const run = this.runs.get(id);
    if (run === undefined) return false;
    run.abort.abort(new UnlostError("TASK_CANCELLED", `task ${id} was cancelled`));
    return true;
  }

  /**
   * Stops claiming; lets tries finish for `graceMs`; then aborts the rest (reason `STOPPED`),
   * queues them again without using an attempt, and removes their temp folders.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.pollTimer);
    await this.pumpDone;
    const all = (): Promise<unknown> => Promise.allSettled([...this.runs.values()].map((r) => r.finished));
    if (this.runs.size > 0) {
      this.o.logger.info({ running: this.runs.size, graceMs }, "stopping: running tasks may finish within the grace period");
      await waitFor(all(), graceMs);
    }
    if (this.runs.size > 0) {
      this.o.logger.info({ running: this.runs.size }, "grace period over: aborting the running tasks; they are queued again (no attempt used)");
      for (const run of this.runs.values()) run.abort.abort(new UnlostError("STOPPED", "the runtime stopped before the task finished; it runs again after the next start"));
      // A function that heeds its signal ends (and releases itself) at once; one that does not is released anyway.
      await waitFor(all(), 1_000);
      for (const run of [...this.runs.values()]) await this.release(run);
    }
    clearInterval(this.renewTimer);
  }

  private async pump(): Promise<void> {
    try {
      if (this.stopping) return;
      const kinds = [];
      for (const h of this.o.handlers()) {
        const take = h.options.concurrency - (this.runningByKind.get(h.kind) ?? 0);
        if (take > 0) kinds.push({ kind: h.kind, concurrency: h.options.concurrency, perUser: h.options.perUser, take });
      }
      if (kinds.length === 0) return;
      const claimed = await this.o.store.claim({ owner: this.o.owner, leaseMs: this.o.leaseMs, maxRecoveries: this.o.maxRecoveries, kinds, now: this.o.clock() });
      if (this.stopping) {
        // Claimed while the stop began: given back at once.
        for (const c of claimed) await this.o.store.settle(c.lease, { kind: "release", at: this.o.clock() }).catch(() => undefined);
        return;
      }
      for (const c of claimed) this.begin(c);
      // Slots filled: more may be due at once (another kind, or a backlog); look again after a yield.
      if (claimed.length > 0) this.again = true;
    } catch (error) {
      this.o.logger.warn({ err: error }, "claiming tasks failed; trying again at the next poll");
    } finally {
      this.pumping = false;
      if (this.again && !this.stopping) {
        this.again = false;
        this.wake();
      } else this.schedulePoll();
    }
  }

  private schedulePoll(): void {
    clearTimeout(this.pollTimer);
    if (this.stopping) return;
    this.pollTimer = setTimeout(() => this.wake(), this.o.pollMs);
    this.pollTimer.unref();
  }

  private handlerOf(kind: string): TaskHandler | undefined {
    for (const h of this.o.handlers()) if (h.kind === kind) return h;
    return undefined;
  }

  private begin(claimed: ClaimedTask): void {
    const { task, lease } = claimed;
    const handler = this.handlerOf(task.kind);
    if (handler === undefined) return; // claimed only for handled kinds
    const run: Run = { lease, kind: task.kind, abort: new AbortController(), finished: Promise.resolve(), settled: false, lost: false };
    this.runs.set(task.id, run);
    this.runningByKind.set(task.kind, (this.runningByKind.get(task.kind) ?? 0) + 1);
    if (task.cancelRequested) run.abort.abort(new UnlostError("TASK_CANCELLED", `task ${task.id} was cancelled`));
    run.finished = this.execute(claimed, handler, run).finally(() => {
      this.runs.delete(task.id);
      this.runningByKind.set(task.kind, (this.runningByKind.get(task.kind) ?? 1) - 1);
      this.wake();
    });
  }

  private async execute(claimed: ClaimedTask, handler: TaskHandler, run: Run): Promise<void> {
    const { task } = claimed;
    const { options } = handler;
    const timer = setTimeout(() => run.abort.abort(new UnlostError("TASK_TIMEOUT", `task ${task.id} (${task.kind}) ran longer than its timeoutMs (${options.timeoutMs} ms); the try counts as failed`)), options.timeoutMs);
    timer.unref();
    let outcome: TaskOutcome;
    try {
      const tmpDir = await this.o.tempDirs.create(task.id);
      const work = Promise.resolve(this.taskRun(claimed, run, tmpDir)).then((t) => handler.fn(t));
      // An aborted try is not waited for; its function's later failure is nobody's to catch.
      work.catch(() => undefined);
      const value = await Promise.race([work, aborted(run.abort.signal)]);
      outcome = run.abort.signal.aborted ? this.outcomeOf(run.abort.signal.reason, task.failures, options.attempts, options) : { kind: "done", result: resultJson(value) };
    } catch (error) {
      outcome = this.outcomeOf(run.abort.signal.aborted ? run.abort.signal.reason : error, task.failures, options.attempts, options);
    } finally {
      clearTimeout(timer);
    }
    await this.o.tempDirs.remove(task.id).catch((e: unknown) => this.o.logger.warn({ err: e, taskId: task.id }, "removing a task's temp folder failed"));
    if (run.lost || run.settled) return;
    await this.settle(run, outcome, task.id, task.kind);
  }

  private async settle(run: Run, outcome: TaskOutcome, id: string, kind: string): Promise<void> {
    run.settled = true;
    const result = await this.o.store.settle(run.lease, outcome, { now: this.o.clock() }).catch((error: unknown) => {
      this.o.logger.warn({ err: error, taskId: id }, "recording a task's end failed; its claim runs out and it is run again");
      return "stale" as const;
    });
    if (result === "stale") return;
    const log = { taskId: id, kind };
    switch (outcome.kind) {
      case "done": this.counters.done++; break;
      case "cancelled": this.counters.cancelled++; this.o.logger.info(log, "task cancelled"); break;
      case "release": this.counters.released++; break;
      case "retry": this.counters.failed++; this.o.logger.warn({ ...log, error: outcome.error, retryAt: new Date(outcome.at).toISOString() }, "task failed; it is retried"); break;
      case "dead": this.counters.failed++; this.counters.deadLettered++; this.o.logger.error({ ...log, error: outcome.error }, "task failed for good: it is a dead letter (runtime.tasks.deadLetters)"); break;
    }
  }

  /** Releases a try the stop gave up on. */
  private async release(run: Run): Promise<void> {
    if (run.settled || run.lost) return;
    await this.settle(run, { kind: "release", at: this.o.clock(), error: "the runtime stopped while it ran" }, run.lease.id, run.kind);
    await this.o.tempDirs.remove(run.lease.id).catch(() => undefined);
    this.runs.delete(run.lease.id);
  }

  /** How a try that threw (or was aborted with `reason`) ends. */
  private outcomeOf(reason: unknown, failures: number, maxAttempts: number, options: ResolvedTaskOptions): TaskOutcome {
    const now = this.o.clock();
    if (isUnlostError(reason, "TASK_CANCELLED")) return { kind: "cancelled" };
    if (isUnlostError(reason, "STOPPED")) return { kind: "release", at: now, error: reason.message };
    const open = circuitOpen(reason);
    if (open !== undefined) {
      const after = open.details["retryAfterMs"];
      return { kind: "release", at: now + Math.max(100, typeof after === "number" ? after : 1_000), error: open.message };
    }
    const error = describe(reason);
    const used = failures + 1;
    if (used >= maxAttempts) return { kind: "dead", error };
    return { kind: "retry", at: now + retryDelay(used, options), error };
  }

  private taskRun(claimed: ClaimedTask, run: Run, tmpDir: string): TaskRun {
    const { task, lease } = claimed;
    let api: Api | undefined;
    const makeApi = this.o.api;
    const progress = new ProgressWriter(this.o.store, lease, this.o.clock, (cancelled) => {
      if (cancelled) this.abortHere(task.id);
    });
    return {
      id: task.id, kind: task.kind, payload: JSON.parse(task.payload) as unknown, userId: task.userId, chatId: task.chatId,
      attempt: task.failures + 1, recovered: claimed.recovered, signal: run.abort.signal, tmpDir,
      progress: (value, note) => progress.write(value, note),
      get api(): Api {
        return (api ??= makeApi(`task:${task.id}`, task.runs > 1));
      },
    };
  }

  /** Renews the claims of the tries running here; aborts the ones cancelled or lost. */
  private async renew(): Promise<void> {
    for (const [id, run] of this.runs) {
      if (run.settled) continue;
      const r = await this.o.store.extend(run.lease, { leaseMs: this.o.leaseMs, now: this.o.clock() }).catch(() => undefined);
      if (r === undefined) continue; // the store failed: try again at the next renewal
      if (!r.ok) {
        run.lost = true;
        run.abort.abort(new UnlostError("STOPPED", `the claim on task ${id} was lost (this process stalled past its lease and another took the task over)`));
        this.o.logger.warn({ taskId: id }, "a task's claim was lost (this process stalled past its lease); its try is aborted here and runs elsewhere");
      } else if (r.cancelRequested) this.abortHere(id);
    }
  }
}

/** Coalesces a try's progress writes: one in flight, the latest value next. */
class ProgressWriter {
  private inFlight: Promise<void> | undefined;
  private next: { value: string; note: string | null } | undefined;
  private waiting: Promise<void> | undefined;

  constructor(private readonly store: TaskStore, private readonly lease: TaskLease, private readonly clock: () => number, private readonly onResult: (cancelled: boolean) => void) {}

  write(value: unknown, note?: string): Promise<void> {
    const json = resultJson(value) ?? "null";
    this.next = { value: json, note: note ?? null };
    if (this.inFlight === undefined) {
      this.inFlight = this.flush();
      return this.inFlight;
    }
    return (this.waiting ??= this.inFlight.then(() => {
      this.waiting = undefined;
      return (this.inFlight = this.flush());
    }));
  }

  private async flush(): Promise<void> {
    const item = this.next;
    this.next = undefined;
    try {
      if (item === undefined) return;
      const r = await this.store.progress(this.lease, item.value, item.note, { now: this.clock() });
      this.onResult(r.ok && r.cancelRequested);
    } finally {
      this.inFlight = undefined;
    }
  }
}

/** The `CIRCUIT_OPEN` error behind `reason` (itself, or its cause a few levels down), if any. */
function circuitOpen(reason: unknown): UnlostError | undefined {
  let error = reason;
  for (let depth = 0; depth < 5 && error !== undefined && error !== null; depth++) {
    if (isUnlostError(error, "CIRCUIT_OPEN")) return error;
    error = (error as { cause?: unknown }).cause;
  }
  return undefined;
}

/** A function's result as JSON text (undefined as null). */
function resultJson(value: unknown): string | null {
  if (value === undefined) return null;
  try {
    return JSON.stringify(value) ?? null;
  } catch (error) {
    throw new UnlostError("INVALID_ARGUMENT", `a task's result (and progress) must be JSON-serialisable: ${describe(error)}`, { cause: error });
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name === "Error" ? "" : `${error.name}: `}${error.message}` : String(error);
}

/** Never resolves; rejects with the signal's reason once it is aborted. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

/** Resolves when `promise` settles or `ms` passed, whichever is first. */
function waitFor(promise: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
