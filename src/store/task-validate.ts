/**
 * What both backends share about tasks: the checks before any write (so they refuse the same
 * mistakes with the same messages), the columns they read and the mapping of a row.
 *
 * @module
 */
import type { NewTask, TaskClaimOptions, TaskDeadLetterSelector, TaskLease, TaskOutcome, TaskRecord, TaskState } from "./task-types.js";
import { requireInt, requireText, requireTime, invalid } from "./validate.js";

/** Longest task id (room for a prefix and a key of {@link MAX_TASK_KEY_LENGTH}). */
export const MAX_TASK_ID_LENGTH = 256;
/** Longest idempotency key of a task. */
export const MAX_TASK_KEY_LENGTH = 200;
/** Longest task kind. */
export const MAX_TASK_KIND_LENGTH = 100;
/** Longest payload, result or progress (JSON text), characters. */
export const MAX_TASK_JSON_LENGTH = 1024 * 1024;
/** Longest progress note kept. */
export const MAX_TASK_NOTE_LENGTH = 1_000;

function optionalId(name: string, value: unknown): number | null {
  if (value === null) return null;
  if (typeof value !== "number" || !Number.isSafeInteger(value)) invalid(`${name} must be an integer (a Telegram id) or null; got ${String(value)}.`);
  return value;
}

/** `text` must be JSON text of at most {@link MAX_TASK_JSON_LENGTH} characters. */
export function requireJsonText(name: string, text: unknown): string {
  if (typeof text !== "string" || text.length > MAX_TASK_JSON_LENGTH) invalid(`${name} must be JSON text of at most ${MAX_TASK_JSON_LENGTH} characters.`);
  try {
    JSON.parse(text);
  } catch {
    invalid(`${name} must be JSON text; got ${text.slice(0, 50)}.`);
  }
  return text;
}

/** Checks a task before it is added (directly or by a `task.add` effect). */
export function validateNewTask(task: NewTask): void {
  if (typeof task !== "object" || task === null) invalid("a task must be an object.");
  requireText("task id", task.id, MAX_TASK_ID_LENGTH);
  requireText("task kind", task.kind, MAX_TASK_KIND_LENGTH);
  requireJsonText("task payload", task.payload);
  optionalId("task userId", task.userId);
  optionalId("task chatId", task.chatId);
  if (task.key !== null) requireText("task key", task.key, MAX_TASK_KEY_LENGTH);
  requireInt("task maxAttempts", task.maxAttempts, 1, 1_000);
  if (task.notBefore !== null) requireTime("task notBefore", task.notBefore);
}

/** Checks a claim's options; returns its lease and take-over limit with their defaults. */
export function validateTaskClaim(options: TaskClaimOptions): { leaseMs: number; maxRecoveries: number } {
  requireText("owner", options.owner);
  const leaseMs = requireInt("leaseMs", options.leaseMs, 1);
  const maxRecoveries = requireInt("maxRecoveries", options.maxRecoveries ?? 5, 0);
  if (!Array.isArray(options.kinds)) invalid("claim kinds must be an array of { kind, concurrency, perUser, take }.");
  for (const k of options.kinds) {
    requireText("kind", k.kind, MAX_TASK_KIND_LENGTH);
    requireInt("concurrency", k.concurrency, 1);
    requireInt("perUser", k.perUser, 1);
    requireInt("take", k.take, 0);
  }
  return { leaseMs, maxRecoveries };
}

/** Checks a lease's shape. */
export function validateLease(lease: TaskLease): void {
  if (typeof lease !== "object" || lease === null) invalid("a task lease must be an object.");
  requireText("lease id", lease.id, MAX_TASK_ID_LENGTH);
  requireText("lease owner", lease.owner);
  requireInt("lease run", lease.run, 1);
}

/** Checks an outcome's shape. */
export function validateTaskOutcome(outcome: TaskOutcome): void {
  switch (outcome?.kind) {
    case "done":
      if (outcome.result !== null) requireJsonText("task result", outcome.result);
      return;
    case "retry":
      requireTime("retry at", outcome.at);
      requireText("task error", outcome.error, Number.MAX_SAFE_INTEGER);
      return;
    case "dead":
      requireText("task error", outcome.error, Number.MAX_SAFE_INTEGER);
      return;
    case "release":
      requireTime("release at", outcome.at);
      if (outcome.error !== undefined) requireText("task error", outcome.error, Number.MAX_SAFE_INTEGER);
      return;
    case "cancelled":
      return;
    default:
      invalid(`unknown task outcome: ${JSON.stringify(outcome)}`);
  }
}

/** Checks a dead-letter selector. */
export function validateTaskSelector(selector: TaskDeadLetterSelector): void {
  if (typeof selector !== "object" || selector === null) invalid("a selector must be { ids }, { kind } or { all: true }.");
  if ("ids" in selector) {
    if (!Array.isArray(selector.ids)) invalid("selector ids must be an array of task ids.");
    for (const id of selector.ids) requireText("task id", id, MAX_TASK_ID_LENGTH);
  } else if ("kind" in selector) requireText("task kind", selector.kind, MAX_TASK_KIND_LENGTH);
  else if (!("all" in selector) || selector.all !== true) invalid("a selector must be { ids }, { kind } or { all: true }.");
}

/** The columns every task read selects. */
export const TASK_COLUMNS =
  "id, kind, payload, user_id, chat_id, idem_key, state, failures, max_attempts, runs, recoveries, due_at, created_at, updated_at, " +
  "finished_at, lease_owner, lease_until, cancel_requested, progress, progress_note, result, last_error";

/** A task row as both drivers return it (PostgreSQL's bigints are parsed as numbers by unlost's pool). */
export interface TaskRow {
  id: string;
  kind: string;
  payload: string;
  user_id: number | null;
  chat_id: number | null;
  idem_key: string | null;
  state: TaskState;
  failures: number;
  max_attempts: number;
  runs: number;
  recoveries: number;
  due_at: number;
  created_at: number;
  updated_at: number;
  finished_at: number | null;
  lease_owner: string | null;
  lease_until: number | null;
  cancel_requested: number | boolean;
  progress: string | null;
  progress_note: string | null;
  result: string | null;
  last_error: string | null;
}

/** The public record of a row. */
export function taskRecord(r: TaskRow): TaskRecord {
  return {
    id: r.id, kind: r.kind, payload: r.payload, userId: r.user_id, chatId: r.chat_id, key: r.idem_key, state: r.state,
    failures: r.failures, maxAttempts: r.max_attempts, runs: r.runs, recoveries: r.recoveries, dueAt: r.due_at,
    createdAt: r.created_at, updatedAt: r.updated_at, finishedAt: r.finished_at, leaseOwner: r.lease_owner, leaseUntil: r.lease_until,
    cancelRequested: r.cancel_requested === true || r.cancel_requested === 1, progress: r.progress, progressNote: r.progress_note,
    result: r.result, lastError: r.last_error,
  };
}

/** Why a task whose process died too often while running it is a dead letter. */
export function diedTooOftenError(recoveries: number): string {
  return `the process running this task died ${recoveries + 1} times while running it (kill, crash or out of memory); it may be what kills it, so it is not run again. Retry it from the dead letters once the cause is fixed.`;
}
