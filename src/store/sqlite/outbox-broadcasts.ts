/**
 * Broadcast control on SQLite: progress, pause, resume and cancel. A broadcast is the set of
 * jobs sharing a `broadcast_id`; `outbox_broadcasts` only records that it exists and whether
 * it is paused. Pausing works on chat heads (status 2), so paused jobs cost the claim nothing.
 *
 * @module
 */
import type { BroadcastProgress, JobState } from "../../outbound/types.js";
import type { RemovedJobs } from "../outbox-types.js";
import type { SqliteDatabase } from "./database.js";
import { HEAD_PAUSED, HEAD_READY, HEAD_TIMED, refreshHead } from "./outbox-heads.js";
import { blobsOf } from "./outbox-rows.js";

/** The broadcast's queued jobs that head their chat, matched by the `outbox_jobs_broadcast` index. */
const HEADS_OF = `FROM (SELECT chat_key, seq FROM outbox_jobs WHERE broadcast_id = ? AND state = 'queued') AS j
  WHERE outbox_heads.chat_key = j.chat_key AND outbox_heads.head_seq = j.seq`;

/** Counts of a broadcast by state; null when it is unknown. Must run in a transaction. */
export function broadcastProgress(db: SqliteDatabase, id: string): BroadcastProgress | null {
  const row = db.statement("SELECT paused FROM outbox_broadcasts WHERE id = ?").get(id) as { paused: number } | undefined;
  if (row === undefined) return null;
  const counts: Record<JobState, number> = { queued: 0, sending: 0, delivered: 0, failed: 0, cancelled: 0 };
  const rows = db.statement("SELECT state, count(*) AS n FROM outbox_jobs WHERE broadcast_id = ? GROUP BY state").all(id) as {
    state: JobState;
    n: number;
  }[];
  for (const r of rows) counts[r.state] = r.n;
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

/** Pauses a broadcast; false when unknown. Must run in a write transaction. */
export function pauseBroadcast(db: SqliteDatabase, id: string): boolean {
  if (db.statement("UPDATE outbox_broadcasts SET paused = 1 WHERE id = ?").run(id).changes === 0) return false;
  // Heads in flight are not the broadcast's queued jobs, so they are left to finish.
  db.statement(`UPDATE outbox_heads SET status = ${HEAD_PAUSED} ${HEADS_OF} AND outbox_heads.status <> ${HEAD_PAUSED}`).run(id);
  return true;
}

/** Resumes a broadcast; false when unknown. Must run in a write transaction. */
export function resumeBroadcast(db: SqliteDatabase, id: string, now: number): boolean {
  if (db.statement("UPDATE outbox_broadcasts SET paused = 0 WHERE id = ?").run(id).changes === 0) return false;
  // A paused head keeps its due time in ready_at, so it goes back to ready or timed by it.
  db.statement(
    `UPDATE outbox_heads SET status = CASE WHEN outbox_heads.ready_at <= ? THEN ${HEAD_READY} ELSE ${HEAD_TIMED} END
     ${HEADS_OF} AND outbox_heads.status = ${HEAD_PAUSED}`,
  ).run(now, id);
  return true;
}

/** Cancels a broadcast's queued jobs. Must run in a write transaction. */
export function cancelBroadcast(db: SqliteDatabase, id: string, now: number): RemovedJobs {
  const rows = db
    .statement(
      `UPDATE outbox_jobs SET state = 'cancelled', finished_at = ?, updated_at = ?
       WHERE broadcast_id = ? AND state = 'queued' RETURNING id, chat_key, blobs`,
    )
    .all(now, now, id) as { id: string; chat_key: string; blobs: string }[];
  for (const chatKey of new Set(rows.map((r) => r.chat_key))) refreshHead(db, chatKey, now);
  return { count: rows.length, blobs: rows.flatMap(blobsOf) };
}
