/**
 * The Bot API methods the outbox can send, and where each keeps its chat, its text and its
 * files. Validation, pacing and spilling all read this one table.
 *
 * @module
 */

/** Which upload limit a file field has: photos 10 MB, everything else 50 MB. */
export type FileKind = "photo" | "other";

/** How a method names its chat. */
export type ChatAddressing =
  /** `chat_id` is required. */
  | "chat"
  /** `chat_id` + `message_id`, or `inline_message_id` (edits of inline messages have no chat). */
  | "chat-or-inline"
  /** No chat (e.g. answerCallbackQuery). */
  | "none";

/** What the outbox knows about one sendable method. */
export interface MethodSpec {
  /** The name as Telegram spells it. */
  readonly name: string;
  readonly chat: ChatAddressing;
  /** Other fields that must be present. */
  readonly required: readonly string[];
  /** Integer fields that must be positive ids when present. */
  readonly messageIds: readonly string[];
  /** The field holding the message text (required, 1–4096 after parsing), if any. */
  readonly text?: "text";
  /** The method takes a `caption` (0–1024 after parsing). */
  readonly caption: boolean;
  /** File fields: uploads there are size-checked and spilled to blobs. */
  readonly files: Readonly<Record<string, FileKind>>;
  /** The method takes `media`, an album of 2–10 items. */
  readonly mediaGroup: boolean;
  /** The call puts a message into a chat: it counts against flood limits and must be paced. */
  readonly paced: boolean;
}

function spec(name: string, fields: Partial<Omit<MethodSpec, "name">>): MethodSpec {
  return { name, chat: "chat", required: [], messageIds: [], caption: false, files: {}, mediaGroup: false, paced: true, ...fields };
}

const THUMB = { thumbnail: "photo" } as const;

const SPECS: readonly MethodSpec[] = [
  spec("sendMessage", { text: "text" }),
  spec("sendPhoto", { required: ["photo"], caption: true, files: { photo: "photo" } }),
  spec("sendDocument", { required: ["document"], caption: true, files: { document: "other", ...THUMB } }),
  spec("sendVoice", { required: ["voice"], caption: true, files: { voice: "other" } }),
  spec("sendVideo", { required: ["video"], caption: true, files: { video: "other", cover: "photo", ...THUMB } }),
  spec("sendAudio", { required: ["audio"], caption: true, files: { audio: "other", ...THUMB } }),
  spec("sendAnimation", { required: ["animation"], caption: true, files: { animation: "other", ...THUMB } }),
  spec("sendVideoNote", { required: ["video_note"], files: { video_note: "other", ...THUMB } }),
  spec("sendSticker", { required: ["sticker"], files: { sticker: "other" } }),
  spec("sendLocation", { required: ["latitude", "longitude"] }),
  spec("sendVenue", { required: ["latitude", "longitude", "title", "address"] }),
  spec("sendContact", { required: ["phone_number", "first_name"] }),
  spec("sendPoll", { required: ["question", "options"] }),
  spec("sendDice", {}),
  spec("sendMediaGroup", { required: ["media"], mediaGroup: true }),
  spec("copyMessage", { required: ["from_chat_id", "message_id"], messageIds: ["message_id"], caption: true }),
  spec("forwardMessage", { required: ["from_chat_id", "message_id"], messageIds: ["message_id"] }),
  // Not messages: Telegram does not count them against the per-chat limits the emulator
  // enforces, so they are not paced (they still travel in their chat's order).
  spec("sendChatAction", { required: ["action"], paced: false }),
  spec("editMessageText", { chat: "chat-or-inline", text: "text", messageIds: ["message_id"], paced: false }),
  spec("editMessageCaption", { chat: "chat-or-inline", caption: true, messageIds: ["message_id"], paced: false }),
  spec("editMessageReplyMarkup", { chat: "chat-or-inline", messageIds: ["message_id"], paced: false }),
  spec("deleteMessage", { required: ["message_id"], messageIds: ["message_id"], paced: false }),
  spec("pinChatMessage", { required: ["message_id"], messageIds: ["message_id"], paced: false }),
  spec("unpinChatMessage", { messageIds: ["message_id"], paced: false }),
  spec("setMessageReaction", { required: ["message_id"], messageIds: ["message_id"], paced: false }),
  spec("answerCallbackQuery", { chat: "none", required: ["callback_query_id"], paced: false }),
];

/** Every method the outbox can send, by lower-cased name (Telegram's names are case-insensitive). */
export const SEND_METHODS: ReadonlyMap<string, MethodSpec> = new Map(SPECS.map((s) => [s.name.toLowerCase(), s]));

/** The spec of `method` (any letter case), or undefined when the outbox cannot send it. */
export function findMethod(method: string): MethodSpec | undefined {
  return SEND_METHODS.get(method.toLowerCase());
}
