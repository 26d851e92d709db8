/**
 * Tasks on PostgreSQL: the `tasks` table, as ../sqlite/tasks.ts does. Several processes claim at
 * once: a claim takes its kinds' advisory locks (one per kind, ascending hash order) before it
 * counts the live claims, so two claimers of a kind run one after the other and never exceed a
 * limit together; the rows it takes are re-checked by the UPDATE that takes them (a cancel or a
 * settle may have changed them meanwhile).
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
import { lockChats } from "./chat-locks.js";
import type { PgDatabase, Tx } from "./database.js";

/** The advisory lock class of a kind's claims ("task"). */
const TASK_LOCK_CLASS = 0x7461736b;

/** Adds `task` unless its id or key exists; inside a write transaction (a settle's, or `add`'s own). */
export async function insertTask(tx: Tx, task: NewTask, now: number): Promise<TaskAddResult> {
  const inserted = await tx.run(
    `INSERT INTO tasks (id, kind, payload, user_id, chat_id, idem_key, state, max_attempts, due_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'queued', $7, $8, $9, $9) ON CONFLICT DO NOTHING`,
    [task.id, task.kind, task.payload, task.userId, task.chatId, task.key, task.maxAttempts, task.notBefore ?? now, now],
  );
  if (inserted === 1) return { id: task.id, created: true };
  const existing = await tx.one<{ id: string }>("SELECT id FROM tasks WHERE id = $1 OR (idem_key IS NOT NULL AND idem_key = $2) LIMIT 1", [task.id, task.key]);
  // A concurrent add of the same id or key that has not committed yet: its row is not visible,
  // but ON CONFLICT waited for it, so it exists now.
  return { id: existing?.id ?? task.id, created: false };
}

/** The WHERE of a selector of dead letters, its parameters starting at `$from`. */
function selectorSql(selector: TaskDeadLetterSelector, from: number): [string, unknown[]] {
  if ("ids" in selector) return [`id = ANY($${from}::text[])`, [selector.ids]];
  if ("kind" in selector) return [`kind = $${from}`, [selector.kind]];
  return ["true", []];
}

/** The fence of a try's writes, its parameters at `$from`.. `$from + 2`. */
const fence = (from: number): string => `id = $${from} AND state = 'running' AND lease_owner = $${from + 1} AND runs = $${from + 2}`;

/** {@link TaskStore} on PostgreSQL. */
export class PgTasks implements TaskStore {
  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(private readonly db: PgDatabase) {}

  private now(now: EpochMs | undefined): number {
    return requireTime("now", now ?? this.db.clock());
  }

  /** {@inheritDoc TaskStore.add} */
  async add(task: NewTask, options: { readonly now?: EpochMs } = {}): Promise<TaskAddResult> {
    validateNewTask(task);
    const now = this.now(options.now);
    return this.db.write("add a task", (tx) => insertTask(tx, task, now));
  }

