/**
 * Recording direct sends on PostgreSQL (see ../sqlite/outbox-direct.ts): a handler's reply that
 * left without a job before it is stored after its delivery as a delivered job with its one
 * attempt and its audit entry. No chat queue, no claim, no settle: no chat lock either.
 *
 * @module
 */
import { PRIORITY_RANK, type AttemptRecord } from "../../outbound/types.js";
import type { ChatId, DeliveredSend } from "../outbox-types.js";
import { chatKeyOf } from "../outbox-validate.js";
import type { Tx } from "./database.js";
import { encodeChatId } from "./outbox-rows.js";
import { writeAudit } from "./outbox-settle.js";

/** Inserts the delivered sends; must run inside a write transaction. Known ids or keys are left alone. */
export async function recordDelivered(tx: Tx, sends: readonly DeliveredSend[], redactAudit: boolean): Promise<void> {
  for (const { job, result, messageId, at } of sends) {
    const chatKey = chatKeyOf(job.chatId);
    const chatId = encodeChatId(job.chatId);
    const history: AttemptRecord[] = [{ at, outcome: "delivered", code: null, error: null, ambiguous: false }];
    const created = Math.floor(job.notBefore);
    const row = await tx.one<{ seq: number }>(
      `INSERT INTO outbox_jobs (id, idem_key, method, chat_key, chat_id, payload, priority, rank, max_attempts,
         backoff_base, backoff_max, backoff_jitter, timeout_ms, not_before, deadline, metadata, sensitive,
         broadcast_id, blobs, paid, fingerprint, state, attempts, result, result_message_id, delivered_at, finished_at,
         history, due_at, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21,
               'delivered', 1, $22, $23, $24, $24, $25::jsonb, $14, $14, $24)
       ON CONFLICT DO NOTHING RETURNING seq`,
      [
        job.id, job.idempotencyKey, job.method, chatKey, chatId, job.payload, job.priority, PRIORITY_RANK[job.priority], job.maxAttempts,
        job.backoff.baseMs, job.backoff.maxMs, job.backoff.jitter, job.timeoutMs, created, job.deadline === null ? null : Math.floor(job.deadline),
        job.metadata, job.sensitive ? 1 : 0, job.broadcastId, JSON.stringify(job.blobs), job.paidBroadcast ? 1 : 0, job.fingerprint,
        result, messageId, at, JSON.stringify(history),
      ],
    );
    if (row === undefined) continue;
    await writeAudit(tx, { id: job.id, chat_key: chatKey, chat_id: chatId, method: job.method, payload: job.payload, sensitive: job.sensitive ? 1 : 0 }, "delivered", messageId, null, at, redactAudit);
  }
}

/** True when the chat has a queue head: jobs queued or in flight. */
export async function chatHasPending(tx: Tx, chatId: ChatId): Promise<boolean> {
  return (await tx.one("SELECT 1 FROM outbox_heads WHERE chat_key = $1", [chatKeyOf(chatId)])) !== undefined;
}
