/**
 * Settling a job claim on SQLite: the fenced state change, the attempt history, the audit
 * entry and the chat heads, all inside the caller's write transaction.
 *
 * @module
 */
import type { AttemptRecord, TelegramAnswer } from "../../outbound/types.js";
import { chatKeyOf } from "../outbox-validate.js";
import type { JobSettleRequest, JobSettleResult } from "../outbox-types.js";
import { MAX_ERROR_LENGTH } from "../validate.js";
import type { SqliteDatabase } from "./database.js";
import { refreshHead } from "./outbox-heads.js";

/** The job columns an audit entry copies. */
export interface AuditedJob {
  readonly id: string;
  readonly chat_key: string;
  readonly chat_id: number | string;
  readonly method: string;
  readonly payload: string;
  readonly sensitive: number;
}

interface CurrentRow {
  seq: number;
  id: string;
  chat_key: string;
  chat_id: number | string;
  method: string;
  payload: string;
  sensitive: number;
}

/** Appends one JSON record to the history column (SQLite's JSON functions, no read-modify-write in JS). */
const APPEND = "history = json_insert(history, '$[#]', json(?))";

function record(at: number, outcome: AttemptRecord["outcome"], code: number | null, error: string | null, ambiguous: boolean, answer?: TelegramAnswer): string {
  const entry: AttemptRecord = answer === undefined ? { at, outcome, code, error, ambiguous } : { at, outcome, code, error, ambiguous, answer };
  return JSON.stringify(entry);
}

/** Appends an audit entry for `job` (the payload only when neither redacted nor sensitive). */
export function writeAudit(
  db: SqliteDatabase,
  job: AuditedJob,
  outcome: "delivered" | "failed",
  messageId: number | null,
  error: string | null,
  now: number,
  redact: boolean,
): void {
  db.statement(
    `INSERT INTO outbox_audit (job_id, chat_key, chat_id, method, outcome, message_id, error, at, payload)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(job.id, job.chat_key, job.chat_id, job.method, outcome, messageId, error, now, redact || job.sensitive === 1 ? null : job.payload);
}

/**
 * Applies one settle; must run inside a write transaction. `redactAudit` drops every payload
 * from the audit log (the store's `auditRedaction` option).
 */
export function settleJob(db: SqliteDatabase, request: JobSettleRequest, now: number, redactAudit: boolean): JobSettleResult {
  const { claim, outcome } = request;
  // Telegram's description enters the store like any error text: scrubbed and bounded.
  const answer = "answer" in outcome && outcome.answer !== undefined ? { ...outcome.answer, description: db.freeText(outcome.answer.description, MAX_ERROR_LENGTH) } : undefined;
  // The fence: only the current claim of a job in flight may settle it.
  const job = db
    .statement(
      `SELECT seq, id, chat_key, chat_id, method, payload, sensitive FROM outbox_jobs
       WHERE id = ? AND state = 'sending' AND lease_owner = ? AND lease_token = ?`,
    )
    .get(claim.jobId, claim.owner, claim.token) as CurrentRow | undefined;
  if (job === undefined) return "stale";
  const common = "updated_at = ?, lease_until = NULL";
  switch (outcome.kind) {
    case "delivered": {
      const ambiguous = outcome.ambiguous === true;
      db.statement(
        `UPDATE outbox_jobs SET state = 'delivered', result = ?, result_message_id = ?, delivered_at = ?, finished_at = ?,
           attempts = attempts + 1, ambiguous = ambiguous + ?, ${APPEND}, ${common} WHERE seq = ?`,
      ).run(outcome.result, outcome.messageId, now, now, ambiguous ? 1 : 0, record(now, "delivered", null, null, ambiguous), now, job.seq);
      writeAudit(db, job, "delivered", outcome.messageId, null, now, redactAudit);
      break;
    }
    case "retry": {
      const error = db.freeText(outcome.error, MAX_ERROR_LENGTH);
      db.statement(
        `UPDATE outbox_jobs SET state = 'queued', due_at = ?, last_error = ?, attempts = attempts + 1,
           ambiguous = ambiguous + ?, ${APPEND}, ${common} WHERE seq = ?`,
      ).run(
        Math.floor(outcome.at),
        error,
        outcome.ambiguous ? 1 : 0,
        record(now, "retry", outcome.code, error, outcome.ambiguous, answer),
        now,
        job.seq,
      );
      break;
    }
    case "failed": {
      const error = db.freeText(outcome.error, MAX_ERROR_LENGTH);
      const ambiguous = outcome.ambiguous === true;
      const set = `state = 'failed', failure_reason = ?, last_error = ?, finished_at = ?, ${common}`;
      if (outcome.attempted === false) {
        // No request was made: nothing to count nor to add to the history.
        db.statement(`UPDATE outbox_jobs SET ${set} WHERE seq = ?`).run(outcome.reason, error, now, now, job.seq);
      } else {
        db.statement(
          `UPDATE outbox_jobs SET ${set}, attempts = attempts + 1, ambiguous = ambiguous + ?, ${APPEND} WHERE seq = ?`,
        ).run(outcome.reason, error, now, now, ambiguous ? 1 : 0, record(now, "failed", outcome.code, error, ambiguous, answer), job.seq);
      }
      writeAudit(db, job, "failed", null, error, now, redactAudit);
      break;
    }
    case "defer":
      // Not an attempt: the job goes back exactly as it was, only later.
      db.statement(`UPDATE outbox_jobs SET state = 'queued', due_at = ?, ${common} WHERE seq = ?`).run(Math.floor(outcome.at), now, job.seq);
      break;
    case "retarget": {
      const error = db.freeText(outcome.error, MAX_ERROR_LENGTH);
      const newKey = chatKeyOf(outcome.chatId);
      db.statement(
        `UPDATE outbox_jobs SET state = 'queued', due_at = ?, chat_key = ?, chat_id = ?, last_error = ?,
           attempts = attempts + 1, ${APPEND}, ${common} WHERE seq = ?`,
      ).run(Math.floor(outcome.at), newKey, outcome.chatId, error, record(now, "retarget", 400, error, false, answer), now, job.seq);
      // The old group is gone for good: every job still queued for it follows, keeping its seq
      // (enqueue order), so the chats' order is kept in the supergroup.
      db.statement(`UPDATE outbox_jobs SET chat_key = ?, chat_id = ?, updated_at = ? WHERE chat_key = ? AND state = 'queued'`).run(
        newKey,
        outcome.chatId,
        now,
        job.chat_key,
      );
      if (newKey !== job.chat_key) refreshHead(db, newKey, now);
      break;
    }
  }
  refreshHead(db, job.chat_key, now);
  return "settled";
}