  /** {@inheritDoc TaskStore.claim} */
  async claim(options: TaskClaimOptions): Promise<ClaimedTask[]> {
    const now = this.now(options.now);
    const { leaseMs, maxRecoveries } = validateTaskClaim(options);
    const kinds = options.kinds.filter((k) => k.take > 0);
    if (kinds.length === 0) return [];
    return this.db.write("claim tasks", async (tx) => {
      await lockChats(tx, kinds.map((k) => k.kind), TASK_LOCK_CLASS);
      const claimed: ClaimedTask[] = [];
      for (const k of kinds) {
        await tx.run(
          `UPDATE tasks SET state = 'cancelled', finished_at = $1, updated_at = $1, lease_owner = NULL, lease_until = NULL
           WHERE kind = $2 AND state = 'running' AND lease_until <= $1 AND cancel_requested`,
          [now, k.kind],
        );
        const doomed = await tx.rows<{ id: string; recoveries: number }>(
          "SELECT id, recoveries FROM tasks WHERE kind = $1 AND state = 'running' AND lease_until <= $2 AND recoveries >= $3",
          [k.kind, now, maxRecoveries],
        );
        for (const d of doomed) {
          await tx.run(
            `UPDATE tasks SET state = 'failed', failures = failures + 1, finished_at = $1, updated_at = $1, lease_owner = NULL, lease_until = NULL, last_error = $2 WHERE id = $3`,
            [now, this.db.freeText(diedTooOftenError(d.recoveries), MAX_ERROR_LENGTH), d.id],
          );
        }
        const live = (await tx.one<{ n: number }>("SELECT count(*) AS n FROM tasks WHERE kind = $1 AND state = 'running' AND lease_until > $2", [k.kind, now]))?.n ?? 0;
        const free = Math.min(k.take, k.concurrency - live);
        if (free <= 0) continue;
        const picked = await tx.rows<{ seq: number; state: string }>(
          `WITH busy AS (
             SELECT user_id, count(*) AS n FROM tasks
             WHERE kind = $1 AND state = 'running' AND lease_until > $2 AND user_id IS NOT NULL GROUP BY user_id
           ), cand AS (
             SELECT seq, state, user_id, due_at, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY due_at, seq) AS rn FROM tasks
             WHERE kind = $1 AND ((state = 'queued' AND due_at <= $2) OR (state = 'running' AND lease_until <= $2))
           )
           SELECT cand.seq, cand.state FROM cand LEFT JOIN busy ON busy.user_id = cand.user_id
           WHERE cand.user_id IS NULL OR cand.rn + coalesce(busy.n, 0) <= $3
           ORDER BY cand.due_at, cand.seq LIMIT $4`,
          [k.kind, now, k.perUser, free],
        );
        for (const { seq, state } of picked) {
          // Re-checked: a cancel or a settle outside the kind's lock may have changed the row.
          const row = await tx.one<TaskRow>(
            `UPDATE tasks SET recoveries = recoveries + (CASE WHEN state = 'running' THEN 1 ELSE 0 END), state = 'running', runs = runs + 1,
               lease_owner = $1, lease_until = $2, updated_at = $3
             WHERE seq = $4 AND ((state = 'queued' AND due_at <= $3) OR (state = 'running' AND lease_until <= $3))
             RETURNING ${TASK_COLUMNS}`,
            [options.owner, now + leaseMs, now, seq],
          );
          if (row === undefined) continue;
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
    const row = await this.db.write("extend a task's claim", (tx) =>
      tx.one<{ cancel_requested: boolean }>(`UPDATE tasks SET lease_until = $1 WHERE ${fence(2)} RETURNING cancel_requested`, [now + leaseMs, lease.id, lease.owner, lease.run]),
    );
    return row === undefined ? { ok: false } : { ok: true, cancelRequested: row.cancel_requested };
  }

  /** {@inheritDoc TaskStore.progress} */
  async progress(lease: TaskLease, value: string, note: string | null, options: { readonly now?: EpochMs } = {}): Promise<TaskLeaseResult> {
    validateLease(lease);
    requireJsonText("progress", value);
    const now = this.now(options.now);
    const row = await this.db.write("record a task's progress", (tx) =>
      tx.one<{ cancel_requested: boolean }>(
        `UPDATE tasks SET progress = $1, progress_note = $2, updated_at = $3 WHERE ${fence(4)} RETURNING cancel_requested`,
        [value, note === null ? null : this.db.freeText(note, MAX_TASK_NOTE_LENGTH), now, lease.id, lease.owner, lease.run],
      ),
    );
    return row === undefined ? { ok: false } : { ok: true, cancelRequested: row.cancel_requested };
  }

  /** {@inheritDoc TaskStore.settle} */
  async settle(lease: TaskLease, outcome: TaskOutcome, options: { readonly now?: EpochMs } = {}): Promise<"settled" | "stale"> {
    validateLease(lease);
    validateTaskOutcome(outcome);
    const now = this.now(options.now);
    const f = [lease.id, lease.owner, lease.run];
    const end = "lease_owner = NULL, lease_until = NULL, updated_at = $1";
    // A released or retried task whose cancel was asked meanwhile ends cancelled instead.
    const requeue = "state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, finished_at = CASE WHEN cancel_requested THEN $1::bigint ELSE NULL END";
    const error = (text: string): string => this.db.freeText(text, MAX_ERROR_LENGTH);
    const changes = await this.db.write("settle a task", (tx) => {
      switch (outcome.kind) {
        case "done":
          return tx.run(`UPDATE tasks SET state = 'done', result = $5, finished_at = $1, ${end} WHERE ${fence(2)}`, [now, ...f, outcome.result]);
        case "retry":
          return tx.run(`UPDATE tasks SET ${requeue}, failures = failures + 1, due_at = $5, last_error = $6, ${end} WHERE ${fence(2)}`, [now, ...f, Math.floor(outcome.at), error(outcome.error)]);
        case "dead":
          return tx.run(`UPDATE tasks SET state = 'failed', failures = failures + 1, finished_at = $1, last_error = $5, ${end} WHERE ${fence(2)}`, [now, ...f, error(outcome.error)]);
        case "release":
          return tx.run(`UPDATE tasks SET ${requeue}, due_at = $5, last_error = coalesce($6, last_error), ${end} WHERE ${fence(2)}`, [now, ...f, Math.floor(outcome.at), outcome.error === undefined ? null : error(outcome.error)]);
        case "cancelled":
          return tx.run(`UPDATE tasks SET state = 'cancelled', finished_at = $1, ${end} WHERE ${fence(2)}`, [now, ...f]);
      }
    });
    return changes === 1 ? "settled" : "stale";
  }

  /** {@inheritDoc TaskStore.cancel} */
  async cancel(id: string, options: { readonly now?: EpochMs } = {}): Promise<TaskCancelResult> {
    requireText("task id", id, MAX_TASK_ID_LENGTH);
    const now = this.now(options.now);
    return this.db.write("cancel a task", async (tx): Promise<TaskCancelResult> => {
      if ((await tx.run("UPDATE tasks SET state = 'cancelled', finished_at = $1, updated_at = $1 WHERE id = $2 AND state = 'queued'", [now, id])) === 1) return "cancelled";
      if ((await tx.run("UPDATE tasks SET cancel_requested = true, updated_at = $1 WHERE id = $2 AND state = 'running'", [now, id])) === 1) return "cancelling";
      return (await tx.one("SELECT 1 FROM tasks WHERE id = $1", [id])) === undefined ? "not-found" : "finished";
    });
  }

  /** {@inheritDoc TaskStore.get} */
  async get(id: string): Promise<TaskRecord | null> {
    requireText("task id", id, MAX_TASK_ID_LENGTH);
    const row = await this.db.read("read a task", (tx) => tx.one<TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = $1`, [id]));
    return row === undefined ? null : taskRecord(row);
  }

  /** {@inheritDoc TaskStore.countOpen} */
  async countOpen(kind: string, userId: number): Promise<number> {
    requireText("task kind", kind, MAX_TASK_KIND_LENGTH);
    requireInt("userId", userId, Number.MIN_SAFE_INTEGER);
    const row = await this.db.read("count a user's tasks", (tx) =>
      tx.one<{ n: number }>("SELECT count(*) AS n FROM tasks WHERE kind = $1 AND user_id = $2 AND state IN ('queued', 'running')", [kind, userId]),
    );
    return row?.n ?? 0;
  }

  /** {@inheritDoc TaskStore.counts} */
  async counts(): Promise<TaskCount[]> {
    return this.db.read("count tasks", (tx) => tx.rows<TaskCount>('SELECT kind, state, count(*) AS count FROM tasks GROUP BY kind, state ORDER BY kind COLLATE "C", state COLLATE "C"'));
  }

  /** {@inheritDoc TaskStore.deadLetters} */
  async deadLetters(options: TaskDeadLetterListOptions = {}): Promise<TaskRecord[]> {
    const limit = requireInt("limit", options.limit ?? 100, 1, 1_000);
    const where = ["state = 'failed'"];
    const params: unknown[] = [limit];
    if (options.kind !== undefined) {
      params.push(requireText("task kind", options.kind, MAX_TASK_KIND_LENGTH));
      where.push(`kind = $${params.length}`);
    }
    if (options.userId !== undefined) {
      params.push(requireInt("userId", options.userId, Number.MIN_SAFE_INTEGER));
      where.push(`user_id = $${params.length}`);
    }
    const rows = await this.db.read("list task dead letters", (tx) =>
      tx.rows<TaskRow>(`SELECT ${TASK_COLUMNS} FROM tasks WHERE ${where.join(" AND ")} ORDER BY finished_at DESC, seq DESC LIMIT $1`, params),
    );
    return rows.map(taskRecord);
  }

  /** {@inheritDoc TaskStore.retry} */
  async retry(selector: TaskDeadLetterSelector, options: { readonly now?: EpochMs } = {}): Promise<number> {
    validateTaskSelector(selector);
    const now = this.now(options.now);
    const [where, params] = selectorSql(selector, 2);
    return this.db.write("retry task dead letters", (tx) =>
      tx.run(
        `UPDATE tasks SET state = 'queued', failures = 0, recoveries = 0, due_at = $1, finished_at = NULL, cancel_requested = false, updated_at = $1
         WHERE state = 'failed' AND ${where}`,
        [now, ...params],
      ),
    );
  }

  /** {@inheritDoc TaskStore.purge} */
  async purge(selector: TaskDeadLetterSelector): Promise<number> {
    validateTaskSelector(selector);
    const [where, params] = selectorSql(selector, 1);
    return this.db.write("purge task dead letters", (tx) => tx.run(`DELETE FROM tasks WHERE state = 'failed' AND ${where}`, params));
  }

  /** {@inheritDoc TaskStore.prune} */
  async prune(options: { readonly finishedBefore: EpochMs }): Promise<number> {
    const before = requireTime("finishedBefore", options.finishedBefore);
    return this.db.write("prune finished tasks", (tx) => tx.run("DELETE FROM tasks WHERE state IN ('done', 'cancelled') AND finished_at < $1", [before]));
  }
}
