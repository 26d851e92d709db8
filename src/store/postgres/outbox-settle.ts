/**
 * Settling a job claim on PostgreSQL: the fenced state change, the attempt history, the audit
 * entry and the chat heads, inside the caller's write transaction; the statements of
 * ../sqlite/outbox-settle.ts. The caller holds the outbox locks of the jobs' chats.
 *
 * @module
 */
import type { AttemptRecord, TelegramAnswer } from "../../outbound/types.js";
import { chatKeyOf } from "../outbox-validate.js";
import type { JobSettleRequest, JobSettleResult } from "../outbox-types.js";
import { MAX_ERROR_LENGTH } from "../validate.js";
import { lockChats, OUTBOX_LOCK_CLASS } from "./chat-locks.js";
import type { PgDatabase, Tx } from "./database.js";
import { refreshHead } from "./outbox-heads.js";
import { encodeChatId } from "./outbox-rows.js";

/** The job columns an audit entry copies (`chat_id` as stored: JSON text). */
export interface AuditedJob {
  readonly id: string;
  readonly chat_key: string;
  readonly chat_id: string;
  readonly method: string;
  readonly payload: string;
  readonly sensitive: number;
}

interface CurrentRow extends AuditedJob {
  seq: number;
}

/** Appends one record to the history (jsonb `||`: no read-modify-write in JS). */
const APPEND = (param: number): string => `history = history || jsonb_build_array($${param}::jsonb)`;

function record(at: number, outcome: AttemptRecord["outcome"], code: number | null, error: string | null, ambiguous: boolean, answer?: TelegramAnswer): string {
  const entry: AttemptRecord = answer === undefined ? { at, outcome, code, error, ambiguous } : { at, outcome, code, error, ambiguous, answer };
  return JSON.stringify(entry);
}

