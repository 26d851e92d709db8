/**
 * Inserting jobs: used by `OutboxStore.enqueue` and by the inbox settle's `outbox.enqueue`
 * effect, so both write exactly the same rows inside whatever transaction is running.
 *
 * @module
 */
import { PRIORITY_RANK, type NewJob } from "../../outbound/types.js";
import { chatKeyOf } from "../outbox-validate.js";
import type { EnqueueResult } from "../outbox-types.js";
import type { SqliteDatabase } from "./database.js";
import { appendToChat, isPaused, queuedStatus } from "./outbox-heads.js";

/** Inserts `jobs` (already validated); must run inside a write transaction. */
export function enqueueJobs(db: SqliteDatabase, jobs: readonly NewJob[], now: number): EnqueueResult[] {
  // No conflict target: DO NOTHING covers both the id and the idempotency key.
  const insert = db.statement(
    `INSERT INTO outbox_jobs (id, idem_key, method, chat_key, chat_id, payload, priority, rank, max_attempts,
       backoff_base, backoff_max, backoff_jitter, timeout_ms, not_before, deadline, metadata, sensitive,
       broadcast_id, blobs, paid, state, due_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)
     ON CONFLICT DO NOTHING RETURNING seq`,
  );
  const byKey = db.statement("SELECT id FROM outbox_jobs WHERE idem_key = ?");
  const byId = db.statement("SELECT id FROM outbox_jobs WHERE id = ?");
  const addBroadcast = db.statement("INSERT INTO outbox_broadcasts (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING");
  return jobs.map((job): EnqueueResult => {
    const chatKey = chatKeyOf(job.chatId);
    const rank = PRIORITY_RANK[job.priority];
    const dueAt = Math.floor(job.notBefore);
    const row = insert.get(
      job.id,
      job.idempotencyKey,
      job.method,
      chatKey,
      job.chatId,
      job.payload,
      job.priority,
      rank,
      job.maxAttempts,
      job.backoff.baseMs,
      job.backoff.maxMs,
      job.backoff.jitter,
      job.timeoutMs,
      dueAt,
      job.deadline === null ? null : Math.floor(job.deadline),
      job.metadata,
      job.sensitive ? 1 : 0,
      job.broadcastId,
      JSON.stringify(job.blobs),
      job.paidBroadcast ? 1 : 0,
      dueAt,
      now,
      now,
    ) as { seq: number } | undefined;
    if (row === undefined) {
      // The key wins over the id: the same logical send enqueued again under a fresh id.
      const existing = ((job.idempotencyKey === null ? undefined : byKey.get(job.idempotencyKey)) ?? byId.get(job.id)) as
        | { id: string }
        | undefined;
      return { id: existing?.id ?? job.id, created: false };
    }
    if (job.broadcastId !== null) addBroadcast.run(job.broadcastId, now);
    appendToChat(db, chatKey, row.seq, rank, dueAt, queuedStatus(dueAt, isPaused(db, job.broadcastId), now));
    return { id: job.id, created: true };
  });
}
