/**
 * Text messages and what bots do to messages: send, edit, delete, copy, forward.
 */
import type { InlineKeyboardMarkup, Message } from "grammy/types";
import { asBadRequest, badRequest } from "../api-error.js";
import { checkCaption, checkMessageText } from "../../telegram/formatted-text.js";
import type { Params } from "../params.js";
import type { StoredMessage } from "../world.js";
import type { MethodContext, MethodHandler } from "./context.js";
import { deliver, findMessage, readReplyMarkup, resolveTarget } from "./targets.js";

const sendMessage: MethodHandler = (ctx, params) => {
  const target = resolveTarget(ctx, params);
  const text = params.string("text");
  const visible = asBadRequest(() => checkMessageText(text, params.string("parse_mode")));
  return deliver(ctx, target, params, [{ method: "sendMessage", kind: "text", visibleText: visible, fields: { text: visible } }])[0];
};

/** Finds the bot's own message for an edit, with Telegram's errors. */
function messageToEdit(ctx: MethodContext, params: Params): StoredMessage {
  if (params.has("inline_message_id")) throw badRequest("MESSAGE_ID_INVALID");
  const target = resolveTarget(ctx, params);
  const stored = findMessage(target.conv, params.int("message_id"), "edit");
  if (stored.sentByBot !== ctx.bot.id) throw badRequest("message can't be edited");
  return stored;
}

function sameMarkup(stored: StoredMessage, markup: unknown): boolean {
  return JSON.stringify(markup ?? null) === JSON.stringify(stored.replyMarkup ?? null);
}

const NOT_MODIFIED =
  "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message";

const editMessageText: MethodHandler = (ctx, params) => {
  const stored = messageToEdit(ctx, params);
  const visible = asBadRequest(() => checkMessageText(params.string("text"), params.string("parse_mode")));
  const markup = readReplyMarkup(params);
  const old = stored.message as { text?: string };
  if (old.text === undefined) throw badRequest("there is no text in the message to edit");
  if (old.text === visible && sameMarkup(stored, markup)) throw badRequest(NOT_MODIFIED);
  const edited = { ...stored.message, text: visible, edit_date: ctx.clock.unixSeconds() } as Message;
  if (markup !== undefined) edited.reply_markup = markup;
  else delete edited.reply_markup;
  stored.message = edited;
  stored.replyMarkup = markup;
  recordEdit(ctx, "editMessageText", edited, markup);
  return edited;
};

/** Keeps an edit in the bot's record, so tests can follow a menu that edits itself. */
function recordEdit(ctx: MethodContext, method: string, edited: Message, markup: InlineKeyboardMarkup | undefined): void {
  const text = (edited as { text?: string; caption?: string }).text ?? (edited as { caption?: string }).caption;
  ctx.bot.record.addEdit({ chatId: edited.chat.id, messageId: edited.message_id, method, text, replyMarkup: markup, at: ctx.clock.now() });
}

const editMessageReplyMarkup: MethodHandler = (ctx, params) => {
  const stored = messageToEdit(ctx, params);
  const markup = readReplyMarkup(params);
  if (sameMarkup(stored, markup)) throw badRequest(NOT_MODIFIED);
  const edited = { ...stored.message, edit_date: ctx.clock.unixSeconds() } as Message;
  if (markup !== undefined) edited.reply_markup = markup;
  else delete edited.reply_markup;
  stored.message = edited;
  stored.replyMarkup = markup;
  recordEdit(ctx, "editMessageReplyMarkup", edited, markup);
  return edited;
};

const deleteMessage: MethodHandler = (ctx, params) => {
  const target = resolveTarget(ctx, params);
  const id = params.int("message_id");
  findMessage(target.conv, id, "delete");
  target.conv.messages.delete(id as number);
  return true;
};

/** The message a copy or forward takes, checked as Telegram checks it. */
function sourceMessage(ctx: MethodContext, params: Params, what: string): Message {
  const fromChat = params.chatId("from_chat_id");
  const source = typeof fromChat === "number" ? ctx.world.conversationOf(ctx.bot.id, fromChat) : undefined;
  if (source === undefined) throw badRequest("chat not found");
  return findMessage(source, params.int("message_id"), what).message;
}

const copyMessage: MethodHandler = (ctx, params) => {
  const target = resolveTarget(ctx, params);
  const source = sourceMessage(ctx, params, "copy") as Message & { text?: string; caption?: string };
  const caption = params.has("caption") ? asBadRequest(() => checkCaption(params.string("caption"), params.string("parse_mode"))) : source.caption;
  const { message_id: _id, from: _from, chat: _chat, date: _date, reply_to_message: _r, reply_markup: _m, ...content } = source;
  const fields = caption === undefined ? content : { ...content, caption };
  const [message] = deliver(ctx, target, params, [
    { method: "copyMessage", kind: "copy", visibleText: source.text ?? caption, fields: fields as Partial<Message> },
  ]);
  return { message_id: (message as Message).message_id };
};

const forwardMessage: MethodHandler = (ctx, params) => {
  const target = resolveTarget(ctx, params);
  const source = sourceMessage(ctx, params, "forward") as Message & { text?: string; caption?: string };
  const { message_id: _id, from: _from, chat: _chat, date: _date, reply_to_message: _r, reply_markup: _m, ...content } = source;
  const origin = source.from !== undefined
    ? { type: "user" as const, sender_user: source.from, date: source.date }
    : { type: "hidden_user" as const, sender_user_name: "Unknown", date: source.date };
  return deliver(ctx, target, params, [
    { method: "forwardMessage", kind: "forward", visibleText: source.text ?? source.caption, fields: { ...content, forward_origin: origin } as Partial<Message> },
  ])[0];
};

/** The message methods, by name. */
export const messageMethods: Record<string, MethodHandler> = {
  sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage, copyMessage, forwardMessage,
};
