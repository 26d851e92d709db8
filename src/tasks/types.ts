/**
 * The public shapes of tasks: what `runtime.tasks` offers, what a task's function gets, the
 * options of a kind and of one task.
 *
 * @module
 */
import type { Api } from "grammy";
import type { TaskCancelResult, TaskDeadLetterSelector, TaskState } from "../store/index.js";

/** Options of `runtime.tasks.handle(kind, fn, options)`. Every field is optional. */
export interface TaskHandlerOptions {
  /** Tasks of this kind running at once, across every process on the store. Default 4. */
  readonly concurrency?: number;
  /** One user's tasks of this kind running at once (the rest wait their turn). Default 1. */
  readonly perUser?: number;
  /**
   * A user's tasks of this kind queued or running at most: one more is refused when it is
   * added, with `UnlostError("TASK_QUEUE_FULL")`, so the handler can tell the user. Default: no limit.
   */
  readonly perUserQueueLimit?: number;
  /** Tries before a failing task becomes a dead letter. Default 3. */
  readonly attempts?: number;
  /** Wait before a retry: `baseMs` doubling per failed try, up to `maxMs`. Default 1 s, 5 min. */
  readonly backoff?: { readonly baseMs?: number; readonly maxMs?: number };
  /** A try running longer fails with `TASK_TIMEOUT` (its `signal` is aborted). Default 10 min. */
  readonly timeoutMs?: number;
}

/** Options of one task (`ctx.unlost.task`, `runtime.tasks.add`). */
export interface TaskAddOptions {
  /**
   * The user the task is for: the per-user limits count by it. In a handler the default is
   * the update's sender (`ctx.from.id`); outside, none (not limited per user).
   */
  readonly userId?: number | null;
  /** The chat its results are for. In a handler the default is the update's chat; outside, none. */
  readonly chatId?: number | null;
  /**
   * An idempotency key of yours: a second task with the same key is not added (the first one's
   * id is returned). The task's id is then `key:<key>`.
   */
  readonly key?: string;
  /** Start no earlier than this many ms from now. Default 0. */
  readonly delayMs?: number;
}

/** What a task's function gets for each try. */
export interface TaskRun<P = unknown> {
  /** The task's id (stable across tries and restarts: key your own side effects with it). */
  readonly id: string;
  readonly kind: string;
  /** The payload it was added with (parsed from its JSON). */
  readonly payload: P;
  /** The user it is for, or null. */
  readonly userId: number | null;
  /** The chat its results are for, or null. */
  readonly chatId: number | null;
  /** 1 on the first try; one more after each failed try (a restart or an open breaker does not count). */
  readonly attempt: number;
  /** True when this try took the task over from a process that died running it. */
  readonly recovered: boolean;
  /**
   * Aborted when the task is cancelled (`TASK_CANCELLED`), passes its `timeoutMs`
   * (`TASK_TIMEOUT`) or the runtime stops past its grace period (`STOPPED`; the task is
   * queued again, no attempt used): pass it to `fetch` and other cancellable work.
   */
  readonly signal: AbortSignal;
  /**
   * A folder of this task's own (mode 0700) under the data folder: removed when the try ends,
   * fails or is cancelled, and at the next start when a crash left it behind.
   */
  readonly tmpDir: string;
  /**
   * Records progress (any JSON value, and a note) for `runtime.tasks.get`; writes are coalesced
   * (the latest wins), so calling it often is cheap. Resolves once stored.
   */
  progress(value: unknown, note?: string): Promise<void>;
  /**
   * grammY's `Api` whose sends go through unlost's outbox, keyed by the task and the send's
   * position in the try: a retried task's sends that were delivered already are not sent again.
   */
  readonly api: Api;
}

/** A task's function: its result (JSON-serialisable) is stored; throwing fails the try. */
export type TaskFunction<P = unknown, R = unknown> = (task: TaskRun<P>) => Promise<R> | R;

/** A task as `runtime.tasks.get` shows it. */
export interface TaskInfo {
  readonly id: string;
  readonly kind: string;
  readonly state: TaskState;
  readonly payload: unknown;
  readonly userId: number | null;
  readonly chatId: number | null;
  /** Its idempotency key, or null. */
  readonly key: string | null;
  /** The last progress reported, and its note. */
  readonly progress: unknown;
  readonly progressNote: string | null;
  /** What it returned, once done. */
  readonly result: unknown;
  /** Failed tries so far, of `maxAttempts`. */
  readonly failures: number;
  readonly maxAttempts: number;
  /** The last failure's message (kept after a later success), or null. */
  readonly lastError: string | null;
  /** A cancel was asked while it ran. */
  readonly cancelRequested: boolean;
  readonly createdAt: number;
  /** When it may run next (queued). */
  readonly dueAt: number;
  readonly finishedAt: number | null;
}

/** Counts of tasks, for logs, status and tests. */
export interface TaskStats {
  /** Per kind, tasks in each state, in the store (every process's). */
  readonly byKind: Readonly<Record<string, Readonly<Record<TaskState, number>>>>;
  /** This process since start: tries running now, done, failed (retried or dead-lettered), released (stop, open breaker). */
  readonly process: { readonly running: number; readonly done: number; readonly failed: number; readonly deadLettered: number; readonly released: number; readonly cancelled: number };
}

/** Dead-letter operations of tasks. */
export interface TaskDeadLetters {
  /** Failed tasks, newest first (filter by kind, user). */
  list(options?: { readonly kind?: string; readonly userId?: number; readonly limit?: number }): Promise<TaskInfo[]>;
  /** Queues them again with fresh attempts; returns how many. */
  retry(selector: TaskDeadLetterSelector): Promise<number>;
  /** Deletes them for good; returns how many. */
  purge(selector: TaskDeadLetterSelector): Promise<number>;
}

/** `runtime.tasks`: durable background work beside message handling. */
export interface Tasks {
  /**
   * Runs tasks of `kind` with `fn` in this process (see {@link TaskHandlerOptions} for the
   * limits, retries and timeout). May be called before or after `start()`, once per kind.
   *
   * @throws UnlostError `INVALID_ARGUMENT` for a bad kind or option, or a kind handled twice
   */
  handle<P = unknown, R = unknown>(kind: string, fn: TaskFunction<P, R>, options?: TaskHandlerOptions): void;
  /**
   * Adds a task outside handlers (in a handler use `ctx.unlost.task`, committed with the
   * update): resolves with its id once it is stored durably.
   *
   * @throws UnlostError `TASK_QUEUE_FULL` past the kind's `perUserQueueLimit`; `INVALID_ARGUMENT`
   * for a payload that is not JSON-serialisable or a bad option; `STOPPED` before `start()`
   */
  add(kind: string, payload: unknown, options?: TaskAddOptions): Promise<string>;
  /** Cancels a task: a queued one at once, a running one through its `signal`. */
  cancel(id: string): Promise<TaskCancelResult>;
  /** A task's state, progress and result, or null. */
  get(id: string): Promise<TaskInfo | null>;
  /** Counts by kind and state, and this process's runs. */
  stats(): Promise<TaskStats>;
  /** Tasks that failed for good. */
  readonly deadLetters: TaskDeadLetters;
}
