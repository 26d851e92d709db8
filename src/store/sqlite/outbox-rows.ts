/**
 * Row shape of `outbox_jobs` and its mapping to {@link Job}.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { AttemptRecord, FailureReason, Job, JobState, Priority } from "../../outbound/types.js";

/** The columns every job read selects. */
export const JOB_COLUMNS =
  "seq, id, idem_key, method, chat_key, chat_id, payload, priority, max_attempts, backoff_base, backoff_max, " +
  "backoff_jitter, timeout_ms, not_before, deadline, metadata, sensitive, broadcast_id, blobs, paid, state, attempts, " +
  "ambiguous, due_at, last_error, failure_reason, result, result_message_id, created_at, updated_at, delivered_at, " +
  "finished_at, history, lease_owner, lease_until, lease_token, fingerprint";

/** One row of `outbox_jobs` as better-sqlite3 returns it. */
export interface JobRow {
  seq: number;
  id: string;
  idem_key: string | null;
  fingerprint: string | null;
  method: string;
  chat_key: string;
  chat_id: number | string;
  payload: string;
  priority: Priority;
  max_attempts: number;
  backoff_base: number;
  backoff_max: number;
  backoff_jitter: number;
  timeout_ms: number;
  not_before: number;
  deadline: number | null;
  metadata: string | null;
  sensitive: number;
  broadcast_id: string | null;
  blobs: string;
  paid: number;
  state: JobState;
  attempts: number;
  ambiguous: number;
  due_at: number;
  last_error: string | null;
  failure_reason: FailureReason | null;
  result: string | null;
  result_message_id: number | null;
  created_at: number;
  updated_at: number;
  delivered_at: number | null;
  finished_at: number | null;
  history: string;
  lease_owner: string | null;
  lease_until: number | null;
  lease_token: number;
}

/** Parses a JSON column; a value that does not parse means the file was tampered with. */
export function parseJson<T>(text: string, what: string, jobId: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new UnlostError("STORE_FAILURE", `The stored ${what} of job ${jobId} does not parse; the store is damaged.`, {
      cause: err,
    });
  }
}

/** The blob names of a row. */
export function blobsOf(row: { id: string; blobs: string }): string[] {
  return parseJson<string[]>(row.blobs, "blob list", row.id);
}

/** A full job. */
export function toJob(row: JobRow): Job {
  return {
    id: row.id,
    method: row.method,
    chatId: row.chat_id,
    payload: row.payload,
    priority: row.priority,
    maxAttempts: row.max_attempts,
    backoff: { baseMs: row.backoff_base, maxMs: row.backoff_max, jitter: row.backoff_jitter },
    timeoutMs: row.timeout_ms,
    notBefore: row.not_before,
    deadline: row.deadline,
    idempotencyKey: row.idem_key,
    fingerprint: row.fingerprint,
    metadata: row.metadata,
    sensitive: row.sensitive === 1,
    broadcastId: row.broadcast_id,
    blobs: blobsOf(row),
    paidBroadcast: row.paid === 1,
    state: row.state,
    attempts: row.attempts,
    ambiguousAttempts: row.ambiguous,
    dueAt: row.due_at,
    lastError: row.last_error,
    failureReason: row.failure_reason,
    result: row.result,
    resultMessageId: row.result_message_id,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deliveredAt: row.delivered_at,
    history: parseJson<AttemptRecord[]>(row.history, "history", row.id),
  };
}
