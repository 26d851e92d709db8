/**
 * The simulated people and chats tests drive: a {@link SimUser} writes to bots and groups,
 * edits, presses buttons, blocks the bot; a {@link SimChat} (group, supergroup, channel) adds
 * and kicks bots and migrates. Each action creates the updates Telegram would create.
 */
import type { Chat, Message, User } from "grammy/types";
import type { EmulatorClock } from "./clock.js";
import { UnlostError } from "../errors/index.js";
import type { Random } from "./random.js";
import type { SimBot } from "./sim-bot.js";
import type { Conversation, WorldChat, World, WorldUser } from "./world.js";

/** What actors need from the emulator. */
export interface ActorHost {
  readonly world: World;
  readonly clock: EmulatorClock;
  readonly random: Random;
  botById(id: number): SimBot | undefined;
}

/** Where a user writes: a bot (its private chat) or a group chat. */
export type Destination = SimBot | SimChat;

/** Options of a user's message. */
export interface UserMessageOptions {
  /** Id of the message this one replies to. */
  replyTo?: number;
}

/** Options of a user's file message. */
export interface UserFileOptions extends UserMessageOptions {
  /** Caption. */
  caption?: string;
  /** Size of the file in bytes (the content is generated on download). Default 50 000. */
  sizeBytes?: number;
  /** File name, for documents. */
  fileName?: string;
  /** MIME type, for documents. */
  mimeType?: string;
}

/** A simulated Telegram user. */
export class SimUser {
  /** @internal */
  constructor(private readonly host: ActorHost, private readonly record: WorldUser) {}

  /** The user's id (also the id of the private chat with any bot). */
  get id(): number {
    return this.record.user.id;
  }

  /** The user as bots see it. */
  get user(): User {
    return this.record.user;
  }

  /** Sends a text message. */
  sendText(to: Destination, text: string, options: UserMessageOptions = {}): Message {
    const entities = text.startsWith("/") ? [{ type: "bot_command" as const, offset: 0, length: text.split(/\s/)[0]?.length ?? 1 }] : undefined;
    return this.post(to, { text, ...(entities ? { entities } : {}) }, options);
  }

