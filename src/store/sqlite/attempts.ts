/**
 * The history of handler tries that did not complete an update, on SQLite (`inbox_attempts`,
 * migration 9; see inspect-types.ts). Written inside the transactions that learn of such a try
 * (a failed settle, a recovery, a journal move), so it is exactly as durable as the outcome.
 *
 * @module
 */
import { MAX_ATTEMPTS_KEPT, type HandlerAttempt } from "../inspect-types.js";
import type { SqliteDatabase } from "./database.js";

/** What a lost try's history says: its process died or stopped while it ran. */
export const LOST_TRY = "the try did not finish: its process died or stopped while the handler ran (the lease ran out and the update was taken back)";

/** One try to record; its error already scrubbed and cut (`freeText`). */
export interface AttemptToRecord {
  readonly updateId: number;
  readonly attempt: number;
  readonly owner: string | null;
  readonly startedAt: number | null;
  readonly endedAt: number;
  readonly outcome: HandlerAttempt["outcome"];
  readonly error: string | null;
}

/** The columns of a try's row, and its values in their order (for every backend's insert). */
export const ATTEMPT_COLUMNS = "update_id, attempt, owner, started_at, ended_at, outcome, error";
/** The values of {@link ATTEMPT_COLUMNS}. */
export const attemptValues = (a: AttemptToRecord): (string | number | null)[] => [a.updateId, a.attempt, a.owner, a.startedAt, a.endedAt, a.outcome, a.error];

/** Records a try and keeps the update's newest {@link MAX_ATTEMPTS_KEPT}. Must run in a write transaction. */
export function recordAttempt(db: SqliteDatabase, a: AttemptToRecord): void {
  db.statement(`INSERT INTO inbox_attempts (${ATTEMPT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`).run(...attemptValues(a));
  db.statement(
    `DELETE FROM inbox_attempts WHERE update_id = ? AND seq <
       (SELECT seq FROM inbox_attempts WHERE update_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ${MAX_ATTEMPTS_KEPT - 1})`,
  ).run(a.updateId, a.updateId);
}

/** Records the lost try of an in-flight update about to be recovered (before its row changes). */
export function recordLostTry(db: SqliteDatabase, updateId: number, now: number): void {
  const row = db.statement("SELECT attempts, lease_owner, claimed_at FROM inbox WHERE update_id = ? AND state = 'inflight'").get(updateId) as
    | { attempts: number; lease_owner: string | null; claimed_at: number | null }
    | undefined;
  if (row === undefined) return;
  recordAttempt(db, { updateId, attempt: row.attempts, owner: row.lease_owner, startedAt: row.claimed_at, endedAt: now, outcome: "lost", error: LOST_TRY });
}

/** Forgets the tries of updates that are no longer stored (after a prune or a purge). Must run in a write transaction. */
export function forgetOrphanAttempts(db: SqliteDatabase): void {
  // The table holds only failed tries (few), so this scan is small.
  db.statement("DELETE FROM inbox_attempts WHERE NOT EXISTS (SELECT 1 FROM inbox WHERE inbox.update_id = inbox_attempts.update_id)").run();
}

/** The row shape of `inbox_attempts`. */
export interface AttemptRow {
  update_id: number;
  attempt: number;
  owner: string | null;
  started_at: number | null;
  ended_at: number;
  outcome: HandlerAttempt["outcome"];
  error: string | null;
}

/** A stored try. */
export function toAttempt(r: AttemptRow): HandlerAttempt {
  return { updateId: r.update_id, attempt: r.attempt, owner: r.owner, startedAt: r.started_at, endedAt: r.ended_at, outcome: r.outcome, error: r.error };
}
