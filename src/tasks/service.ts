/**
 * `runtime.tasks`: the kinds this process handles, adding tasks (from handlers, with the update's
 * completion; elsewhere, durably at once), the per-user queue limit, cancel, status and dead
 * letters; the {@link TaskRunner} does the running. What the composition root wires.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Api } from "grammy";
import { UnlostError } from "../errors/index.js";
import type { UncommittedEffects } from "../inbound/journal-dispatcher.js";
import type { Logger } from "../runtime/logger.js";
import type { NewTask, Store, StoreEffect, TaskCancelResult, TaskDeadLetterSelector, TaskRecord, TaskState } from "../store/index.js";
import { validateNewTask } from "../store/index.js";
import { DEFAULT_TASK_ATTEMPTS, requireKind, resolveTaskOptions } from "./options.js";
import { TaskRunner, type TaskHandler } from "./runner.js";
import { TaskTempDirs } from "./temp-dirs.js";
import type { TaskAddOptions, TaskDeadLetters, TaskFunction, TaskHandlerOptions, TaskInfo, Tasks, TaskStats } from "./types.js";

/** Runtime settings of tasks (option `tasks`). */
export interface TaskServiceSettings {
  /** How long running tasks may finish after a stop before they are aborted and queued again, ms. */
  readonly graceMs: number;
  /** The longest sleep before looking for due tasks again, ms. */
  readonly pollMs: number;
  /** How long a claim holds without renewal, ms. */
  readonly leaseMs: number;
  /** How often a dead process's claim on a task is taken over before the task is a dead letter. */
  readonly maxRecoveries: number;
  /** Where the tasks' temp folders go; default `tasks-tmp` beside the SQLite file, else `./data/tasks-tmp`. */
  readonly tmpDir?: string | undefined;
}

/** What the running service needs from the runtime. */
export interface TaskServiceStart {
  readonly store: Store;
  readonly owner: string;
  readonly clock: () => number;
  readonly logger: Logger;
  /** The `api` of a try (see `TaskRunnerOptions.api`). */
  readonly api: (scopeKey: string, rerun: boolean) => Api;
}

/** What a handler's `ctx.unlost.task` call is turned into (see {@link TaskService.prepare}). */
export interface HandlerTaskCall {
  readonly kind: string;
  readonly payload: unknown;
  readonly options: TaskAddOptions;
  /** The deterministic id when no key is given: the update and the call's position. */
  readonly id: string;
  /** The update's sender and chat (the defaults). */
  readonly from: number | null;
  readonly chat: number | null;
  /**
   * The try's tasks so far, not committed yet: counted by the queue limit, and this one is
   * added to it at once (taken out again when refused), so calls not awaited count each other.
   */
  readonly earlier: NewTask[];
}

const PRIVATE_TEMP_ROOTS = new WeakMap<Store, string>();

/** See the module comment. */
export class TaskService implements Tasks, UncommittedEffects {
  private readonly handlers = new Map<string, TaskHandler>();
  private runner: TaskRunner | undefined;
  private started: TaskServiceStart | undefined;
  /** Tasks of completions accepted but not committed yet (journal polling), per `kind user`. */
  private readonly uncommitted = new Map<string, number>();
  /** A handler added a task since the last {@link committed}. */
  private addedByHandlers = false;
  private tempDirs: TaskTempDirs | undefined;

  constructor(private readonly settings: TaskServiceSettings) {}

  /** {@inheritDoc Tasks.handle} */
  handle<P = unknown, R = unknown>(kind: string, fn: TaskFunction<P, R>, options: TaskHandlerOptions = {}): void {
    requireKind(kind);
    if (typeof fn !== "function") throw new UnlostError("INVALID_ARGUMENT", `tasks.handle(${JSON.stringify(kind)}): the handler must be a function`);
    if (this.handlers.has(kind)) throw new UnlostError("INVALID_ARGUMENT", `tasks of kind ${JSON.stringify(kind)} already have a handler; one per kind`);
    this.handlers.set(kind, { kind, fn: fn as TaskFunction, options: resolveTaskOptions(kind, options) });
    this.runner?.wake();
  }

  /** Starts running the handled kinds on `deps.store` (after the store is open). */
  async start(deps: TaskServiceStart): Promise<void> {
    this.started = deps;
    this.tempDirs = new TaskTempDirs(await this.tempRoot(deps.store));
    this.runner = new TaskRunner({
      store: deps.store.tasks, owner: deps.owner, clock: deps.clock, logger: deps.logger, tempDirs: this.tempDirs, api: deps.api,
      leaseMs: this.settings.leaseMs, maxRecoveries: this.settings.maxRecoveries, pollMs: this.settings.pollMs, handlers: () => this.handlers.values(),
    });
    await this.runner.start();
  }

