/**
 * Inserting jobs: used by `OutboxStore.enqueue` and by the inbox settle's `outbox.enqueue`
 * effect, so both write exactly the same rows inside whatever transaction is running.
 *
 * @module
 */
import { PRIORITY_RANK, type NewJob } from "../../outbound/types.js";
import { chatKeyOf } from "../outbox-validate.js";
import { sameSend, variantKey, type StoredSend } from "../outbox-replay.js";
import type { EnqueueResult } from "../outbox-types.js";
import { MAX_ERROR_LENGTH } from "../validate.js";
import type { SqliteDatabase } from "./database.js";
import { appendToChat, isPaused, queuedStatus } from "./outbox-heads.js";

/**
 * Inserts `jobs` (already validated); must run inside a write transaction.
 *
 * A job whose idempotency key is known is the stored job only when it is the same send:
 * same method, same chat, same fingerprint. Otherwise it is a *diverging replay* (a handler
 * that ran again and said something else at that position): it is stored as a new job under
 * a variant of the key derived from what it sends, so the same diverging send made once more
 * finds that job, and it is counted.
 */
export function enqueueJobs(db: SqliteDatabase, jobs: readonly NewJob[], now: number): EnqueueResult[] {
  const addBroadcast = db.statement("INSERT INTO outbox_broadcasts (id, created_at) VALUES (?, ?) ON CONFLICT (id) DO NOTHING");
  const results: EnqueueResult[] = [];
  for (const job of jobs) {
    const chatKey = chatKeyOf(job.chatId);
    let result = insertJob(db, job, job.idempotencyKey, chatKey, now);
    if (result === "known-key") {
      const key = job.idempotencyKey as string;
      const stored = db.statement("SELECT id, method, chat_key, fingerprint FROM outbox_jobs WHERE idem_key = ?").get(key) as StoredSend;
      if (sameSend(stored, job, chatKey)) {
        results.push({ id: stored.id, created: false });
        continue;
      }
      result = insertJob(db, job, variantKey(key, job, chatKey), chatKey, now);
      if (result === "known-key") {
        // Diverged before with this very send: that job is it.
        const variant = db.statement("SELECT id FROM outbox_jobs WHERE idem_key = ?").get(variantKey(key, job, chatKey)) as { id: string };
        results.push({ id: variant.id, created: false });
        continue;
      }
      if (typeof result === "object") {
        db.statement("UPDATE outbox_counters SET n = n + 1 WHERE name = 'diverged'").run();
        result = { ...result, diverged: true };
      }
    }
    if (typeof result === "object") {
      if (result.created && job.broadcastId !== null) addBroadcast.run(job.broadcastId, now);
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
function insertJob(db: SqliteDatabase, job: NewJob, key: string | null, chatKey: string, now: number): EnqueueResult | "known-key" | "known-id" {
  // No conflict target: DO NOTHING covers both the id and the idempotency key.
  const insert = db.statement(
    `INSERT INTO outbox_jobs (id, idem_key, method, chat_key, chat_id, payload, priority, rank, max_attempts,
       backoff_base, backoff_max, backoff_jitter, timeout_ms, not_before, deadline, metadata, sensitive,
       broadcast_id, blobs, paid, fingerprint, state, due_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)
     ON CONFLICT DO NOTHING RETURNING seq`,
  );
  const rank = PRIORITY_RANK[job.priority];
  const dueAt = Math.floor(job.notBefore);
  const row = insert.get(
    job.id,
    key,
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
    job.fingerprint,
    dueAt,
    now,
    now,
  ) as { seq: number } | undefined;
  if (row === undefined) {
    // The key wins over the id: the same logical send enqueued again under a fresh id.
    if (key !== null && db.statement("SELECT 1 FROM outbox_jobs WHERE idem_key = ?").get(key) !== undefined) return "known-key";
    return "known-id";
  }
  appendToChat(db, chatKey, row.seq, rank, dueAt, queuedStatus(dueAt, isPaused(db, job.broadcastId), now));
  if (job.mayRepeat !== undefined) {
    // This send may have left before (see NewJob.mayRepeat).
    const attempt = { at: now, outcome: "retry", code: null, error: db.freeText(job.mayRepeat, MAX_ERROR_LENGTH), ambiguous: true };
    db.statement("UPDATE outbox_jobs SET ambiguous = 1, history = json_array(json(?)) WHERE seq = ?").run(JSON.stringify(attempt), row.seq);
  }
  return { id: job.id, created: true };
}
