/**
 * Maintenance of `chat_queue`, the per-chat head table that claiming scans (see schema.ts).
 * Invariant: a chat has a row iff it has a pending or in-flight item; its head is the item in
 * flight if there is one, else its lowest pending `update_id`; `ready_at` is when the head
 * becomes claimable. Called inside the write transaction of the operation that changed the chat.
 *
 * @module
 */
import type { SqliteDatabase } from "./database.js";

/**
 * A pending item was added to `chatKey` (new update, or a dead letter put back). It becomes the
 * head when the chat had none, or when it precedes a head that is not in flight (an in-flight
 * head is never displaced: one item in flight per chat).
 */
export function enqueuePending(db: SqliteDatabase, chatKey: string, updateId: number, dueAt: number): void {
  db.statement(
    `INSERT INTO chat_queue (chat_key, head_id, ready_at) VALUES (?, ?, ?)
     ON CONFLICT (chat_key) DO UPDATE SET head_id = excluded.head_id, ready_at = excluded.ready_at
     WHERE excluded.head_id < chat_queue.head_id
       AND NOT EXISTS (SELECT 1 FROM inbox WHERE update_id = chat_queue.head_id AND state = 'inflight')`,
  ).run(chatKey, updateId, dueAt);
}

interface OpenHead {
  update_id: number;
  state: string;
  due_at: number;
  lease_until: number | null;
}

/**
 * Recomputes the head of `chatKey` after its head changed state (settled, released). Reads the
 * lowest open item through the partial index `inbox_chat_open`: one index seek, however long
 * the chat's backlog.
 */
export function refreshHead(db: SqliteDatabase, chatKey: string): void {
  const next = db
    .statement(
      `SELECT update_id, state, due_at, lease_until FROM inbox
       WHERE chat_key = ? AND state IN ('pending', 'inflight') ORDER BY update_id LIMIT 1`,
    )
    .get(chatKey) as OpenHead | undefined;
  if (next === undefined) {
    db.statement("DELETE FROM chat_queue WHERE chat_key = ?").run(chatKey);
    return;
  }
  const readyAt = next.state === "inflight" ? (next.lease_until ?? 0) : next.due_at;
  db.statement(
    `INSERT INTO chat_queue (chat_key, head_id, ready_at) VALUES (?, ?, ?)
     ON CONFLICT (chat_key) DO UPDATE SET head_id = excluded.head_id, ready_at = excluded.ready_at`,
  ).run(chatKey, next.update_id, readyAt);
}

/** The head's claim changed (claimed, lease extended or expired): it is next ready at `readyAt`. */
export function setHeadReady(db: SqliteDatabase, chatKey: string, headId: number, readyAt: number): void {
  db.statement("UPDATE chat_queue SET ready_at = ? WHERE chat_key = ? AND head_id = ?").run(readyAt, chatKey, headId);
}
