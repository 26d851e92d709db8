/**
 * Facts about a claimed update that the catch-up policy and `ctx.unlost` need: its chat, the
 * sender's language, its age, and whether the user acted while the bot was down.
 */
import type { Update } from "grammy/types";
import type { UpdateFacts } from "../inbound/catch-up/index.js";
import type { ClaimedUpdate } from "../store/index.js";

interface Payload {
  chat?: { id?: unknown };
  message?: { chat?: { id?: unknown } };
  from?: { language_code?: unknown };
}

/** The payload object of an update (`message`, `callback_query`, …). */
function payloadOf(update: Update): Payload | undefined {
  for (const [key, value] of Object.entries(update)) {
    if (key !== "update_id" && typeof value === "object" && value !== null) return value as Payload;
  }
  return undefined;
}

/** Computes the facts of a claimed update at `now`. */
export function factsOf(claimed: ClaimedUpdate, now: number, wasDown: (atMs: number) => boolean): UpdateFacts {
  const update = claimed.update as unknown as Update;
  const payload = payloadOf(update);
  const chatIdRaw = payload?.chat?.id ?? payload?.message?.chat?.id;
  const language = payload?.from?.language_code;
  const acted = claimed.messageDate ?? claimed.receivedAt;
  return {
    update,
    chatId: typeof chatIdRaw === "number" ? chatIdRaw : undefined,
    languageCode: typeof language === "string" ? language : undefined,
    messageDate: claimed.messageDate,
    receivedAt: claimed.receivedAt,
    now,
    ageMs: Math.max(0, now - acted),
    arrivedWhileDown: claimed.messageDate !== null && wasDown(claimed.messageDate),
  };
}
