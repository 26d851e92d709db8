/**
 * Broadcast control on PostgreSQL: progress, pause, resume and cancel (see
 * ../sqlite/outbox-broadcasts.ts). Pausing works on chat heads (status 2), so paused jobs cost
 * the claim nothing.
 *
 * @module
 */
import type { BroadcastProgress, JobState } from "../../outbound/types.js";
import type { RemovedJobs } from "../outbox-types.js";
import { lockChats, OUTBOX_LOCK_CLASS } from "./chat-locks.js";
import type { Tx } from "./database.js";
import { HEAD_PAUSED, HEAD_READY, HEAD_TIMED, refreshHead } from "./outbox-heads.js";
import { blobsOf } from "./outbox-rows.js";

/** The broadcast's ($1) queued jobs that head their chat. */
const HEADS_OF = `FROM (SELECT chat_key, seq FROM outbox_jobs WHERE broadcast_id = $1 AND state = 'queued') AS j
  WHERE outbox_heads.chat_key = j.chat_key AND outbox_heads.head_seq = j.seq`;

/** Counts of a broadcast by state; null when it is unknown. */
export async function broadcastProgress(tx: Tx, id: string): Promise<BroadcastProgress | null> {
  const row = await tx.one<{ paused: number }>("SELECT paused FROM outbox_broadcasts WHERE id = $1", [id]);
  if (row === undefined) return null;
  const counts: Record<JobState, number> = { queued: 0, sending: 0, delivered: 0, failed: 0, cancelled: 0 };
  for (const r of await tx.rows<{ state: JobState; n: number }>("SELECT state, count(*)::int AS n FROM outbox_jobs WHERE broadcast_id = $1 GROUP BY state", [id])) {
    counts[r.state] = r.n;
  }
  return {
    broadcastId: id,
    total: counts.queued + counts.sending + counts.delivered + counts.failed + counts.cancelled,
    delivered: counts.delivered,
    failed: counts.failed,
    cancelled: counts.cancelled,
    remaining: counts.queued + counts.sending,
    paused: row.paused === 1,
  };
}

/** Pauses a broadcast; false when unknown. */
export async function pauseBroadcast(tx: Tx, id: string): Promise<boolean> {
  if ((await tx.run("UPDATE outbox_broadcasts SET paused = 1 WHERE id = $1", [id])) === 0) return false;
  // Heads in flight are not the broadcast's queued jobs, so they are left to finish.
  await tx.run(`UPDATE outbox_heads SET status = ${HEAD_PAUSED} ${HEADS_OF} AND outbox_heads.status <> ${HEAD_PAUSED}`, [id]);
  return true;
}

/** Resumes a broadcast; false when unknown. */
export async function resumeBroadcast(tx: Tx, id: string, now: number): Promise<boolean> {
  if ((await tx.run("UPDATE outbox_broadcasts SET paused = 0 WHERE id = $1", [id])) === 0) return false;
  // A paused head keeps its due time in ready_at, so it goes back to ready or timed by it.
  await tx.run(
    `UPDATE outbox_heads SET status = CASE WHEN outbox_heads.ready_at <= $2 THEN ${HEAD_READY} ELSE ${HEAD_TIMED} END
     ${HEADS_OF} AND outbox_heads.status = ${HEAD_PAUSED}`,
    [id, now],
  );
  return true;
}

/** Cancels a broadcast's queued jobs (their chats locked first). */
export async function cancelBroadcast(tx: Tx, id: string, now: number): Promise<RemovedJobs> {
  const chats = await tx.rows<{ chat_key: string }>("SELECT DISTINCT chat_key FROM outbox_jobs WHERE broadcast_id = $1 AND state = 'queued'", [id]);
  await lockChats(tx, chats.map((c) => c.chat_key), OUTBOX_LOCK_CLASS);
  const rows = await tx.rows<{ id: string; chat_key: string; blobs: string }>(
    `UPDATE outbox_jobs SET state = 'cancelled', finished_at = $1, updated_at = $1
     WHERE broadcast_id = $2 AND state = 'queued' AND chat_key = ANY($3::text[]) RETURNING id, chat_key, blobs`,
    [now, id, chats.map((c) => c.chat_key)],
  );
  for (const chatKey of new Set(rows.map((r) => r.chat_key))) await refreshHead(tx, chatKey, now);
  return { count: rows.length, blobs: rows.flatMap(blobsOf) };
}
