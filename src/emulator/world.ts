/**
 * The simulated world every bot of an emulator lives in: users, groups, supergroups, channels,
 * and the conversations (message history) between them and the bots.
 */
import type { Chat, InlineKeyboardMarkup, Message, User } from "grammy/types";
import type { Random } from "./random.js";

/** Kinds of multi-member chat the world can hold. */
export type GroupKind = "group" | "supergroup" | "channel";

/** A simulated Telegram user. */
export interface WorldUser {
  /** The user as bots see it. */
  readonly user: User;
  /** A deactivated (deleted) account: bots get 403 `user is deactivated`. */
  deactivated: boolean;
  /** Bots this user has blocked. */
  readonly blocked: Set<number>;
  /** Bots this user has talked to; a bot cannot start a conversation with a user. */
  readonly started: Set<number>;
  /** The user counts as having started every bot (typical for broadcast targets). */
  readonly startedAllBots: boolean;
}

/** A simulated group, supergroup or channel. */
export interface WorldChat {
  /** The chat as bots see it. */
  readonly chat: Chat;
  /** Users in the chat. */
  readonly members: Set<number>;
  /** Membership of each bot. */
  readonly bots: Map<number, "member" | "kicked" | "left">;
  /** Set once a group was upgraded: the new supergroup's id. */
  migratedTo: number | undefined;
}

/** A message kept by the emulator, with who sent it. */
export interface StoredMessage {
  /** The message as Telegram would return it. */
  message: Message;
  /** The bot that sent it, or undefined when a user did. */
  readonly sentByBot: number | undefined;
  /** Inline keyboard attached, if any (for button presses). */
  replyMarkup: InlineKeyboardMarkup | undefined;
}

/** The message history of one chat as one bot sees it (message ids are per conversation). */
export interface Conversation {
  readonly key: string;
  readonly chat: Chat;
  nextMessageId: number;
  readonly messages: Map<number, StoredMessage>;
}

/** Users, chats and conversations of one emulator. */
export class World {
  readonly users = new Map<number, WorldUser>();
  readonly chats = new Map<number, WorldChat>();
  private readonly conversations = new Map<string, Conversation>();
  private nextUserId: number;
  private nextGroupId: number;
  private nextSupergroupId: number;

  constructor(random: Random) {
    // Realistic magnitudes; random starts keep tests from depending on particular ids.
    this.nextUserId = random.int(100_000_000, 900_000_000);
    this.nextGroupId = random.int(100_000_000, 900_000_000);
    this.nextSupergroupId = 1_000_000_000_000 + random.int(1_000_000_000, 2_000_000_000);
  }

  /** Creates a user. */
  addUser(fields: Partial<Omit<User, "id" | "is_bot">> & { id?: number }, startedAllBots: boolean): WorldUser {
    const id = fields.id ?? this.nextUserId++;
    if (this.users.has(id)) throw new RangeError(`a user with id ${id} exists already`);
    const user: User = { id, is_bot: false, first_name: fields.first_name ?? `User${id % 10_000}` };
    if (fields.last_name !== undefined) user.last_name = fields.last_name;
    if (fields.username !== undefined) user.username = fields.username;
    user.language_code = fields.language_code ?? "en";
    const record: WorldUser = { user, deactivated: false, blocked: new Set(), started: new Set(), startedAllBots };
    this.users.set(id, record);
    return record;
  }

  /** Creates a group, supergroup or channel. */
  addChat(kind: GroupKind, title: string, username: string | undefined): WorldChat {
    const id = kind === "group" ? -this.nextGroupId++ : -this.nextSupergroupId++;
    const chat: Chat =
      kind === "group"
        ? { id, type: "group", title }
        : kind === "supergroup"
          ? { id, type: "supergroup", title, ...(username === undefined ? {} : { username }) }
          : { id, type: "channel", title, ...(username === undefined ? {} : { username }) };
    const record: WorldChat = { chat, members: new Set(), bots: new Map(), migratedTo: undefined };
    this.chats.set(id, record);
    return record;
  }

  /** Finds a supergroup or channel by its public `@username`. */
  chatByUsername(username: string): WorldChat | undefined {
    const name = username.replace(/^@/, "").toLowerCase();
    for (const c of this.chats.values()) {
      if ("username" in c.chat && c.chat.username?.toLowerCase() === name) return c;
    }
    return undefined;
  }

  /** The private conversation between a bot and a user. */
  privateConversation(botId: number, user: WorldUser): Conversation {
    const key = `p:${botId}:${user.user.id}`;
    let conv = this.conversations.get(key);
    if (conv === undefined) {
      const chat: Chat = { id: user.user.id, type: "private", first_name: user.user.first_name };
      if (user.user.last_name !== undefined) chat.last_name = user.user.last_name;
      if (user.user.username !== undefined) chat.username = user.user.username;
      conv = { key, chat, nextMessageId: 1, messages: new Map() };
      this.conversations.set(key, conv);
    }
    return conv;
  }

  /** The conversation of a group, supergroup or channel (shared by all bots in it). */
  groupConversation(chat: WorldChat): Conversation {
    const key = `g:${chat.chat.id}`;
    let conv = this.conversations.get(key);
    if (conv === undefined) {
      conv = { key, chat: chat.chat, nextMessageId: 1, messages: new Map() };
      this.conversations.set(key, conv);
    }
    return conv;
  }

  /** The conversation a bot has with `chatId`, if that chat exists for it. */
  conversationOf(botId: number, chatId: number): Conversation | undefined {
    if (chatId > 0) {
      const user = this.users.get(chatId);
      return user === undefined ? undefined : this.privateConversation(botId, user);
    }
    const chat = this.chats.get(chatId);
    return chat === undefined ? undefined : this.groupConversation(chat);
  }
}
