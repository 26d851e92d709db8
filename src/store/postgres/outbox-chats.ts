/**
 * Per-chat and per-user facts of the outbox on PostgreSQL: unreachable chats and the users the
 * bot has seen (see ../sqlite/outbox-chats.ts). Chat ids are stored as JSON text.
 *
 * @module
 */
import type { UnreachableChat } from "../../outbound/types.js";
import { chatKeyOf } from "../outbox-validate.js";
import type { ChatId, RememberedUser } from "../outbox-types.js";
import type { PgDatabase, Tx } from "./database.js";
import { decodeChatId, encodeChatId } from "./outbox-rows.js";

interface UnreachableRow {
  chat_id: string;
  reason: string;
  since: number;
}

const toUnreachable = (r: UnreachableRow): UnreachableChat => ({ chatId: decodeChatId(r.chat_id), reason: r.reason, since: r.since });

/** Marks a chat unreachable, keeping the first `since` when it already is. */
export async function markUnreachable(db: PgDatabase, tx: Tx, chatId: ChatId, reason: string, now: number): Promise<void> {
  await tx.run(
    `INSERT INTO outbox_unreachable (chat_key, chat_id, reason, since) VALUES ($1, $2, $3, $4)
     ON CONFLICT (chat_key) DO UPDATE SET reason = excluded.reason`,
    [chatKeyOf(chatId), encodeChatId(chatId), db.freeText(reason, 4000), now],
  );
}

/** Clears a chat's mark; true when it was marked. */
export async function clearUnreachable(tx: Tx, chatId: ChatId): Promise<boolean> {
  return (await tx.run("DELETE FROM outbox_unreachable WHERE chat_key = $1", [chatKeyOf(chatId)])) > 0;
}

/** A chat's mark, or null. */
export async function unreachableOf(tx: Tx, chatId: ChatId): Promise<UnreachableChat | null> {
  const row = await tx.one<UnreachableRow>("SELECT chat_id, reason, since FROM outbox_unreachable WHERE chat_key = $1", [chatKeyOf(chatId)]);
  return row === undefined ? null : toUnreachable(row);
}

/** Every marked chat, longest unreachable first. */
export async function listUnreachable(tx: Tx): Promise<UnreachableChat[]> {
  return (await tx.rows<UnreachableRow>("SELECT chat_id, reason, since FROM outbox_unreachable ORDER BY since, chat_key")).map(toUnreachable);
}

/** Records the chat of a user. */
export async function rememberUser(tx: Tx, userId: number, chatId: ChatId, now: number): Promise<void> {
  await tx.run(
    `INSERT INTO outbox_users (user_id, chat_id, seen_at) VALUES ($1, $2, $3)
     ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, seen_at = excluded.seen_at`,
    [userId, encodeChatId(chatId), now],
  );
}

/**
 * Records the chats of several users in one statement. One row per user (the last chat given
 * wins: an upsert may not touch a row twice), in user id order, so that two processes recording
 * overlapping users take the rows' locks in one order.
 */
export async function rememberUsers(tx: Tx, users: readonly RememberedUser[], now: number): Promise<void> {
  const last = new Map(users.map((u) => [u.userId, u.chatId]));
  const ids = [...last.keys()].sort((a, b) => a - b);
  await tx.run(
    `INSERT INTO outbox_users (user_id, chat_id, seen_at)
     SELECT u.user_id, u.chat_id, $3 FROM unnest($1::bigint[], $2::text[]) AS u (user_id, chat_id) ORDER BY u.user_id
     ON CONFLICT (user_id) DO UPDATE SET chat_id = excluded.chat_id, seen_at = excluded.seen_at`,
    [ids, ids.map((id) => encodeChatId(last.get(id)!)), now],
  );
}

/** The chat of a user, or null. */
export async function chatOfUser(tx: Tx, userId: number): Promise<ChatId | null> {
  const row = await tx.one<{ chat_id: string }>("SELECT chat_id FROM outbox_users WHERE user_id = $1", [userId]);
  return row === undefined ? null : decodeChatId(row.chat_id);
}