  /** Sends `/command args`. */
  sendCommand(to: Destination, command: string, args?: string): Message {
    const name = command.replace(/^\//, "");
    return this.sendText(to, args === undefined || args === "" ? `/${name}` : `/${name} ${args}`);
  }

  /** Sends a photo. */
  sendPhoto(to: Destination, options: UserFileOptions = {}): Message {
    const size = options.sizeBytes ?? 50_000;
    const fields = (bot: SimBot): Partial<Message> => {
      const f = bot.addFile("photo", size, undefined, undefined, "jpg");
      return { photo: [{ file_id: f.fileId, file_unique_id: f.fileUniqueId, width: 1280, height: 960, file_size: size }] } as Partial<Message>;
    };
    return this.post(to, options.caption === undefined ? {} : { caption: options.caption }, options, fields);
  }

  /** Sends a document. */
  sendDocument(to: Destination, options: UserFileOptions = {}): Message {
    const size = options.sizeBytes ?? 50_000;
    const fields = (bot: SimBot): Partial<Message> => {
      const f = bot.addFile("document", size, undefined, undefined, "bin");
      const document = { file_id: f.fileId, file_unique_id: f.fileUniqueId, file_name: options.fileName ?? "file.bin", mime_type: options.mimeType ?? "application/octet-stream", file_size: size };
      return { document } as Partial<Message>;
    };
    return this.post(to, options.caption === undefined ? {} : { caption: options.caption }, options, fields);
  }

  /** Edits one of the user's own messages; bots get an `edited_message` update. */
  editText(where: Destination, messageId: number, text: string): Message {
    const conv = this.conversation(where);
    const stored = conv.messages.get(messageId);
    if (stored === undefined || stored.message.from?.id !== this.id) {
      throw new UnlostError("EMULATOR", `user ${this.id} has no message ${messageId} in chat ${conv.chat.id} to edit`);
    }
    const edited = { ...stored.message, text, edit_date: this.host.clock.unixSeconds() } as Message;
    stored.message = edited;
    for (const bot of this.recipients(where)) bot.createUpdate("edited_message", edited, edited.edit_date ?? edited.date, chatKey(conv.chat));
    return edited;
  }

  /**
   * Presses an inline button with `data` on a bot's message; the bot that sent the message gets
   * a `callback_query`. Returns the callback query id.
   */
  pressButton(where: Destination, messageId: number, data: string): string {
    const conv = this.conversation(where);
    const stored = conv.messages.get(messageId);
    const bot = stored?.sentByBot === undefined ? undefined : this.host.botById(stored.sentByBot);
    if (stored === undefined || bot === undefined) {
      throw new UnlostError("EMULATOR", `there is no bot message ${messageId} in chat ${conv.chat.id} to press a button on`);
    }
    const buttons = stored.replyMarkup?.inline_keyboard.flat() ?? [];
    if (!buttons.some((b) => "callback_data" in b && b.callback_data === data)) {
      throw new UnlostError("EMULATOR", `message ${messageId} has no inline button with callback_data "${data}"`);
    }
    const id = `${this.host.random.int(1e15, 9e15)}`;
    const now = this.host.clock.now();
    bot.callbackQueries.set(id, { createdAt: now, answered: false });
    const query = { id, from: this.user, message: stored.message, chat_instance: `${conv.chat.id}`, data };
    bot.createUpdate("callback_query", query, Math.floor(now / 1000), chatKey(conv.chat));
    return id;
  }

  /** Blocks a bot: its sends to this user fail with 403 from now on. */
  block(bot: SimBot): void {
    this.record.blocked.add(bot.id);
    this.memberUpdate(bot, "member", "kicked");
  }

  /** Unblocks a bot. */
  unblock(bot: SimBot): void {
    this.record.blocked.delete(bot.id);
    this.memberUpdate(bot, "kicked", "member");
  }

  /** Deletes the account: sends to this user fail with 403 `user is deactivated`. */
  deactivate(): void {
    this.record.deactivated = true;
  }

  private memberUpdate(bot: SimBot, from: "member" | "kicked", to: "member" | "kicked"): void {
    const chat = this.host.world.privateConversation(bot.id, this.record).chat;
    const date = this.host.clock.unixSeconds();
    const payload = {
      chat, from: this.user, date,
      old_chat_member: { user: bot.info, status: from, ...(from === "kicked" ? { until_date: 0 } : {}) },
      new_chat_member: { user: bot.info, status: to, ...(to === "kicked" ? { until_date: 0 } : {}) },
    };
    bot.createUpdate("my_chat_member", payload, date, chatKey(chat));
  }

  private conversation(where: Destination): Conversation {
    return where instanceof SimChat ? this.host.world.groupConversation(where.record) : this.host.world.privateConversation(where.id, this.record);
  }

  private recipients(where: Destination): SimBot[] {
    if (!(where instanceof SimChat)) return [where];
    return [...where.record.bots].filter(([, s]) => s === "member").flatMap(([id]) => this.host.botById(id) ?? []);
  }

  private post(where: Destination, fields: Partial<Message>, options: UserMessageOptions, perBot?: (bot: SimBot) => Partial<Message>): Message {
    if (where instanceof SimChat && !where.record.members.has(this.id)) where.record.members.add(this.id);
    if (!(where instanceof SimChat)) this.record.started.add(where.id);
    const conv = this.conversation(where);
    const date = this.host.clock.unixSeconds();
    const base = { message_id: conv.nextMessageId++, from: this.user, chat: conv.chat, date, ...fields } as Message;
    if (options.replyTo !== undefined) {
      const target = conv.messages.get(options.replyTo);
      if (target === undefined) throw new UnlostError("EMULATOR", `there is no message ${options.replyTo} in chat ${conv.chat.id} to reply to`);
      (base as { reply_to_message?: Message }).reply_to_message = target.message;
    }
    let message = base;
    for (const bot of this.recipients(where)) {
      // File ids are per bot in Telegram, so each bot sees its own.
      message = perBot === undefined ? base : ({ ...base, ...perBot(bot) } as Message);
      bot.createUpdate("message", message, date, chatKey(conv.chat));
    }
    conv.messages.set(base.message_id, { message, sentByBot: undefined, replyMarkup: undefined });
    return message;
  }
}

/** A simulated group, supergroup or channel. */
export class SimChat {
  /** @internal */
  constructor(private readonly host: ActorHost, /** @internal */ readonly record: WorldChat) {}

  /** The chat id (negative). */
  get id(): number {
    return this.record.chat.id;
  }

