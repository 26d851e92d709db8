/**
 * `GET /api/dead-letters`: a page of the inbox's or the outbox's dead letters, with the
 * update's payload or the job's, the error and (inbox) the stack: what an operator needs to
 * decide between a retry and a purge. Behind the token: payloads are users' messages.
 *
 * Query: `kind=inbox|outbox` (default inbox), `chat` (inbox: the chat key, e.g. `123`;
 * outbox: a chat id or `@username`), `error` (substring of the error), `limit` (1–1000,
 * default 50), `cursor` (the `nextCursor` of the previous page).
 *
 * `POST /api/dead-letters/retry` and `/purge` act on them (body: see {@link deadLetterAction}).
 * With the bearer token as the only credential, no browser sends it by itself, so these
 * actions need no CSRF token (a cookie login, when it comes, will).
 *
 * @module
 */
import { z } from "zod";
import type { Store } from "../store/index.js";
import type { DeadLetterActions } from "./source.js";

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

/** The body of `POST /api/dead-letters/retry` and `/purge`. */
const actionBody = z.strictObject({
  kind: z.enum(["inbox", "outbox"]),
  /** Inbox: the update id; outbox: the job id. */
  id: z.union([z.number().int(), z.string().min(1)]).optional(),
  all: z.literal(true).optional(),
  chat: z.union([z.number().int(), z.string().min(1)]).optional(),
  error: z.string().min(1).optional(),
});

/** What a retry or purge did. */
export interface DeadLetterActionAnswer {
  readonly kind: "inbox" | "outbox";
  readonly action: "retry" | "purge";
  /** How many dead letters it affected. */
  readonly count: number;
}

/** The store's own retry and purge, for a store served without a bot. */
export function storeDeadLetterActions(store: Store, clock: () => number): DeadLetterActions {
  return {
    inbox: { retry: (s) => store.inbox.deadLetters.retry(s, { now: clock() }), purge: (s) => store.inbox.deadLetters.purge(s) },
    outbox: { retry: (s) => store.outbox.deadLetters.retry(s, { now: clock() }), purge: async (s) => (await store.outbox.deadLetters.purge(s)).count },
  };
}

/**
 * Retries or purges the dead letters the body selects: exactly one of `id`, `all: true`, or a
 * filter (`chat`, `error`), so that a forgotten field can never purge everything.
 *
 * @throws BadQuery for a malformed body.
 */
export async function deadLetterAction(actions: DeadLetterActions, action: "retry" | "purge", raw: unknown): Promise<DeadLetterActionAnswer> {
  const parsed = actionBody.safeParse(raw);
  if (!parsed.success) throw new BadQuery(`the body must be JSON like {"kind":"inbox","id":123}, {"kind":"outbox","all":true} or {"kind":"inbox","error":"timeout"}: ${parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`).join("; ")}`);
  const b = parsed.data;
  const filtered = b.chat !== undefined || b.error !== undefined;
  const ways = [b.id !== undefined, b.all === true, filtered].filter(Boolean).length;
  if (ways !== 1) throw new BadQuery('select the dead letters with exactly one of "id", "all": true, or a filter ("chat", "error")');
  if (b.kind === "inbox") {
    if (b.id !== undefined && typeof b.id !== "number") throw new BadQuery("an inbox dead letter's id is its update id (a number)");
    const selector = b.id !== undefined ? { updateId: b.id } : b.all === true ? { all: true as const } : { filter: { ...(b.chat === undefined ? {} : { chatKey: String(b.chat) }), ...(b.error === undefined ? {} : { errorContains: b.error }) } };
    return { kind: b.kind, action, count: await actions.inbox[action](selector) };
  }
  if (b.id !== undefined && typeof b.id !== "string") throw new BadQuery("an outbox dead letter's id is its job id (a string)");
  const selector = b.id !== undefined ? { id: b.id } : b.all === true ? { all: true as const } : { filter: { ...(b.chat === undefined ? {} : { chatId: b.chat }), ...(b.error === undefined ? {} : { errorContains: b.error }) } };
  return { kind: b.kind, action, count: await actions.outbox[action](selector) };
}
