/**
 * Update fixtures for the catch-up tests (not exported from the folder's index).
 *
 * @module
 */
import type { Update } from "grammy/types";
import type { UpdateFacts } from "../facts.js";

/** A fixed "now" for the tests: 2024-05-01T12:00:00Z. */
export const NOW = Date.UTC(2024, 4, 1, 12, 0, 0);

/** A text message update. */
export function messageUpdate(
  options: { updateId?: number; chatId?: number; chatType?: string; lang?: string; dateSec?: number } = {},
): Update {
  const chatId = options.chatId ?? 100;
  const from = { id: chatId, is_bot: false, first_name: "Ali", ...(options.lang === undefined ? {} : { language_code: options.lang }) };
  return {
    update_id: options.updateId ?? 1,
    message: {
      message_id: 1,
      date: options.dateSec ?? Math.floor(NOW / 1000) - 600,
      chat: { id: chatId, type: options.chatType ?? "private", first_name: "Ali" },
      from,
      text: "hi",
    },
  } as unknown as Update;
}

/** A callback query on a bot message. */
export function callbackUpdate(options: { chatId?: number; lang?: string; messageDateSec?: number; inline?: boolean } = {}): Update {
  const chatId = options.chatId ?? 100;
  const from = { id: chatId, is_bot: false, first_name: "Ali", ...(options.lang === undefined ? {} : { language_code: options.lang }) };
  const message = {
    message_id: 7,
    date: options.messageDateSec ?? Math.floor(NOW / 1000) - 7200,
    chat: { id: chatId, type: "private", first_name: "Ali" },
    text: "pick one",
  };
  return {
    update_id: 2,
    callback_query: {
      id: "cbq-1",
      from,
      chat_instance: "ci",
      data: "yes",
      ...(options.inline === true ? { inline_message_id: "im-1" } : { message }),
    },
  } as unknown as Update;
}

/** Facts with sensible defaults (an update that arrived while down, 10 min old). */
export function facts(update: Update, overrides: Partial<UpdateFacts> = {}): UpdateFacts {
  const payload = (update.message ?? update.callback_query) as { from?: { language_code?: string } } | undefined;
  const chat = update.message?.chat.id ?? update.callback_query?.message?.chat.id ?? update.my_chat_member?.chat.id;
  return {
    update,
    chatId: chat,
    languageCode: payload?.from?.language_code,
    messageDate: update.message === undefined ? null : update.message.date * 1000,
    receivedAt: NOW - 1000,
    now: NOW,
    ageMs: 600_000,
    arrivedWhileDown: true,
    ...overrides,
  };
}
