/**
 * Recording direct sends on SQLite: a handler's reply that left without a job before it (see
 * `outbound/direct-send.ts`) is stored after its delivery as a delivered job with its one
 * attempt and its audit entry, in one insert each: no chat queue, no claim, no settle.
 *
 * @module
 */
import { PRIORITY_RANK, type AttemptRecord } from "../../outbound/types.js";
import type { ChatId, DeliveredSend } from "../outbox-types.js";
import { chatKeyOf } from "../outbox-validate.js";
import type { SqliteDatabase } from "./database.js";
import { writeAudit } from "./outbox-settle.js";

/** Inserts the delivered sends; must run inside a write transaction. Known ids or keys are left alone. */
export function recordDelivered(db: SqliteDatabase, sends: readonly DeliveredSend[], redactAudit: boolean): void {
  const insert = db.statement(
    `INSERT INTO outbox_jobs (id, idem_key, method, chat_key, chat_id, payload, priority, rank, max_attempts,
       backoff_base, backoff_max, backoff_jitter, timeout_ms, not_before, deadline, metadata, sensitive,
       broadcast_id, blobs, paid, fingerprint, state, attempts, result, result_message_id, delivered_at, finished_at,
       history, due_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'delivered', 1, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO NOTHING RETURNING seq`,
  );
  for (const { job, result, messageId, at } of sends) {
    const chatKey = chatKeyOf(job.chatId);
    const history: AttemptRecord[] = [{ at, outcome: "delivered", code: null, error: null, ambiguous: false }];
    const created = Math.floor(job.notBefore);
    const row = insert.get(
      job.id, job.idempotencyKey, job.method, chatKey, job.chatId, job.payload, job.priority, PRIORITY_RANK[job.priority], job.maxAttempts,
      job.backoff.baseMs, job.backoff.maxMs, job.backoff.jitter, job.timeoutMs, created, job.deadline === null ? null : Math.floor(job.deadline),
      job.metadata, job.sensitive ? 1 : 0, job.broadcastId, JSON.stringify(job.blobs), job.paidBroadcast ? 1 : 0, job.fingerprint,
      result, messageId, at, at, JSON.stringify(history), created, created, at,
    ) as { seq: number } | undefined;
    if (row === undefined) continue;
    writeAudit(db, { id: job.id, chat_key: chatKey, chat_id: job.chatId, method: job.method, payload: job.payload, sensitive: job.sensitive ? 1 : 0 }, "delivered", messageId, null, at, redactAudit);
  }
}

/** True when the chat has a queue head: jobs queued or in flight. */
export function chatHasPending(db: SqliteDatabase, chatId: ChatId): boolean {
  return db.statement("SELECT 1 FROM outbox_heads WHERE chat_key = ?").get(chatKeyOf(chatId)) !== undefined;
}
