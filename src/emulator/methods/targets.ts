/**
 * Where a bot's message goes, and what happens when it gets there: the target chat is checked
 * the way Telegram checks it (unknown chat, blocked, kicked, migrated), flood control is
 * applied, and the message is stored and recorded.
 */
import type { InlineKeyboardMarkup, Message, MessageEntity } from "grammy/types";
import { badRequest, forbidden } from "../api-error.js";
import type { Params } from "../params.js";
import type { DeliveredMessage } from "../record.js";
import type { Conversation, StoredMessage } from "../world.js";
import type { MethodContext } from "./context.js";

/** A chat a bot may send to, resolved and checked. */
export interface SendTarget {
  readonly conv: Conversation;
  readonly chatId: number;
  readonly isGroup: boolean;
}

/** Resolves `chat_id` (or another field) to a chat the bot may send to, or throws as Telegram. */
export function resolveTarget(ctx: MethodContext, params: Params, field = "chat_id"): SendTarget {
  const { world, bot } = ctx;
  const id = params.chatId(field);
  if (typeof id === "string" || id < 0) {
    const chat = typeof id === "string" ? world.chatByUsername(id) : world.chats.get(id);
    if (chat === undefined) throw badRequest("chat not found");
    if (chat.migratedTo !== undefined) {
      throw badRequest("group chat was upgraded to a supergroup chat", { migrate_to_chat_id: chat.migratedTo });
    }
    const status = chat.bots.get(bot.id);
    if (status !== "member") {
      const kind = chat.chat.type === "private" ? "group" : chat.chat.type;
      throw forbidden(status === "kicked" ? `bot was kicked from the ${kind} chat` : `bot is not a member of the ${kind} chat`);
    }
    return { conv: world.groupConversation(chat), chatId: chat.chat.id, isGroup: true };
  }
  const user = world.users.get(id);
  if (user === undefined) throw badRequest("chat not found");
  if (user.deactivated) throw forbidden("user is deactivated");
  if (user.blocked.has(bot.id)) throw forbidden("bot was blocked by the user");
  if (!user.startedAllBots && !user.started.has(bot.id)) throw forbidden("bot can't initiate conversation with a user");
  return { conv: world.privateConversation(bot.id, user), chatId: id, isGroup: false };
}

/** Finds a message in a conversation, or throws 400 with Telegram's wording for `what`. */
export function findMessage(conv: Conversation, messageId: number | undefined, what: string): StoredMessage {
  const stored = messageId === undefined ? undefined : conv.messages.get(messageId);
  if (stored === undefined) throw badRequest(`message to ${what} not found`);
  return stored;
}

/** Reads and checks `reply_markup`; returns the inline keyboard, if that is what it is. */
export function readReplyMarkup(params: Params): InlineKeyboardMarkup | undefined {
  const markup = params.json("reply_markup", "reply keyboard markup");
  if (markup === undefined) return undefined;
  if (Array.isArray(markup)) throw badRequest("can't parse reply keyboard markup JSON object");
  const keyboard = (markup as { inline_keyboard?: unknown }).inline_keyboard;
  if (keyboard === undefined) return undefined;
  const valid =
    Array.isArray(keyboard) &&
    keyboard.every((row) => Array.isArray(row) && row.every((b) => typeof (b as { text?: unknown })?.text === "string"));
  if (!valid) throw badRequest("can't parse inline keyboard button: InlineKeyboardButton must be an Object");
  for (const row of keyboard as Array<Array<{ callback_data?: unknown }>>) {
    for (const b of row) {
      if (typeof b.callback_data === "string" && Buffer.byteLength(b.callback_data) > 64) {
        throw badRequest("BUTTON_DATA_INVALID");
      }
    }
  }
  return markup as InlineKeyboardMarkup;
}

/** Reads `reply_parameters` / `reply_to_message_id` and checks the target message exists. */
export function readReplyTo(params: Params, conv: Conversation): StoredMessage | undefined {
  const replyParams = params.json("reply_parameters", "reply parameters") as
    | { message_id?: unknown; allow_sending_without_reply?: unknown }
    | undefined;
  const rawId = replyParams?.message_id ?? params.int("reply_to_message_id");
  if (rawId === undefined) return undefined;
  if (typeof rawId !== "number") throw badRequest("message to be replied not found");
  const stored = conv.messages.get(rawId);
  const allowWithout = replyParams?.allow_sending_without_reply === true || params.bool("allow_sending_without_reply") === true;
  if (stored === undefined && !allowWithout) throw badRequest("message to be replied not found");
  return stored;
}

/** What to deliver: the message fields besides the common ones, and how to record it. */
export interface Delivery {
  readonly method: string;
  readonly kind: DeliveredMessage["kind"];
  readonly visibleText: string | undefined;
  readonly fields: Partial<Message>;
}

/**
 * Delivers one or more messages to a checked target as one call: validates reply and
 * markup, takes a flood-control slot (429 if none), then stores and records every message.
 */
export function deliver(ctx: MethodContext, target: SendTarget, params: Params, deliveries: readonly Delivery[]): Message[] {
  const replyTo = readReplyTo(params, target.conv);
  const markup = readReplyMarkup(params);
  ctx.bot.limiter?.acquire({
    chatId: target.chatId,
    isGroup: target.isGroup,
    paidBroadcast: params.bool("allow_paid_broadcast") === true,
  });
  // Kept for the record as given (what the bot meant to format); not validated further.
  const given = params.json("entities") ?? params.json("caption_entities");
  const entities = Array.isArray(given) ? (given as MessageEntity[]) : undefined;
  const mediaGroupId = deliveries.length > 1 ? String(ctx.random.int(1e12, 9e12)) : undefined;
  return deliveries.map((d) => {
    const message = {
      message_id: target.conv.nextMessageId++,
      from: ctx.bot.asUser,
      chat: target.conv.chat,
      date: ctx.clock.unixSeconds(),
      ...d.fields,
    } as Message;
    if (replyTo !== undefined) (message as { reply_to_message?: Message }).reply_to_message = replyTo.message;
    if (markup !== undefined) message.reply_markup = markup;
    if (mediaGroupId !== undefined) (message as { media_group_id?: string }).media_group_id = mediaGroupId;
    target.conv.messages.set(message.message_id, { message, sentByBot: ctx.bot.id, replyMarkup: markup });
    ctx.bot.record.add({
      chatId: target.chatId,
      messageId: message.message_id,
      method: d.method,
      kind: d.kind,
      text: d.visibleText,
      replyToMessageId: replyTo?.message.message_id,
      at: ctx.clock.now(),
      ambiguous: ctx.bot.answerWillBeLost,
      entities,
      parseMode: params.string("parse_mode"),
      replyMarkup: markup,
    });
    return message;
  });
}
