/**
 * Tasks on SQLite: the `tasks` table (see task-types.ts for the model). One writer at a time
 * (`BEGIN IMMEDIATE`), so a claim's counts and its updates cannot interleave with another
 * process's claim on the same file.
 *
 * @module
 */
import type { EpochMs } from "../inbox-types.js";
import type {
  ClaimedTask, NewTask, TaskAddResult, TaskCancelResult, TaskClaimOptions, TaskCount, TaskDeadLetterListOptions,
  TaskDeadLetterSelector, TaskLease, TaskLeaseResult, TaskOutcome, TaskRecord, TaskStore,
} from "../task-types.js";
import {
  diedTooOftenError, MAX_TASK_ID_LENGTH, MAX_TASK_KIND_LENGTH, MAX_TASK_NOTE_LENGTH, requireJsonText, TASK_COLUMNS, taskRecord,
  validateLease, validateNewTask, validateTaskClaim, validateTaskOutcome, validateTaskSelector, type TaskRow,
} from "../task-validate.js";
import { MAX_ERROR_LENGTH, requireInt, requireText, requireTime } from "../validate.js";
import { ACKNOWLEDGED_SOON, type SqliteDatabase } from "./database.js";

/** Adds `task` unless its id or key exists; inside a write transaction (a settle's, or `add`'s own). */
export function insertTask(db: SqliteDatabase, task: NewTask, now: number): TaskAddResult {
  const inserted = db
    .statement(
      `INSERT OR IGNORE INTO tasks (id, kind, payload, user_id, chat_id, idem_key, state, max_attempts, due_at, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
    )
    .run(task.id, task.kind, task.payload, task.userId, task.chatId, task.key, task.maxAttempts, task.notBefore ?? now, now, now);
  if (inserted.changes === 1) return { id: task.id, created: true };
  const existing = db.statement("SELECT id FROM tasks WHERE id = ? OR (idem_key IS NOT NULL AND idem_key = ?) LIMIT 1").get(task.id, task.key) as { id: string };
  return { id: existing.id, created: false };
}

/** The WHERE of a selector of dead letters, and its parameters. */
function selectorSql(selector: TaskDeadLetterSelector): [string, unknown[]] {
  if ("ids" in selector) return ["id IN (SELECT value FROM json_each(?))", [JSON.stringify(selector.ids)]];
  if ("kind" in selector) return ["kind = ?", [selector.kind]];
  return ["1 = 1", []];
}

/** The fence of a try's writes. */
const FENCE = "id = ? AND state = 'running' AND lease_owner = ? AND runs = ?";

/** {@link TaskStore} on SQLite. */
export class SqliteTasks implements TaskStore {
  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(private readonly db: SqliteDatabase) {}

  private now(now: EpochMs | undefined): number {
    return requireTime("now", now ?? this.db.clock());
  }

  /** {@inheritDoc TaskStore.add} */
  async add(task: NewTask, options: { readonly now?: EpochMs } = {}): Promise<TaskAddResult> {
    validateNewTask(task);
    const now = this.now(options.now);
    // Acknowledged to the caller (`runtime.tasks.add` resolves after `sync()`).
    return this.db.write("add a task", () => insertTask(this.db, task, now), ACKNOWLEDGED_SOON);
  }

  /** {@inheritDoc TaskStore.claim} */
  async claim(options: TaskClaimOptions): Promise<ClaimedTask[]> {
    const now = this.now(options.now);
    const { leaseMs, maxRecoveries } = validateTaskClaim(options);
    const db = this.db;
    return db.write("claim tasks", () => {
      const claimed: ClaimedTask[] = [];
      for (const k of options.kinds) {
        if (k.take === 0) continue;
        // Claims of dead processes: a cancelled one ends; one that died too often is a dead letter.
        db.statement(
          `UPDATE tasks SET state = 'cancelled', finished_at = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL
           WHERE kind = ? AND state = 'running' AND lease_until <= ? AND cancel_requested = 1`,
        ).run(now, now, k.kind, now);
        const doomed = db.statement(`SELECT id, recoveries FROM tasks WHERE kind = ? AND state = 'running' AND lease_until <= ? AND recoveries >= ?`).all(k.kind, now, maxRecoveries) as { id: string; recoveries: number }[];
        for (const d of doomed) {
          db.statement(
            `UPDATE tasks SET state = 'failed', failures = failures + 1, finished_at = ?, updated_at = ?, lease_owner = NULL, lease_until = NULL, last_error = ? WHERE id = ?`,
          ).run(now, now, db.freeText(diedTooOftenError(d.recoveries), MAX_ERROR_LENGTH), d.id);
        }
        const live = (db.statement("SELECT count(*) AS n FROM tasks WHERE kind = ? AND state = 'running' AND lease_until > ?").get(k.kind, now) as { n: number }).n;
        const free = Math.min(k.take, k.concurrency - live);
        if (free <= 0) continue;
        // Oldest due first; a user's tasks only up to their free per-user slots (the window
        // numbers each user's candidates), so one user's backlog never holds up the others.
        const picked = db
          .statement(
            `WITH busy AS (
               SELECT user_id, count(*) AS n FROM tasks
               WHERE kind = ? AND state = 'running' AND lease_until > ? AND user_id IS NOT NULL GROUP BY user_id
             ), cand AS (
               SELECT seq, state, user_id, due_at, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY due_at, seq) AS rn FROM tasks
               WHERE kind = ? AND ((state = 'queued' AND due_at <= ?) OR (state = 'running' AND lease_until <= ?))
             )
             SELECT cand.seq, cand.state FROM cand LEFT JOIN busy ON busy.user_id = cand.user_id
             WHERE cand.user_id IS NULL OR cand.rn + coalesce(busy.n, 0) <= ?
             ORDER BY cand.due_at, cand.seq LIMIT ?`,
          )
          .all(k.kind, now, k.kind, now, now, k.perUser, free) as { seq: number; state: string }[];
        for (const { seq, state } of picked) {
          const row = db
            .statement(
              `UPDATE tasks SET recoveries = recoveries + (state = 'running'), state = 'running', runs = runs + 1,
                 lease_owner = ?, lease_until = ?, updated_at = ?
               WHERE seq = ? RETURNING ${TASK_COLUMNS}`,
            )
            .get(options.owner, now + leaseMs, now, seq) as TaskRow;
          const task = taskRecord(row);
          claimed.push({ lease: { id: task.id, owner: options.owner, run: task.runs }, task, recovered: state === "running" });
        }
      }
      return claimed;
    });
  }

  /** {@inheritDoc TaskStore.extend} */
  async extend(lease: TaskLease, options: { readonly leaseMs: number; readonly now?: EpochMs }): Promise<TaskLeaseResult> {
    validateLease(lease);
    const leaseMs = requireInt("leaseMs", options.leaseMs, 1);
    const now = this.now(options.now);
    const row = this.db.write("extend a task's claim", () =>
      this.db.statement(`UPDATE tasks SET lease_until = ? WHERE ${FENCE} RETURNING cancel_requested`).get(now + leaseMs, lease.id, lease.owner, lease.run),
    ) as { cancel_requested: number } | undefined;
    return row === undefined ? { ok: false } : { ok: true, cancelRequested: row.cancel_requested === 1 };
  }

  /** {@inheritDoc TaskStore.progress} */
  async progress(lease: TaskLease, value: string, note: string | null, options: { readonly now?: EpochMs } = {}): Promise<TaskLeaseResult> {
    validateLease(lease);
    requireJsonText("progress", value);
    const now = this.now(options.now);
    const row = this.db.write("record a task's progress", () =>
      this.db
        .statement(`UPDATE tasks SET progress = ?, progress_note = ?, updated_at = ? WHERE ${FENCE} RETURNING cancel_requested`)
        .get(value, note === null ? null : this.db.freeText(note, MAX_TASK_NOTE_LENGTH), now, lease.id, lease.owner, lease.run),
    ) as { cancel_requested: number } | undefined;
    return row === undefined ? { ok: false } : { ok: true, cancelRequested: row.cancel_requested === 1 };
  }

  /** {@inheritDoc TaskStore.settle} */
  async settle(lease: TaskLease, outcome: TaskOutcome, options: { readonly now?: EpochMs } = {}): Promise<"settled" | "stale"> {
    validateLease(lease);
    validateTaskOutcome(outcome);
    const now = this.now(options.now);
    const db = this.db;
    const fence = [lease.id, lease.owner, lease.run];
    const end = "lease_owner = NULL, lease_until = NULL, updated_at = ?";
    // A released or retried task whose cancel was asked meanwhile ends cancelled instead.
    const requeue = "state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, finished_at = CASE WHEN cancel_requested = 1 THEN ? ELSE NULL END";
    const changes = db.write("settle a task", () => {
      switch (outcome.kind) {
        case "done":
          return db.statement(`UPDATE tasks SET state = 'done', result = ?, finished_at = ?, ${end} WHERE ${FENCE}`).run(outcome.result, now, now, ...fence).changes;
        case "retry":
          return db
            .statement(`UPDATE tasks SET ${requeue}, failures = failures + 1, due_at = ?, last_error = ?, ${end} WHERE ${FENCE}`)
            .run(now, Math.floor(outcome.at), db.freeText(outcome.error, MAX_ERROR_LENGTH), now, ...fence).changes;
        case "dead":
          return db
            .statement(`UPDATE tasks SET state = 'failed', failures = failures + 1, finished_at = ?, last_error = ?, ${end} WHERE ${FENCE}`)
            .run(now, db.freeText(outcome.error, MAX_ERROR_LENGTH), now, ...fence).changes;
        case "release":
          return db
            .statement(`UPDATE tasks SET ${requeue}, due_at = ?, last_error = coalesce(?, last_error), ${end} WHERE ${FENCE}`)
            .run(now, Math.floor(outcome.at), outcome.error === undefined ? null : db.freeText(outcome.error, MAX_ERROR_LENGTH), now, ...fence).changes;
        case "cancelled":
          return db.statement(`UPDATE tasks SET state = 'cancelled', finished_at = ?, ${end} WHERE ${FENCE}`).run(now, now, ...fence).changes;
      }
    });
    return changes === 1 ? "settled" : "stale";
  }

  /** {@inheritDoc TaskStore.cancel} */
  async cancel(id: string, options: { readonly now?: EpochMs } = {}): Promise<TaskCancelResult> {
    requireText("task id", id, MAX_TASK_ID_LENGTH);
    const now = this.now(options.now);
    const db = this.db;
    return db.write("cancel a task", (): TaskCancelResult => {
      if (db.statement("UPDATE tasks SET state = 'cancelled', finished_at = ?, updated_at = ? WHERE id = ? AND state = 'queued'").run(now, now, id).changes === 1) return "cancelled";
      if (db.statement("UPDATE tasks SET cancel_requested = 1, updated_at = ? WHERE id = ? AND state = 'running'").run(now, id).changes === 1) return "cancelling";
      return db.statement("SELECT 1 FROM tasks WHERE id = ?").get(id) === undefined ? "not-found" : "finished";
    });
  }

  /** {@inheritDoc TaskStore.get} */
  async get(id: string): Promise<TaskRecord | null> {
    requireText("task id", id, MAX_TASK_ID_LENGTH);
    const row = this.db.read("read a task", () => this.db.statement(`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ?`).get(id)) as TaskRow | undefined;
    return row === undefined ? null : taskRecord(row);
  }

  /** {@inheritDoc TaskStore.countOpen} */
  async countOpen(kind: string, userId: number): Promise<number> {
    requireText("task kind", kind, MAX_TASK_KIND_LENGTH);
    requireInt("userId", userId, Number.MIN_SAFE_INTEGER);
    const row = this.db.read("count a user's tasks", () =>
      this.db.statement("SELECT count(*) AS n FROM tasks WHERE kind = ? AND user_id = ? AND state IN ('queued', 'running')").get(kind, userId),
    ) as { n: number };
    return row.n;
  }

  /** {@inheritDoc TaskStore.counts} */
  async counts(): Promise<TaskCount[]> {
    return this.db.read("count tasks", () => this.db.statement("SELECT kind, state, count(*) AS count FROM tasks GROUP BY kind, state ORDER BY kind, state").all()) as TaskCount[];
  }

  /** {@inheritDoc TaskStore.deadLetters} */
  async deadLetters(options: TaskDeadLetterListOptions = {}): Promise<TaskRecord[]> {
    const limit = requireInt("limit", options.limit ?? 100, 1, 1_000);
    const where = ["state = 'failed'"];
    const params: unknown[] = [];
    if (options.kind !== undefined) {
      where.push("kind = ?");
      params.push(requireText("task kind", options.kind, MAX_TASK_KIND_LENGTH));
    }
    if (options.userId !== undefined) {
      where.push("user_id = ?");
      params.push(requireInt("userId", options.userId, Number.MIN_SAFE_INTEGER));
    }
    const rows = this.db.read("list task dead letters", () =>
      this.db.statement(`SELECT ${TASK_COLUMNS} FROM tasks WHERE ${where.join(" AND ")} ORDER BY finished_at DESC, seq DESC LIMIT ?`).all(...params, limit),
    ) as TaskRow[];
    return rows.map(taskRecord);
  }

  /** {@inheritDoc TaskStore.retry} */
  async retry(selector: TaskDeadLetterSelector, options: { readonly now?: EpochMs } = {}): Promise<number> {
    validateTaskSelector(selector);
    const now = this.now(options.now);
    const [where, params] = selectorSql(selector);
    return this.db.write("retry task dead letters", () =>
      this.db
        .statement(
          `UPDATE tasks SET state = 'queued', failures = 0, recoveries = 0, due_at = ?, finished_at = NULL, cancel_requested = 0, updated_at = ?
           WHERE state = 'failed' AND ${where}`,
        )
        .run(now, now, ...params).changes,
    );
  }

  /** {@inheritDoc TaskStore.purge} */
  async purge(selector: TaskDeadLetterSelector): Promise<number> {
    validateTaskSelector(selector);
    const [where, params] = selectorSql(selector);
    return this.db.write("purge task dead letters", () => this.db.statement(`DELETE FROM tasks WHERE state = 'failed' AND ${where}`).run(...params).changes);
  }

  /** {@inheritDoc TaskStore.prune} */
  async prune(options: { readonly finishedBefore: EpochMs }): Promise<number> {
    const before = requireTime("finishedBefore", options.finishedBefore);
    return this.db.write("prune finished tasks", () =>
      this.db.statement("DELETE FROM tasks WHERE state IN ('done', 'cancelled') AND finished_at < ?").run(before).changes,
    );
  }
}
