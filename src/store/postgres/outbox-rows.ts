/**
 * Row shape of `outbox_jobs` on PostgreSQL and its mapping to {@link Job}: SQLite's mapping
 * (../sqlite/outbox-rows.ts) once the chat id is decoded from its JSON text and the history is
 * read as text.
 *
 * @module
 */
import type { Job } from "../../outbound/types.js";
import type { ChatId } from "../outbox-types.js";
import { toJob, type JobRow } from "../sqlite/outbox-rows.js";

export { blobsOf, parseJson } from "../sqlite/outbox-rows.js";

/** The columns of a {@link PgJobRow}. */
const COLUMNS = [
  "seq", "id", "idem_key", "method", "chat_key", "chat_id", "payload", "priority", "max_attempts", "backoff_base", "backoff_max",
  "backoff_jitter", "timeout_ms", "not_before", "deadline", "metadata", "sensitive", "broadcast_id", "blobs", "paid", "state", "attempts",
  "ambiguous", "due_at", "last_error", "failure_reason", "result", "result_message_id", "created_at", "updated_at", "delivered_at",
  "finished_at", "history", "lease_owner", "lease_until", "lease_token", "fingerprint",
] as const;

/**
 * The select list of a job row, its columns qualified by `table` when given (a statement that
 * joins); `history` as text, as SQLite stores it.
 */
export function jobColumns(table?: string): string {
  const prefix = table === undefined ? "" : `${table}.`;
  return COLUMNS.map((c) => (c === "history" ? `${prefix}history::text AS history` : `${prefix}${c}`)).join(", ");
}

/** The columns every job read selects. */
export const JOB_COLUMNS = jobColumns();

/** One row of `outbox_jobs` as pg returns it: the chat id still as its JSON text. */
export type PgJobRow = Omit<JobRow, "chat_id"> & { chat_id: string };

/** A chat id as stored: its JSON text (a number stays a number, a `@username` a string). */
export function encodeChatId(chatId: ChatId): string {
  return JSON.stringify(chatId);
}

/** A stored chat id back. */
export function decodeChatId(text: string): ChatId {
  return JSON.parse(text) as ChatId;
}

/** The SQLite-shaped row of a PostgreSQL row. */
export function toJobRow(row: PgJobRow): JobRow {
  return { ...row, chat_id: decodeChatId(row.chat_id) };
}

/** A full job. */
export function toPgJob(row: PgJobRow): Job {
  return toJob(toJobRow(row));
}
