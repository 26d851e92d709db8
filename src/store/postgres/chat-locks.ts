/**
 * Per-chat locks: every transaction that changes a chat's queue state (ingest, settle, claim,
 * dead-letter retry) holds its chat's lock, so two processes (or two pooled connections of one
 * process) never interleave the head maintenance of one chat. SQLite gets this for free (one
 * writer at a time); on PostgreSQL it is a transaction-level advisory lock on
 * `(CHAT_LOCK_CLASS, hashtext(chat_key))`, released by COMMIT or ROLLBACK. A hash collision
 * only makes two chats wait for each other.
 *
 * Deadlocks: transactions that wait for chat locks take them in ascending hash order, all in one
 * statement, so they cannot wait for each other in a cycle; claims only *try* locks (never
 * wait), skipping a chat that another transaction is working on, like `SKIP LOCKED`.
 *
 * @module
 */
import type { Tx } from "./database.js";

/** First key of the inbox's chat locks ("chat" in ASCII), apart from the migration lock's. */
export const CHAT_LOCK_CLASS = 0x63686174;

/**
 * First key of the outbox's chat locks ("outb"): a chat's outgoing queue is apart from its
 * incoming one. A transaction that needs both (a settle enqueuing sends) takes the inbox's
 * first, then the outbox's, each set in one statement.
 */
export const OUTBOX_LOCK_CLASS = 0x6f757462;

/** Waits for the locks of `chatKeys` (any order, duplicates allowed), in the one global order. */
export async function lockChats(tx: Tx, chatKeys: readonly string[], lockClass: number = CHAT_LOCK_CLASS): Promise<void> {
  if (chatKeys.length === 0) return;
  await tx.run(chatLocksSql("$1", "$2"), [lockClass, chatKeys]);
}

/**
 * The statement {@link lockChats} runs, with its lock class and chat keys as parameters
 * `classParam` and `keysParam`: one place for the lock order (hash order, so that two
 * transactions never wait for each other's locks), also used inside larger statements.
 */
export function chatLocksSql(classParam: string, keysParam: string): string {
  return `SELECT pg_advisory_xact_lock(${classParam}, h)
     FROM (SELECT DISTINCT hashtext(k) AS h FROM unnest(${keysParam}::text[]) AS k ORDER BY h) AS s`;
}

/**
 * {@link lockChats} for the chats of the inbox items `updateIds`, looked up in the same
 * statement (a settle knows its updates, not their chats: one round trip instead of two).
 */
export async function lockChatsOfUpdates(tx: Tx, updateIds: readonly number[]): Promise<void> {
  if (updateIds.length === 0) return;
  await tx.run(
    `SELECT pg_advisory_xact_lock($1, h)
     FROM (SELECT DISTINCT hashtext(chat_key) AS h FROM inbox WHERE update_id = ANY($2::bigint[]) ORDER BY h) AS s`,
    [CHAT_LOCK_CLASS, updateIds],
  );
}

/**
 * Takes the locks of `chatKeys` that are free (or already held by this transaction) without
 * waiting; returns the chats it holds now.
 */
export async function tryLockChats(tx: Tx, chatKeys: readonly string[], lockClass: number = CHAT_LOCK_CLASS): Promise<Set<string>> {
  if (chatKeys.length === 0) return new Set();
  const rows = await tx.rows<{ k: string }>(
    `SELECT k FROM unnest($2::text[]) AS k WHERE pg_try_advisory_xact_lock($1, hashtext(k))`,
    [lockClass, chatKeys],
  );
  return new Set(rows.map((r) => r.k));
}
