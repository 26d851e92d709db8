/**
 * Upkeep of `outbox_heads`, the per-chat head table that claiming reads (see outbox-schema.ts).
 * Invariant: a chat has a row iff it has a queued or sending job; its head is the job in flight
 * if there is one, else its oldest queued job; `status`/`ready_at` say when the head can be
 * claimed. Called inside the write transaction of the operation that changed the chat.
 *
 * @module
 */
import type { SqliteDatabase } from "./database.js";

/** Head statuses (see outbox-schema.ts). */
export const HEAD_TIMED = 0;
/** Claimable now. */
export const HEAD_READY = 1;
/** Held by a paused broadcast. */
export const HEAD_PAUSED = 2;

/** The status of a queued head due at `dueAt`. */
export function queuedStatus(dueAt: number, paused: boolean, now: number): number {
  if (paused) return HEAD_PAUSED;
  return dueAt <= now ? HEAD_READY : HEAD_TIMED;
}

/** True when `broadcastId` is paused. */
export function isPaused(db: SqliteDatabase, broadcastId: string | null): boolean {
  if (broadcastId === null) return false;
  return db.statement("SELECT 1 FROM outbox_broadcasts WHERE id = ? AND paused = 1").get(broadcastId) !== undefined;
}

/**
 * A job was appended to `chatKey`. It has the highest `seq` of the chat, so it becomes the head
 * only when the chat had none.
 */
export function appendToChat(
  db: SqliteDatabase,
  chatKey: string,
  seq: number,
  rank: number,
  dueAt: number,
  status: number,
): void {
  db.statement(
    `INSERT INTO outbox_heads (chat_key, head_seq, rank, ready_at, status) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (chat_key) DO NOTHING`,
  ).run(chatKey, seq, rank, dueAt, status);
}

interface OpenJob {
  seq: number;
  rank: number;
  due_at: number;
  lease_until: number | null;
  broadcast_id: string | null;
}

/**
 * Recomputes the head of `chatKey` from its open jobs: a seek of `outbox_jobs_sending` (its job
 * in flight), else of `outbox_jobs_queued` (its oldest queued job), however long its backlog.
 */
export function refreshHead(db: SqliteDatabase, chatKey: string, now: number): void {
  const sending = db
    .statement(`SELECT seq, rank, due_at, lease_until, broadcast_id FROM outbox_jobs WHERE chat_key = ? AND state = 'sending' LIMIT 1`)
    .get(chatKey) as OpenJob | undefined;
  const next =
    sending ??
    (db
      .statement(
        `SELECT seq, rank, due_at, lease_until, broadcast_id FROM outbox_jobs
         WHERE chat_key = ? AND state = 'queued' ORDER BY seq LIMIT 1`,
      )
      .get(chatKey) as OpenJob | undefined);
  if (next === undefined) {
    db.statement("DELETE FROM outbox_heads WHERE chat_key = ?").run(chatKey);
    return;
  }
  // A job in flight is claimable again only when its lease runs out (recovery).
  const readyAt = sending !== undefined ? (next.lease_until ?? now) : next.due_at;
  const status = sending !== undefined ? HEAD_TIMED : queuedStatus(readyAt, isPaused(db, next.broadcast_id), now);
  db.statement(
    `INSERT INTO outbox_heads (chat_key, head_seq, rank, ready_at, status) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (chat_key) DO UPDATE SET head_seq = excluded.head_seq, rank = excluded.rank,
       ready_at = excluded.ready_at, status = excluded.status`,
  ).run(chatKey, next.seq, next.rank, readyAt, status);
}

/** The head job of `chatKey` is in flight until `leaseUntil` (claimed, extended or expired). */
export function setHeadLease(db: SqliteDatabase, chatKey: string, seq: number, leaseUntil: number): void {
  db.statement(`UPDATE outbox_heads SET ready_at = ?, status = ${HEAD_TIMED} WHERE chat_key = ? AND head_seq = ?`).run(
    leaseUntil,
    chatKey,
    seq,
  );
}