  /** Stops: running tasks may finish within the grace period; the rest are queued again. */
  async stop(): Promise<void> {
    const runner = this.runner;
    this.runner = undefined;
    await runner?.stop(this.settings.graceMs);
    // The store stays known: handlers finishing meanwhile may still add tasks (a closed store
    // then refuses with STOPPED). The next start counts uncommitted tasks afresh.
    this.uncommitted.clear();
  }

  /** The folder of the tasks' temp folders (for tests and tools), once started. */
  get tempFolder(): string | undefined {
    return this.tempDirs?.root;
  }

  private async tempRoot(store: Store): Promise<string> {
    if (this.settings.tmpDir !== undefined) return this.settings.tmpDir;
    const location = store.location;
    if (store.kind === "sqlite" && location !== ":memory:" && location !== "") return join(dirname(location), "tasks-tmp");
    if (store.kind === "sqlite") {
      let root = PRIVATE_TEMP_ROOTS.get(store);
      if (root === undefined) {
        root = await mkdtemp(join(tmpdir(), "unlost-tasks-"));
        PRIVATE_TEMP_ROOTS.set(store, root);
      }
      return root;
    }
    return join("data", "tasks-tmp");
  }

  private store(): Store {
    if (this.started === undefined) throw new UnlostError("STOPPED", "tasks live in the runtime's store: call runtime.start() first");
    return this.started.store;
  }

  /**
   * A handler's task as a `task.add` effect (committed with its update's completion), after the
   * per-user queue limit was checked.
   *
   * @throws UnlostError `TASK_QUEUE_FULL`, `INVALID_ARGUMENT`, `STOPPED`
   */
  async prepare(call: HandlerTaskCall): Promise<NewTask> {
    const task = this.newTask(call.kind, call.payload, call.options, call.id, call.from, call.chat);
    const before = call.earlier.filter((t) => t.kind === task.kind && t.userId === task.userId).length;
    call.earlier.push(task);
    try {
      await this.checkQueueLimit(task, before);
    } catch (error) {
      call.earlier.splice(call.earlier.indexOf(task), 1);
      throw error;
    }
    this.addedByHandlers = true;
    return task;
  }

  /** {@inheritDoc Tasks.add} */
  async add(kind: string, payload: unknown, options: TaskAddOptions = {}): Promise<string> {
    const store = this.store();
    const task = this.newTask(kind, payload, options, `t-${randomUUID()}`, null, null);
    await this.checkQueueLimit(task, 0);
    const added = await store.tasks.add(task, { now: this.started!.clock() });
    // Acknowledged means on disk: the caller may tell a user "queued".
    await store.sync();
    this.runner?.wake();
    return added.id;
  }

