/**
 * Inserting jobs on PostgreSQL: used by `OutboxStore.enqueue` and by the inbox settle's (and
 * journal completion's) `outbox.enqueue` effect, so both write exactly the same rows inside
 * whatever transaction is running. Same rules as ../sqlite/outbox-enqueue.ts (idempotency key,
 * diverging replays); the jobs' chats are locked first, so a chat's `seq` order is its enqueue
 * order across processes.
 *
 * @module
 */
import { PRIORITY_RANK, type NewJob } from "../../outbound/types.js";
import { chatKeyOf } from "../outbox-validate.js";
import { sameSend, variantKey, type StoredSend } from "../outbox-replay.js";
import type { EnqueueResult } from "../outbox-types.js";
import { MAX_ERROR_LENGTH } from "../validate.js";
import { lockChats, OUTBOX_LOCK_CLASS } from "./chat-locks.js";
import type { PgDatabase, Tx } from "./database.js";
import { appendToChat, isPaused, queuedStatus } from "./outbox-heads.js";
import { encodeChatId } from "./outbox-rows.js";

/** Inserts `jobs` (already validated); must run inside a write transaction. */
export async function enqueueJobs(db: PgDatabase, tx: Tx, jobs: readonly NewJob[], now: number): Promise<EnqueueResult[]> {
  await lockChats(tx, jobs.map((j) => chatKeyOf(j.chatId)), OUTBOX_LOCK_CLASS);
  const results: EnqueueResult[] = [];
  for (const job of jobs) {
    const chatKey = chatKeyOf(job.chatId);
    let result = await insertJob(db, tx, job, job.idempotencyKey, chatKey, now);
    if (result === "known-key") {
      const key = job.idempotencyKey as string;
      const stored = (await tx.one<StoredSend>("SELECT id, method, chat_key, fingerprint FROM outbox_jobs WHERE idem_key = $1", [key]))!;
      if (sameSend(stored, job, chatKey)) {
        results.push({ id: stored.id, created: false });
        continue;
      }
      const variant = variantKey(key, job, chatKey);
      result = await insertJob(db, tx, job, variant, chatKey, now);
      if (result === "known-key") {
        // Diverged before with this very send: that job is it.
        const known = (await tx.one<{ id: string }>("SELECT id FROM outbox_jobs WHERE idem_key = $1", [variant]))!;
        results.push({ id: known.id, created: false });
        continue;
      }
      if (typeof result === "object") {
        await tx.run("UPDATE outbox_counters SET n = n + 1 WHERE name = 'diverged'");
        result = { ...result, diverged: true };
      }
    }
    if (typeof result === "object") {
      if (result.created && job.broadcastId !== null) {
        await tx.run("INSERT INTO outbox_broadcasts (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", [job.broadcastId, now]);
      }
      results.push(result);
      continue;
    }
    // The same job (same id) stored before, e.g. an effect applied again.
    results.push({ id: job.id, created: false });
  }
  return results;
}

/**
 * Inserts one job under `key`. Returns its result when inserted, `"known-key"` when the key is
 * taken, `"known-id"` when a job with this id exists (the key, if any, being free).
 */
async function insertJob(db: PgDatabase, tx: Tx, job: NewJob, key: string | null, chatKey: string, now: number): Promise<EnqueueResult | "known-key" | "known-id"> {
  const rank = PRIORITY_RANK[job.priority];
  const dueAt = Math.floor(job.notBefore);
  // No conflict target: DO NOTHING covers both the id and the idempotency key.
  const row = await tx.one<{ seq: number }>(
    `INSERT INTO outbox_jobs (id, idem_key, method, chat_key, chat_id, payload, priority, rank, max_attempts,
       backoff_base, backoff_max, backoff_jitter, timeout_ms, not_before, deadline, metadata, sensitive,
       broadcast_id, blobs, paid, fingerprint, state, due_at, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, 'queued', $14, $22, $22)
     ON CONFLICT DO NOTHING RETURNING seq`,
    [
      job.id,
      key,
      job.method,
      chatKey,
      encodeChatId(job.chatId),
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
      job.fingerprint,
      now,
    ],
  );
  if (row === undefined) {
    // The key wins over the id: the same logical send enqueued again under a fresh id.
    if (key !== null && (await tx.one("SELECT 1 FROM outbox_jobs WHERE idem_key = $1", [key])) !== undefined) return "known-key";
    return "known-id";
  }
  await appendToChat(tx, chatKey, row.seq, rank, dueAt, queuedStatus(dueAt, await isPaused(tx, job.broadcastId), now));
  if (job.mayRepeat !== undefined) {
    // This send may have left before (see NewJob.mayRepeat).
    const attempt = { at: now, outcome: "retry", code: null, error: db.freeText(job.mayRepeat, MAX_ERROR_LENGTH), ambiguous: true };
    await tx.run("UPDATE outbox_jobs SET ambiguous = 1, history = jsonb_build_array($1::jsonb) WHERE seq = $2", [JSON.stringify(attempt), row.seq]);
  }
  return { id: job.id, created: true };
}
