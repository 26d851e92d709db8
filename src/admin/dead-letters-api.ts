/**
 * `GET /api/dead-letters`: a page of the inbox's or the outbox's dead letters, with the
 * update's payload or the job's, the error and (inbox) the stack: what an operator needs to
 * decide between a retry and a purge. Behind the token: payloads are users' messages.
 *
 * Query: `kind=inbox|outbox` (default inbox), `chat` (inbox: the chat key, e.g. `123`;
 * outbox: a chat id or `@username`), `error` (substring of the error), `limit` (1–1000,
 * default 50), `cursor` (the `nextCursor` of the previous page).
 *
 * @module
 */
import type { Store } from "../store/index.js";

/** A query that could not be understood: answered 400 with this message. */
export class BadQuery extends Error {}

/** A page of dead letters, as answered. */
export interface DeadLetterAnswer {
  readonly kind: "inbox" | "outbox";
  readonly items: readonly unknown[];
  readonly nextCursor: string | null;
}

/** Lists dead letters for the query. @throws BadQuery for a malformed query. */
export async function listDeadLetters(store: Store, query: Readonly<Record<string, string | undefined>>): Promise<DeadLetterAnswer> {
  const kind = query["kind"] ?? "inbox";
  if (kind !== "inbox" && kind !== "outbox") throw new BadQuery(`kind must be "inbox" or "outbox", got "${kind}"`);
  const limitText = query["limit"];
  const limit = limitText === undefined ? 50 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new BadQuery(`limit must be a whole number from 1 to 1000, got "${String(limitText)}"`);
  const page = { limit, ...(query["cursor"] === undefined ? {} : { cursor: query["cursor"] }), ...(query["error"] === undefined ? {} : { errorContains: query["error"] }) };
  const chat = query["chat"];
  if (kind === "inbox") {
    const result = await store.inbox.deadLetters.list({ ...page, ...(chat === undefined ? {} : { chatKey: chat }) });
    return { kind, items: result.items, nextCursor: result.nextCursor };
  }
  let chatId: number | string | undefined;
  if (chat !== undefined) {
    if (/^-?\d+$/.test(chat)) chatId = Number(chat);
    else if (/^@\w+$/.test(chat)) chatId = chat;
    else throw new BadQuery(`chat must be a chat id or an @username, got "${chat}"`);
  }
  const result = await store.outbox.deadLetters.list({ ...page, ...(chatId === undefined ? {} : { chatId }) });
  return { kind, items: result.items, nextCursor: result.nextCursor };
}