/** Appends an audit entry for `job` (the payload only when neither redacted nor sensitive). */
export async function writeAudit(
  tx: Tx,
  job: AuditedJob,
  outcome: "delivered" | "failed",
  messageId: number | null,
  error: string | null,
  now: number,
  redact: boolean,
): Promise<void> {
  await tx.run(
    `INSERT INTO outbox_audit (job_id, chat_key, chat_id, method, outcome, message_id, error, at, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
    [job.id, job.chat_key, job.chat_id, job.method, outcome, messageId, error, now, redact || job.sensitive === 1 ? null : job.payload],
  );
}

/** Locks the outbox chats of the jobs `requests` settle (and of retarget destinations), in one statement. */
export async function lockSettledChats(tx: Tx, requests: readonly JobSettleRequest[]): Promise<void> {
  const rows = await tx.rows<{ chat_key: string }>("SELECT DISTINCT chat_key FROM outbox_jobs WHERE id = ANY($1::text[])", [
    requests.map((r) => r.claim.jobId),
  ]);
  const destinations = requests.flatMap((r) => (r.outcome.kind === "retarget" ? [chatKeyOf(r.outcome.chatId)] : []));
  await lockChats(tx, [...rows.map((r) => r.chat_key), ...destinations], OUTBOX_LOCK_CLASS);
}

/**
 * Applies one settle; must run inside a write transaction. `redactAudit` drops every payload
 * from the audit log (the store's `auditRedaction` option).
 */
export async function settleJob(db: PgDatabase, tx: Tx, request: JobSettleRequest, now: number, redactAudit: boolean): Promise<JobSettleResult> {
  const { claim, outcome } = request;
  // Telegram's description enters the store like any error text: scrubbed and bounded.
  const answer = "answer" in outcome && outcome.answer !== undefined ? { ...outcome.answer, description: db.freeText(outcome.answer.description, MAX_ERROR_LENGTH) } : undefined;
  // The fence: only the current claim of a job in flight may settle it.
  const job = await tx.one<CurrentRow>(
    `SELECT seq, id, chat_key, chat_id, method, payload, sensitive FROM outbox_jobs
     WHERE id = $1 AND state = 'sending' AND lease_owner = $2 AND lease_token = $3 FOR UPDATE`,
    [claim.jobId, claim.owner, claim.token],
  );
  if (job === undefined) return "stale";
  // $1 = updated_at, $2 = seq in every statement below.
  const common = "updated_at = $1, lease_until = NULL";
  const where = "WHERE seq = $2";
  switch (outcome.kind) {
    case "delivered": {
      const ambiguous = outcome.ambiguous === true;
      await tx.run(
        `UPDATE outbox_jobs SET state = 'delivered', result = $3, result_message_id = $4, delivered_at = $1, finished_at = $1,
           attempts = attempts + 1, ambiguous = ambiguous + $5, ${APPEND(6)}, ${common} ${where}`,
        [now, job.seq, outcome.result, outcome.messageId, ambiguous ? 1 : 0, record(now, "delivered", null, null, ambiguous)],
      );
      await writeAudit(tx, job, "delivered", outcome.messageId, null, now, redactAudit);
      break;
    }
    case "retry": {
      const error = db.freeText(outcome.error, MAX_ERROR_LENGTH);
      await tx.run(
        `UPDATE outbox_jobs SET state = 'queued', due_at = $3, last_error = $4, attempts = attempts + 1,
           ambiguous = ambiguous + $5, ${APPEND(6)}, ${common} ${where}`,
        [now, job.seq, Math.floor(outcome.at), error, outcome.ambiguous ? 1 : 0, record(now, "retry", outcome.code, error, outcome.ambiguous, answer)],
      );
      break;
    }
    case "failed": {
      const error = db.freeText(outcome.error, MAX_ERROR_LENGTH);
      const ambiguous = outcome.ambiguous === true;
      const set = `state = 'failed', failure_reason = $3, last_error = $4, finished_at = $1, ${common}`;
      if (outcome.attempted === false) {
        // No request was made: nothing to count nor to add to the history.
        await tx.run(`UPDATE outbox_jobs SET ${set} ${where}`, [now, job.seq, outcome.reason, error]);
      } else {
        await tx.run(`UPDATE outbox_jobs SET ${set}, attempts = attempts + 1, ambiguous = ambiguous + $5, ${APPEND(6)} ${where}`, [
          now,
          job.seq,
          outcome.reason,
          error,
          ambiguous ? 1 : 0,
          record(now, "failed", outcome.code, error, ambiguous, answer),
        ]);
      }
      await writeAudit(tx, job, "failed", null, error, now, redactAudit);
      break;
    }
    case "defer":
      // Not an attempt: the job goes back exactly as it was, only later.
      await tx.run(`UPDATE outbox_jobs SET state = 'queued', due_at = $3, ${common} ${where}`, [now, job.seq, Math.floor(outcome.at)]);
      break;
    case "retarget": {
      const error = db.freeText(outcome.error, MAX_ERROR_LENGTH);
      const newKey = chatKeyOf(outcome.chatId);
      const newId = encodeChatId(outcome.chatId);
      await tx.run(
        `UPDATE outbox_jobs SET state = 'queued', due_at = $3, chat_key = $4, chat_id = $5, last_error = $6,
           attempts = attempts + 1, ${APPEND(7)}, ${common} ${where}`,
        [now, job.seq, Math.floor(outcome.at), newKey, newId, error, record(now, "retarget", 400, error, false, answer)],
      );
      // The old group is gone for good: every job still queued for it follows, keeping its seq
      // (enqueue order), so the chats' order is kept in the supergroup.
      await tx.run("UPDATE outbox_jobs SET chat_key = $1, chat_id = $2, updated_at = $3 WHERE chat_key = $4 AND state = 'queued'", [
        newKey,
        newId,
        now,
        job.chat_key,
      ]);
      if (newKey !== job.chat_key) await refreshHead(tx, newKey, now);
      break;
    }
  }
  await refreshHead(tx, job.chat_key, now);
  return "settled";
}
