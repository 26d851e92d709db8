/**
 * Maintenance of `chat_queue`, the per-chat head table that claiming scans; the same invariant
 * and statements as ../sqlite/chat-queue.ts: a chat has a row iff it has a pending or in-flight
 * item; its head is the item in flight if there is one, else its lowest pending `update_id`;
 * `ready_at` is when the head becomes claimable. Called inside the write transaction of the
 * operation that changed the chat, which holds the chat's lock (chat-locks.ts).
 *
 * @module
 */
import type { Tx } from "./database.js";

/**
 * Pending items were added (new updates, dead letters put back): for each chat the lowest new
 * id becomes the head when the chat had none, or when it precedes a head that is not in flight
 * (an in-flight head is never displaced: one item in flight per chat).
 */
export async function enqueuePending(tx: Tx, items: readonly { readonly chatKey: string; readonly updateId: number }[], dueAt: number): Promise<void> {
  if (items.length === 0) return;
  await tx.run(
    `INSERT INTO chat_queue AS q (chat_key, head_id, ready_at)
     SELECT chat_key, min(update_id), $3 FROM unnest($1::text[], $2::bigint[]) AS n (chat_key, update_id) GROUP BY chat_key
     ON CONFLICT (chat_key) DO UPDATE SET head_id = excluded.head_id, ready_at = excluded.ready_at
     WHERE excluded.head_id < q.head_id
       AND NOT EXISTS (SELECT 1 FROM inbox WHERE update_id = q.head_id AND state = 'inflight')`,
    [items.map((i) => i.chatKey), items.map((i) => i.updateId), dueAt],
  );
}

/**
 * Recomputes the head of `chatKey` after its head changed state (settled, released): the
 * lowest open item through the partial index `inbox_chat_open`, or no row when there is none.
 */
export async function refreshHead(tx: Tx, chatKey: string): Promise<void> {
  const next = await tx.one<{ update_id: number; state: string; due_at: number; lease_until: number | null }>(
    `SELECT update_id, state, due_at, lease_until FROM inbox
     WHERE chat_key = $1 AND state IN ('pending', 'inflight') ORDER BY update_id LIMIT 1`,
    [chatKey],
  );
  if (next === undefined) {
    await tx.run("DELETE FROM chat_queue WHERE chat_key = $1", [chatKey]);
    return;
  }
  const readyAt = next.state === "inflight" ? (next.lease_until ?? 0) : next.due_at;
  await tx.run(
    `INSERT INTO chat_queue (chat_key, head_id, ready_at) VALUES ($1, $2, $3)
     ON CONFLICT (chat_key) DO UPDATE SET head_id = excluded.head_id, ready_at = excluded.ready_at`,
    [chatKey, next.update_id, readyAt],
  );
}

/** The head's claim changed (claimed, lease extended or expired): it is next ready at `readyAt`. */
export async function setHeadReady(tx: Tx, chatKey: string, headId: number, readyAt: number): Promise<void> {
  await tx.run("UPDATE chat_queue SET ready_at = $1 WHERE chat_key = $2 AND head_id = $3", [readyAt, chatKey, headId]);
}

/**
 * {@link refreshHead} for several chats in one statement (a settle batch): per chat one seek of
 * `inbox_chat_open` for its lowest open item, then the chat's row rewritten or deleted.
 */
export async function refreshHeads(tx: Tx, chatKeys: readonly string[]): Promise<void> {
  const chats = [...new Set(chatKeys)];
  if (chats.length === 0) return;
  if (chats.length === 1) return refreshHead(tx, chats[0]!);
  await tx.run(
    `WITH chats AS (SELECT DISTINCT unnest($1::text[]) AS chat_key),
     next AS (
       SELECT c.chat_key, n.update_id, CASE WHEN n.state = 'inflight' THEN coalesce(n.lease_until, 0) ELSE n.due_at END AS ready_at
       FROM chats c CROSS JOIN LATERAL (
         SELECT update_id, state, due_at, lease_until FROM inbox
         WHERE chat_key = c.chat_key AND state IN ('pending', 'inflight') ORDER BY update_id LIMIT 1
       ) n
     ),
     gone AS (
       DELETE FROM chat_queue q USING chats c
       WHERE q.chat_key = c.chat_key AND NOT EXISTS (SELECT 1 FROM next WHERE next.chat_key = c.chat_key)
     )
     INSERT INTO chat_queue (chat_key, head_id, ready_at) SELECT chat_key, update_id, ready_at FROM next
     ON CONFLICT (chat_key) DO UPDATE SET head_id = excluded.head_id, ready_at = excluded.ready_at`,
    [chats],
  );
}
