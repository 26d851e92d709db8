/**
 * Upkeep of `outbox_heads` on PostgreSQL: the invariant and statements of
 * ../sqlite/outbox-heads.ts. Called inside the write transaction of the operation that changed
 * the chat, which holds the chat's outbox lock (chat-locks.ts, `OUTBOX_LOCK_CLASS`).
 *
 * @module
 */
import type { Tx } from "./database.js";

/** Head statuses (see ../sqlite/outbox-schema.ts): claimable once `ready_at` passes. */
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
export async function isPaused(tx: Tx, broadcastId: string | null): Promise<boolean> {
  if (broadcastId === null) return false;
  return (await tx.one("SELECT 1 FROM outbox_broadcasts WHERE id = $1 AND paused = 1", [broadcastId])) !== undefined;
}

/**
 * A job was appended to `chatKey`. Under the chat's lock it has the highest `seq` of the chat,
 * so it becomes the head only when the chat had none.
 */
export async function appendToChat(tx: Tx, chatKey: string, seq: number, rank: number, dueAt: number, status: number): Promise<void> {
  await tx.run(
    `INSERT INTO outbox_heads (chat_key, head_seq, rank, ready_at, status) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (chat_key) DO NOTHING`,
    [chatKey, seq, rank, dueAt, status],
  );
}

interface OpenJob {
  seq: number;
  rank: number;
  due_at: number;
  lease_until: number | null;
  broadcast_id: string | null;
}

/** Recomputes the head of `chatKey` from its open jobs (its job in flight, else its oldest queued one). */
export async function refreshHead(tx: Tx, chatKey: string, now: number): Promise<void> {
  const sending = await tx.one<OpenJob>(
    "SELECT seq, rank, due_at, lease_until, broadcast_id FROM outbox_jobs WHERE chat_key = $1 AND state = 'sending' LIMIT 1",
    [chatKey],
  );
  const next =
    sending ??
    (await tx.one<OpenJob>(
      `SELECT seq, rank, due_at, lease_until, broadcast_id FROM outbox_jobs
       WHERE chat_key = $1 AND state = 'queued' ORDER BY seq LIMIT 1`,
      [chatKey],
    ));
  if (next === undefined) {
    await tx.run("DELETE FROM outbox_heads WHERE chat_key = $1", [chatKey]);
    return;
  }
  // A job in flight is claimable again only when its lease runs out (recovery).
  const readyAt = sending !== undefined ? (next.lease_until ?? now) : next.due_at;
  const status = sending !== undefined ? HEAD_TIMED : queuedStatus(readyAt, await isPaused(tx, next.broadcast_id), now);
  await tx.run(
    `INSERT INTO outbox_heads (chat_key, head_seq, rank, ready_at, status) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (chat_key) DO UPDATE SET head_seq = excluded.head_seq, rank = excluded.rank,
       ready_at = excluded.ready_at, status = excluded.status`,
    [chatKey, next.seq, next.rank, readyAt, status],
  );
}

/** The head job of `chatKey` is in flight until `leaseUntil` (claimed, extended or expired). */
export async function setHeadLease(tx: Tx, chatKey: string, seq: number, leaseUntil: number): Promise<void> {
  await tx.run(`UPDATE outbox_heads SET ready_at = $1, status = ${HEAD_TIMED} WHERE chat_key = $2 AND head_seq = $3`, [leaseUntil, chatKey, seq]);
}
