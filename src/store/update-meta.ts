/**
 * Pure helpers that read the facts the inbox indexes an update by: its type, the key of the
 * queue it belongs to (its chat), and when the user acted. No I/O, so every backend derives
 * exactly the same values.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";

/**
 * A Telegram update as it arrives (parsed JSON). Only `update_id` is required; the rest is
 * stored verbatim. It is deliberately looser than grammY's `Update` type because a webhook
 * body is untrusted JSON until it has been stored.
 */
export interface RawUpdate {
  /** Telegram's identifier of the update; unique per bot. */
  readonly update_id: number;
  /** The payload: exactly one field such as `message` or `callback_query`. */
  readonly [field: string]: unknown;
}

/** The facts the inbox stores beside an update's raw JSON. */
export interface UpdateMeta {
  /** The update's payload field name, such as `message`; `unknown` when it has none. */
  readonly updateType: string;
  /** The queue the update belongs to; see {@link deriveChatKey}. */
  readonly chatKey: string;
  /** When the user acted (ms epoch), from the payload's `edit_date` or `date`; null if absent. */
  readonly messageDate: number | null;
}

type Json = Readonly<Record<string, unknown>>;

function asObject(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function idOf(value: unknown): string | undefined {
  const id = asObject(value)?.["id"];
  // Telegram ids are integers that may exceed 2^31 (and, for chats, be negative). They fit in
  // a double exactly (< 2^53); a bigint would also do if a caller parsed them that way.
  if (typeof id === "number" && Number.isInteger(id)) return String(id);
  if (typeof id === "bigint") return id.toString();
  if (typeof id === "string" && /^-?\d+$/.test(id)) return id;
  return undefined;
}

/**
 * Why `value` cannot be stored as an update (it is not a JSON object with a non-negative
 * integer `update_id`), or undefined when it can. The message starts with
 * `update has no valid update_id:`; callers keep such a value as an unstorable dead letter
 * (see `IngestOptions.unstorable`) instead of failing its whole batch.
 */
export function unstorableReason(value: unknown): string | undefined {
  const object = asObject(value);
  if (object === undefined) {
    const kind = value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
    return `update has no valid update_id: it is ${kind}, not a JSON object`;
  }
  const id = object["update_id"];
  if (typeof id === "number" && Number.isSafeInteger(id) && id >= 0) return undefined;
  const got = id === undefined ? "it has none" : `got ${typeof id === "bigint" ? id.toString() : (JSON.stringify(id) ?? String(id))}`;
  return `update has no valid update_id: ${got} (a non-negative integer is required)`;
}

/**
 * Checks that `update` has a usable `update_id` (a non-negative safe integer) and returns it.
 *
 * @throws UnlostError `INVALID_ARGUMENT` when it has not.
 */
export function requireUpdateId(update: unknown): number {
  const id = asObject(update)?.["update_id"];
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
    throw new UnlostError(
      "INVALID_ARGUMENT",
      `An update must be an object with a non-negative integer "update_id"; got ${JSON.stringify(id) ?? "undefined"}.`,
    );
  }
  return id;
}

/**
 * The update's type: the name of its payload field (`message`, `callback_query`, ...), i.e.
 * the first field other than `update_id` that holds an object. `unknown` when there is none.
 */
export function deriveUpdateType(update: RawUpdate): string {
  // for…in with an own-property check: the same fields in the same order as Object.entries,
  // without building an array of pairs per update (this runs for every update stored).
  for (const field in update) {
    if (field !== "update_id" && Object.hasOwn(update, field) && asObject(update[field]) !== undefined) return field;
  }
  return "unknown";
}

/**
 * The key of the queue an update belongs to. Updates with the same key are handled one at a
 * time in `update_id` order; different keys run in parallel.
 *
 * - the chat id when the payload has a chat (messages, edits, channel posts, reactions, member
 *   changes, join requests, boosts, and callback queries on a message);
 * - otherwise the acting user's id (inline queries, callback queries on inline messages,
 *   shipping and pre-checkout queries, poll answers). A user's id equals their private chat's
 *   id, so a user's inline queries queue together with their private chat: per user, in order;
 * - otherwise `update:<update_id>`, a queue of its own (e.g. `poll` updates), so an update
 *   without an owner never blocks anyone.
 */
export function deriveChatKey(update: RawUpdate): string {
  return chatKeyOfType(update, deriveUpdateType(update));
}

/** {@link deriveChatKey} when the update's type is known already (it saves finding it again). */
export function chatKeyOfType(update: RawUpdate, type: string): string {
  const payload = asObject(update[type]);
  if (payload !== undefined) {
    const chat = idOf(payload["chat"]);
    if (chat !== undefined) return chat;
    // A callback query carries its chat on the message the button belonged to.
    const messageChat = idOf(asObject(payload["message"])?.["chat"]);
    if (messageChat !== undefined) return messageChat;
    // poll_answer from an anonymous channel voter names the chat instead of a user.
    const voterChat = idOf(payload["voter_chat"]);
    if (voterChat !== undefined) return voterChat;
    const user = idOf(payload["from"]) ?? idOf(payload["user"]);
    if (user !== undefined) return user;
  }
  return `update:${requireUpdateId(update)}`;
}

/**
 * When the user acted, in ms since the epoch: the payload's `edit_date` (for edits) or `date`
 * (Telegram sends unix seconds). Null for payloads without a date (callback queries, inline
 * queries: their `message.date` is when the *bot's* message was sent, not when the user clicked).
 */
export function deriveMessageDate(update: RawUpdate): number | null {
  return messageDateOfType(update, deriveUpdateType(update));
}

/** {@link deriveMessageDate} when the update's type is known already. */
export function messageDateOfType(update: RawUpdate, type: string): number | null {
  return payloadDate(asObject(update[type]));
}

/**
 * {@link deriveMessageDate} of an update whose payload (the object under its type's field) is
 * at hand: `edit_date`, else `date`, in ms; null when neither is a positive number.
 */
export function payloadDate(payload: Readonly<Record<string, unknown>> | undefined): number | null {
  if (payload === undefined) return null;
  // Two plain reads, not a loop over a list: this runs for every update.
  const edited = payload["edit_date"];
  if (typeof edited === "number" && Number.isFinite(edited) && edited > 0) return edited * 1000;
  const date = payload["date"];
  if (typeof date === "number" && Number.isFinite(date) && date > 0) return date * 1000;
  return null;
}

/** All the facts of {@link UpdateMeta} at once. */
export function deriveUpdateMeta(update: RawUpdate): UpdateMeta {
  const updateType = deriveUpdateType(update);
  return { updateType, chatKey: chatKeyOfType(update, updateType), messageDate: messageDateOfType(update, updateType) };
}
