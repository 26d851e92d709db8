/**
 * What the emulator saw bots deliver: every message a bot put into a chat, in order, with the
 * emulator time. Tests assert on it: "each user got exactly one reply per message, in order",
 * and count duplicates. Edits the bot made are kept beside them, so a menu that edits its own
 * message can be followed too.
 */
import type { InlineKeyboardMarkup, MessageEntity } from "grammy/types";

/** One message a bot delivered. */
export interface DeliveredMessage {
  /** Order of delivery across all chats of the bot, from 1. */
  readonly seq: number;
  /** The chat it was delivered to. */
  readonly chatId: number;
  /** Its message id in that chat. */
  readonly messageId: number;
  /** The Bot API method that delivered it. */
  readonly method: string;
  /** What it is. */
  readonly kind: "text" | "photo" | "document" | "voice" | "location" | "copy" | "forward";
  /** Its visible text or caption, if any. */
  readonly text: string | undefined;
  /** The message it replies to, if any. */
  readonly replyToMessageId: number | undefined;
  /** Emulator time of delivery, epoch ms. */
  readonly at: number;
  /** True when the call that delivered it lost its answer (the ambiguous fault). */
  readonly ambiguous: boolean;
  /** Entities the bot gave explicitly (`entities` or `caption_entities`), if any. */
  readonly entities?: readonly MessageEntity[] | undefined;
  /** The `parse_mode` it was sent with, if any (`text` is the visible text, after parsing). */
  readonly parseMode?: string | undefined;
  /** Its inline keyboard as delivered, if any (later changes are in {@link DeliveryRecord.edits}). */
  readonly replyMarkup?: InlineKeyboardMarkup | undefined;
}

/** One edit a bot made to a message it had delivered (editMessageText, editMessageReplyMarkup). */
export interface MessageEdit {
  /** Order of edits across all chats of the bot, from 1. */
  readonly seq: number;
  /** The chat of the message. */
  readonly chatId: number;
  /** The edited message. */
  readonly messageId: number;
  /** The Bot API method. */
  readonly method: string;
  /** The visible text after the edit (unchanged text for a markup-only edit). */
  readonly text: string | undefined;
  /** The inline keyboard after the edit (undefined: removed or none). */
  readonly replyMarkup: InlineKeyboardMarkup | undefined;
  /** Emulator time of the edit, epoch ms. */
  readonly at: number;
}

/** A group of deliveries that look the same (see {@link DeliveryRecord.duplicates}). */
export interface DuplicateGroup {
  /** The key the deliveries share. */
  readonly key: string;
  /** The deliveries, in order. */
  readonly messages: readonly DeliveredMessage[];
}

/** The append-only log of one bot's deliveries. */
export class DeliveryRecord {
  private readonly all: DeliveredMessage[] = [];
  private readonly byChat = new Map<number, DeliveredMessage[]>();
  private readonly allEdits: MessageEdit[] = [];

  /** Appends an edit. */
  addEdit(entry: Omit<MessageEdit, "seq">): MessageEdit {
    const full: MessageEdit = { ...entry, seq: this.allEdits.length + 1 };
    this.allEdits.push(full);
    return full;
  }

  /** Every edit, in order; or those in one chat. */
  edits(chatId?: number): readonly MessageEdit[] {
    return chatId === undefined ? this.allEdits : this.allEdits.filter((e) => e.chatId === chatId);
  }

  /** Appends a delivery. */
  add(entry: Omit<DeliveredMessage, "seq">): DeliveredMessage {
    const full: DeliveredMessage = { ...entry, seq: this.all.length + 1 };
    this.all.push(full);
    let list = this.byChat.get(full.chatId);
    if (list === undefined) this.byChat.set(full.chatId, (list = []));
    list.push(full);
    return full;
  }

  /** Every delivery, in order. */
  messages(): readonly DeliveredMessage[] {
    return this.all;
  }

  /** The deliveries to one chat, in order. */
  to(chatId: number): readonly DeliveredMessage[] {
    return this.byChat.get(chatId) ?? [];
  }

  /** Chats that received anything. */
  chats(): number[] {
    return [...this.byChat.keys()];
  }

  /** Number of deliveries. */
  get size(): number {
    return this.all.length;
  }

  /**
   * Deliveries that share a key (by default: same chat, same text, same reply target),
   * i.e. the same reply delivered more than once.
   */
  duplicates(keyOf: (m: DeliveredMessage) => string = defaultKey): DuplicateGroup[] {
    const groups = new Map<string, DeliveredMessage[]>();
    for (const m of this.all) {
      const key = keyOf(m);
      let list = groups.get(key);
      if (list === undefined) groups.set(key, (list = []));
      list.push(m);
    }
    return [...groups].filter(([, list]) => list.length > 1).map(([key, messages]) => ({ key, messages }));
  }
}

function defaultKey(m: DeliveredMessage): string {
  return `${m.chatId}\u0000${m.replyToMessageId ?? ""}\u0000${m.kind}\u0000${m.text ?? ""}`;
}
