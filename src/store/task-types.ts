/**
 * Durable tasks: long work a handler (or any code) starts and a task runner does beside message
 * handling (a download, a report, a conversion). The store keeps each task's state, claims the
 * runnable ones within a global limit per kind and a per-user limit (across processes: a claim
 * is a lease with an owner and an expiry, and a dead process's claims are taken over once it
 * expired), and records progress, results, retries and dead letters. Every operation is one
 * transaction; the runner (src/tasks/) decides what to do, the store only records it.
 *
 * States: `queued` (waits for its due time and a free slot) → `running` (claimed, leased) →
 * `done` | `failed` (a dead letter: its attempts used up) | `cancelled`; a failed try goes back
 * to `queued` with a later due time.
 *
 * @module
 */
import type { EpochMs } from "./inbox-types.js";

/** Where a task is in its life. */
export type TaskState = "queued" | "running" | "done" | "failed" | "cancelled";

/** A task to add: everything chosen by the caller, so that adding it again changes nothing. */
export interface NewTask {
  /** Its id (≤ 256 characters): deterministic for a handler's task, so a replayed update adds it once. */
  readonly id: string;
  /** Which handler runs it (`runtime.tasks.handle(kind, …)`), ≤ 100 characters. */
  readonly kind: string;
  /** Its input as JSON text. */
  readonly payload: string;
  /** The user it is for (per-user limits count by it), or null. */
  readonly userId: number | null;
  /** The chat its results go to, or null. */
  readonly chatId: number | null;
  /** The caller's idempotency key (a second add with the same key adds nothing), or null. */
  readonly key: string | null;
  /**
   * Tries before it becomes a dead letter (1..1000), as known when it was added (the runner
   * applies its kind's `attempts`; this is what status shows when no process handles the kind).
   */
  readonly maxAttempts: number;
  /** Not before this time (ms epoch); null for at once. */
  readonly notBefore: EpochMs | null;
}

/** What {@link TaskStore.add} did. */
export interface TaskAddResult {
  /** The task's id: the new one, or the one already stored under the same id or key. */
  readonly id: string;
  /** False when a task with this id or key existed (nothing was written). */
  readonly created: boolean;
}

/** A task as stored. */
export interface TaskRecord {
  readonly id: string;
  readonly kind: string;
  /** Its input as JSON text. */
  readonly payload: string;
  readonly userId: number | null;
  readonly chatId: number | null;
  readonly key: string | null;
  readonly state: TaskState;
  /** Tries that failed (they count against `maxAttempts`; released and deferred tries do not). */
  readonly failures: number;
  readonly maxAttempts: number;
  /** Claims so far (the current try's number while running). */
  readonly runs: number;
  /** Claims taken over from a process that died holding them. */
  readonly recoveries: number;
  /** When it may run next (queued), or was due. */
  readonly dueAt: EpochMs;
  readonly createdAt: EpochMs;
  readonly updatedAt: EpochMs;
  /** When it finished (done, failed, cancelled), or null. */
  readonly finishedAt: EpochMs | null;
  /** The process holding its claim while running, and until when. */
  readonly leaseOwner: string | null;
  readonly leaseUntil: EpochMs | null;
  /** A cancel was asked while it ran: its runner aborts it. */
  readonly cancelRequested: boolean;
  /** The last progress reported (JSON text), and its note. */
  readonly progress: string | null;
  readonly progressNote: string | null;
  /** What it returned (JSON text) once done, or null. */
  readonly result: string | null;
  /** The last failure's message (kept after a later success), or null. */
  readonly lastError: string | null;
}

/** A kind of task the claimer may take, with its limits. */
export interface TaskKindLimit {
  readonly kind: string;
  /** At most this many of the kind run at once, across every process on the store (≥ 1). */
  readonly concurrency: number;
  /** At most this many of one user's tasks of the kind run at once (≥ 1); tasks without a user are not limited by it. */
  readonly perUser: number;
  /** Take at most this many now (this process's free slots), ≥ 0. */
  readonly take: number;
}

/** Options of {@link TaskStore.claim}. */
export interface TaskClaimOptions {
  /** The claiming process. */
  readonly owner: string;
  /** How long the claim holds without an {@link TaskStore.extend}, ms. */
  readonly leaseMs: number;
  /** The kinds this process runs. */
  readonly kinds: readonly TaskKindLimit[];
  /**
   * A claim whose process died (lease expired) is taken over at most this many times; past it
   * the task becomes a dead letter (it may be what kills its process). Default 5.
   */
  readonly maxRecoveries?: number;
  readonly now?: EpochMs;
}

/** The claim on a running task: the fence of every later write of its try. */
export interface TaskLease {
  readonly id: string;
  readonly owner: string;
  /** The task's `runs` at this claim: a later claim (a take-over) makes this one stale. */
  readonly run: number;
}

