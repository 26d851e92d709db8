/**
 * Per-chat and per-user facts of the outbox on SQLite: unreachable chats and the users the bot
 * has seen (for `notify`). Small tables keyed by chat or user; every function runs inside a
 * transaction of the caller.
 *
 * @module
 */
import type { UnreachableChat } from "../../outbound/types.js";
import { chatKeyOf } from "../outbox-validate.js";
import type { ChatId } from "../outbox-types.js";
import type { SqliteDatabase } from "./database.js";

interface UnreachableRow {
  chat_id: number | string;
  reason: string;
  since: number;
}

const toUnreachable = (r: UnreachableRow): UnreachableChat => ({ chatId: r.chat_id, reason: r.reason, since: r.since });

/** Marks a chat unreachable, keeping the first `since` when it already is. */
export function markUnreachable(db: SqliteDatabase, chatId: ChatId, reason: string, now: number): void {
  db.statement(
    `INSERT INTO outbox_unreachable (chat_key, chat_id, reason, since) VALUES (?, ?, ?, ?)
     ON CONFLICT (chat_key) DO UPDATE SET reason = excluded.reason`,
  ).run(chatKeyOf(chatId), chatId, db.freeText(reason, 4000), now);
}

/** Clears a chat's mark; true when it was marked. */
export function clearUnreachable(db: SqliteDatabase, chatId: ChatId): boolean {
  return db.statement("DELETE FROM outbox_unreachable WHERE chat_key = ?").run(chatKeyOf(chatId)).changes > 0;
}

/** A chat's mark, or null. */
export function unreachableOf(db: SqliteDatabase, chatId: ChatId): UnreachableChat | null {
  const row = db.statement("SELECT chat_id, reason, since FROM outbox_unreachable WHERE chat_key = ?").get(chatKeyOf(chatId)) as
    | UnreachableRow
    | undefined;
  return row === undefined ? null : toUnreachable(row);
}

/** Every marked chat, longest unreachable first. */
export function listUnreachable(db: SqliteDatabase): UnreachableChat[] {
  const rows = db.statement("SELECT chat_id, reason, since FROM outbox_unreachable ORDER BY since, chat_key").all() as UnreachableRow[];
  return rows.map(toUnreachable);
}

/** Records the chat of a user. */
export function rememberUser(db: SqliteDatabase, userId: number, chatId: ChatId, now: number): void {
  db.statement(
    `INSERT INTO outbox_users (user_id, chat_id, seen_at) VALUES (?, ?, ?)
     ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, seen_at = excluded.seen_at`,
  ).run(userId, chatId, now);
}

/** The chat of a user, or null. */
export function chatOfUser(db: SqliteDatabase, userId: number): ChatId | null {
  const row = db.statement("SELECT chat_id FROM outbox_users WHERE user_id = ?").get(userId) as { chat_id: ChatId } | undefined;
  return row?.chat_id ?? null;
}