  private newTask(kind: string, payload: unknown, options: TaskAddOptions, id: string, from: number | null, chat: number | null): NewTask {
    requireKind(kind);
    if (typeof options !== "object" || options === null) throw new UnlostError("INVALID_ARGUMENT", "task options must be an object ({ userId, chatId, key, delayMs })");
    let json: string | undefined;
    try {
      json = JSON.stringify(payload);
    } catch (error) {
      throw new UnlostError("INVALID_ARGUMENT", `a task's payload must be JSON-serialisable (it is stored): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
    if (json === undefined) throw new UnlostError("INVALID_ARGUMENT", "a task's payload must be JSON-serialisable (it is stored); got undefined or a function. Pass null for no payload.");
    const delay = options.delayMs ?? 0;
    if (!Number.isSafeInteger(delay) || delay < 0) throw new UnlostError("INVALID_ARGUMENT", `task option delayMs must be a whole number of ms ≥ 0; got ${JSON.stringify(options.delayMs)}`);
    const handler = this.handlers.get(kind);
    const task: NewTask = {
      id: options.key === undefined ? id : `key:${options.key}`,
      kind,
      payload: json,
      userId: options.userId === undefined ? from : options.userId,
      chatId: options.chatId === undefined ? chat : options.chatId,
      key: options.key ?? null,
      maxAttempts: handler?.options.attempts ?? DEFAULT_TASK_ATTEMPTS,
      notBefore: delay === 0 ? null : (this.started?.clock() ?? Date.now()) + delay,
    };
    validateNewTask(task);
    return task;
  }

  private async checkQueueLimit(task: NewTask, earlier: number): Promise<void> {
    const limit = this.handlers.get(task.kind)?.options.perUserQueueLimit ?? Number.POSITIVE_INFINITY;
    if (task.userId === null || limit === Number.POSITIVE_INFINITY) return;
    const stored = await this.store().tasks.countOpen(task.kind, task.userId);
    const open = stored + (this.uncommitted.get(`${task.kind} ${task.userId}`) ?? 0) + earlier;
    if (open >= limit) {
      throw new UnlostError(
        "TASK_QUEUE_FULL",
        `user ${task.userId} already has ${open} ${task.kind} task${open === 1 ? "" : "s"} queued or running, the most allowed (perUserQueueLimit ${limit}); the new one was not added. Ask them to wait until one finishes (or cancel one with runtime.tasks.cancel).`,
        { details: { kind: task.kind, userId: task.userId, limit, open } },
      );
    }
  }

  /** {@inheritDoc UncommittedEffects.added} */
  added(effects: readonly StoreEffect[]): void {
    for (const e of effects) if (e.kind === "task.add" && e.task.userId !== null) this.count(`${e.task.kind} ${e.task.userId}`, 1);
  }

  /** {@inheritDoc UncommittedEffects.removed} */
  removed(effects: readonly StoreEffect[]): void {
    for (const e of effects) if (e.kind === "task.add" && e.task.userId !== null) this.count(`${e.task.kind} ${e.task.userId}`, -1);
  }

  private count(key: string, by: number): void {
    const n = (this.uncommitted.get(key) ?? 0) + by;
    if (n <= 0) this.uncommitted.delete(key);
    else this.uncommitted.set(key, n);
  }

  /** Completions were committed: when handlers added tasks, the runner looks for them now. */
  committed(): void {
    if (!this.addedByHandlers) return;
    this.addedByHandlers = false;
    this.runner?.wake();
  }

  /** {@inheritDoc Tasks.cancel} */
  async cancel(id: string): Promise<TaskCancelResult> {
    const result = await this.store().tasks.cancel(id, { now: this.started!.clock() });
    if (result === "cancelling") this.runner?.abortHere(id);
    return result;
  }

  /** {@inheritDoc Tasks.get} */
  async get(id: string): Promise<TaskInfo | null> {
    const record = await this.store().tasks.get(id);
    return record === null ? null : taskInfo(record);
  }

  /** {@inheritDoc Tasks.stats} */
  async stats(): Promise<TaskStats> {
    const byKind: Record<string, Record<TaskState, number>> = {};
    for (const c of await this.store().tasks.counts()) {
      (byKind[c.kind] ??= { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 })[c.state] = c.count;
    }
    const counters = this.runner?.counters ?? { done: 0, failed: 0, deadLettered: 0, released: 0, cancelled: 0 };
    return { byKind, process: { running: this.runner?.running ?? 0, ...counters } };
  }

  /** {@inheritDoc Tasks.deadLetters} */
  get deadLetters(): TaskDeadLetters {
    return {
      list: async (options = {}) => (await this.store().tasks.deadLetters(options)).map(taskInfo),
      retry: async (selector: TaskDeadLetterSelector) => {
        const n = await this.store().tasks.retry(selector, { now: this.started!.clock() });
        this.runner?.wake();
        return n;
      },
      purge: (selector: TaskDeadLetterSelector) => this.store().tasks.purge(selector),
    };
  }
}

function parsed(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The public view of a stored task. */
export function taskInfo(r: TaskRecord): TaskInfo {
  return {
    id: r.id, kind: r.kind, state: r.state, payload: parsed(r.payload), userId: r.userId, chatId: r.chatId, key: r.key,
    progress: parsed(r.progress), progressNote: r.progressNote, result: parsed(r.result), failures: r.failures, maxAttempts: r.maxAttempts,
    lastError: r.lastError, cancelRequested: r.cancelRequested, createdAt: r.createdAt, dueAt: r.dueAt, finishedAt: r.finishedAt,
  };
}

/** Tells both `first` (bot data) and the tasks of effects accepted and committed (journal polling). */
export function withTaskTracking(first: UncommittedEffects, tasks: TaskService): UncommittedEffects {
  return {
    added(effects) {
      first.added(effects);
      tasks.added(effects);
    },
    removed(effects) {
      first.removed(effects);
      tasks.removed(effects);
    },
  };
}