  /** The chat as bots see it. */
  get chat(): Chat {
    return this.record.chat;
  }

  /** Adds users as members. */
  addMembers(...users: SimUser[]): void {
    for (const u of users) this.record.members.add(u.id);
  }

  /** Adds a bot to the chat (the bot gets `my_chat_member`). */
  addBot(bot: SimBot, by?: SimUser): void {
    const old = this.record.bots.get(bot.id) ?? "left";
    this.record.bots.set(bot.id, "member");
    this.memberUpdate(bot, old, "member", by);
  }

  /** Kicks a bot: its sends fail with 403 `bot was kicked from the ... chat`. */
  kickBot(bot: SimBot, by?: SimUser): void {
    const old = this.record.bots.get(bot.id) ?? "left";
    this.record.bots.set(bot.id, "kicked");
    this.memberUpdate(bot, old, "kicked", by);
  }

  /** Posts to a channel (bots that are members get `channel_post`). */
  post(text: string): Message {
    if (this.record.chat.type !== "channel") throw new UnlostError("EMULATOR", `chat ${this.id} is not a channel; users send to groups with user.sendText`);
    const conv = this.host.world.groupConversation(this.record);
    const date = this.host.clock.unixSeconds();
    const message = { message_id: conv.nextMessageId++, chat: conv.chat, date, text } as Message;
    conv.messages.set(message.message_id, { message, sentByBot: undefined, replyMarkup: undefined });
    for (const bot of this.memberBots()) bot.createUpdate("channel_post", message, date, chatKey(conv.chat));
    return message;
  }

  /**
   * Upgrades a group to a supergroup, as Telegram does: a new chat id; bots sending to the old
   * id get 400 with `migrate_to_chat_id`; members and bots move over; each bot sees the
   * service messages `migrate_to_chat_id` (old chat) and `migrate_from_chat_id` (new chat).
   */
  migrate(by?: SimUser): SimChat {
    if (this.record.chat.type !== "group") throw new UnlostError("EMULATOR", `only a basic group can migrate; chat ${this.id} is a ${this.record.chat.type}`);
    if (this.record.migratedTo !== undefined) throw new UnlostError("EMULATOR", `chat ${this.id} migrated already`);
    const title = "title" in this.record.chat ? this.record.chat.title : "supergroup";
    const target = this.host.world.addChat("supergroup", title, undefined);
    for (const m of this.record.members) target.members.add(m);
    for (const [bot, status] of this.record.bots) target.bots.set(bot, status);
    this.record.migratedTo = target.chat.id;
    const date = this.host.clock.unixSeconds();
    const oldConv = this.host.world.groupConversation(this.record);
    const newConv = this.host.world.groupConversation(target);
    const from = by?.user;
    const toMsg = { message_id: oldConv.nextMessageId++, chat: oldConv.chat, date, migrate_to_chat_id: target.chat.id, ...(from ? { from } : {}) } as Message;
    const fromMsg = { message_id: newConv.nextMessageId++, chat: newConv.chat, date, migrate_from_chat_id: this.id, ...(from ? { from } : {}) } as Message;
    for (const bot of this.memberBots()) {
      bot.createUpdate("message", toMsg, date, chatKey(oldConv.chat));
      bot.createUpdate("message", fromMsg, date, chatKey(newConv.chat));
    }
    return new SimChat(this.host, target);
  }

  private memberBots(): SimBot[] {
    return [...this.record.bots].filter(([, s]) => s === "member").flatMap(([id]) => this.host.botById(id) ?? []);
  }

  private memberUpdate(bot: SimBot, from: string, to: string, by?: SimUser): void {
    const date = this.host.clock.unixSeconds();
    const actor = by?.user ?? { id: 777000, is_bot: false, first_name: "Telegram" };
    const payload = {
      chat: this.record.chat, from: actor, date,
      old_chat_member: { user: bot.info, status: from, ...(from === "kicked" ? { until_date: 0 } : {}) },
      new_chat_member: { user: bot.info, status: to, ...(to === "kicked" ? { until_date: 0 } : {}) },
    };
    bot.createUpdate("my_chat_member", payload, date, chatKey(this.record.chat));
  }
}

/** The FIFO key of a chat, for per-chat ordered webhook delivery. */
export function chatKey(chat: Chat): string {
  return `c:${chat.id}`;
}
