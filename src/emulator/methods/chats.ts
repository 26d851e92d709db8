/**
 * Identity and chat methods: getMe, getChat, sendChatAction, answerCallbackQuery, and the
 * command list.
 */
import type { BotCommand } from "grammy/types";
import { badRequest } from "../api-error.js";
import type { MethodHandler } from "./context.js";
import { resolveTarget } from "./targets.js";

const CHAT_ACTIONS = new Set([
  "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
  "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
]);

const getMe: MethodHandler = (ctx) => ctx.bot.info;

const getChat: MethodHandler = (ctx, params) => {
  const id = params.chatId();
  const chat = typeof id === "string" ? ctx.world.chatByUsername(id)?.chat : ctx.world.conversationOf(ctx.bot.id, id)?.chat;
  if (chat === undefined) throw badRequest("chat not found");
  return { ...chat, accent_color_id: 0, max_reaction_count: 11, accepted_gift_types: { unlimited_gifts: false, limited_gifts: false, unique_gifts: false, premium_subscription: false } };
};

const sendChatAction: MethodHandler = (ctx, params) => {
  resolveTarget(ctx, params);
  const action = params.string("action");
  if (action === undefined || !CHAT_ACTIONS.has(action)) throw badRequest("wrong parameter action in request");
  return true;
};

const answerCallbackQuery: MethodHandler = (ctx, params) => {
  const id = params.string("callback_query_id") ?? "";
  const query = ctx.bot.callbackQueries.get(id);
  const tooOld = query === undefined || query.answered || ctx.clock.now() - query.createdAt > ctx.settings.callbackAnswerTimeoutMs;
  if (tooOld) throw badRequest("query is too old and response timeout expired or query ID is invalid");
  const text = params.string("text");
  if (text !== undefined && text.length > 200) throw badRequest("MESSAGE_TOO_LONG");
  query.answered = true;
  ctx.bot.callbackAnswers.push({ callbackQueryId: id, text, showAlert: params.bool("show_alert") === true, at: ctx.clock.now() });
  return true;
};

const setMyCommands: MethodHandler = (ctx, params) => {
  const list = params.json("commands", "commands");
  if (!Array.isArray(list)) throw badRequest("can't parse commands JSON object");
  ctx.bot.commands = list as BotCommand[];
  return true;
};
const getMyCommands: MethodHandler = (ctx) => ctx.bot.commands;
const deleteMyCommands: MethodHandler = (ctx) => {
  ctx.bot.commands = [];
  return true;
};

/** The chat and identity methods, by name. */
export const chatMethods: Record<string, MethodHandler> = {
  getMe, getChat, sendChatAction, answerCallbackQuery, setMyCommands, getMyCommands, deleteMyCommands,
  logOut: () => true,
  close: () => true,
};