/** A task handed to a runner. */
export interface ClaimedTask {
  readonly lease: TaskLease;
  readonly task: TaskRecord;
  /** True when this claim took the task over from a process that died running it. */
  readonly recovered: boolean;
}

/** How a try ended. */
export type TaskOutcome =
  /** It returned: the task is done; `result` is JSON text or null. */
  | { readonly kind: "done"; readonly result: string | null }
  /** It failed and is tried again at `at` (one attempt used). */
  | { readonly kind: "retry"; readonly at: EpochMs; readonly error: string }
  /** It failed for the last time: a dead letter (one attempt used). */
  | { readonly kind: "dead"; readonly error: string }
  /**
   * It did not fail on its own: queued again for `at` without using an attempt (a stop's
   * deadline, an open circuit breaker). `error` says why, when there is a reason to keep.
   */
  | { readonly kind: "release"; readonly at: EpochMs; readonly error?: string }
  /** It stopped because it was cancelled. */
  | { readonly kind: "cancelled" };

/** What a fenced write found. */
export type TaskLeaseResult =
  /** Written. `cancelRequested`: a cancel was asked meanwhile (abort the try). */
  | { readonly ok: true; readonly cancelRequested: boolean }
  /** The claim is no longer this try's (taken over, cancelled while queued, purged): stop without writing. */
  | { readonly ok: false };

/** What {@link TaskStore.cancel} did. */
export type TaskCancelResult =
  /** It was queued: it is cancelled now. */
  | "cancelled"
  /** It runs: flagged, its runner aborts it (it ends `cancelled`). */
  | "cancelling"
  /** It had finished already (done, failed or cancelled): nothing changed. */
  | "finished"
  /** No such task. */
  | "not-found";

/** Which dead letters (failed tasks) an operation applies to. */
export type TaskDeadLetterSelector = { readonly ids: readonly string[] } | { readonly kind: string } | { readonly all: true };

/** Options of {@link TaskStore.deadLetters}. */
export interface TaskDeadLetterListOptions {
  /** Only this kind. */
  readonly kind?: string;
  /** Only tasks of this user. */
  readonly userId?: number;
  /** At most this many (1..1000, default 100), newest first. */
  readonly limit?: number;
}

/** Tasks of one kind in one state. */
export interface TaskCount {
  readonly kind: string;
  readonly state: TaskState;
  readonly count: number;
}

/** Durable task operations. Each call is one transaction. */
export interface TaskStore {
  /**
   * Adds a task, queued. Idempotent: when a task with the same id or key exists, nothing is
   * written and its id is returned with `created: false`.
   *
   * @throws UnlostError `INVALID_ARGUMENT` for a malformed task
   */
  add(task: NewTask, options?: { readonly now?: EpochMs }): Promise<TaskAddResult>;
  /**
   * Claims runnable tasks (queued and due, or running under an expired claim) of the given
   * kinds, oldest due first, within each kind's global and per-user limits counted over every
   * process's live claims. Atomic across processes (two claimers never exceed a limit together).
   */
  claim(options: TaskClaimOptions): Promise<ClaimedTask[]>;
  /** Extends a running try's claim to `now + leaseMs`; tells whether a cancel was asked. */
  extend(lease: TaskLease, options: { readonly leaseMs: number; readonly now?: EpochMs }): Promise<TaskLeaseResult>;
  /** Records progress (JSON text, and a note) of a running try; tells whether a cancel was asked. */
  progress(lease: TaskLease, value: string, note: string | null, options?: { readonly now?: EpochMs }): Promise<TaskLeaseResult>;
  /** Ends a try (fenced by its claim): done, retry, dead letter, released or cancelled. */
  settle(lease: TaskLease, outcome: TaskOutcome, options?: { readonly now?: EpochMs }): Promise<"settled" | "stale">;
  /** Cancels a task: a queued one at once, a running one by flagging it for its runner. */
  cancel(id: string, options?: { readonly now?: EpochMs }): Promise<TaskCancelResult>;
  /** One task, or null. */
  get(id: string): Promise<TaskRecord | null>;
  /** Tasks of `kind` of `userId` that are queued or running (what a per-user queue limit counts). */
  countOpen(kind: string, userId: number): Promise<number>;
  /** Counts of every kind by state (for `unlost status`); kinds and states with none are left out. */
  counts(): Promise<TaskCount[]>;
  /** Dead letters (failed tasks), newest first. */
  deadLetters(options?: TaskDeadLetterListOptions): Promise<TaskRecord[]>;
  /** Queues dead letters again with fresh attempts, due now; returns how many. */
  retry(selector: TaskDeadLetterSelector, options?: { readonly now?: EpochMs }): Promise<number>;
  /** Deletes dead letters for good; returns how many. */
  purge(selector: TaskDeadLetterSelector): Promise<number>;
  /** Deletes done and cancelled tasks that finished before `finishedBefore`; returns how many. */
  prune(options: { readonly finishedBefore: EpochMs }): Promise<number>;
}
