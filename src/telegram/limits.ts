/**
 * Telegram's published Bot API limits, in one place, so that the runtime (which must stay
 * under them) and the emulator (which enforces them) can never disagree. Sources: the Bot API
 * reference and the Bots FAQ (see the project's telegram-semantics reference).
 *
 * @module
 */

const MB = 1024 * 1024;

/** Maximum length of a message text, in characters after entity parsing. */
export const MAX_TEXT_LENGTH = 4096;
/** Maximum length of a caption, in characters after entity parsing. */
export const MAX_CAPTION_LENGTH = 1024;

/** Upload limits of multipart uploads to the public Bot API, in bytes. */
export const UPLOAD_LIMITS = {
  /** sendPhoto and photos in albums. */
  photo: 10 * MB,
  /** Every other file (documents, voice, video, audio, animations, stickers). */
  other: 50 * MB,
} as const;

/** Limits of files Telegram downloads itself when given an HTTP URL, in bytes. */
export const URL_UPLOAD_LIMITS = {
  /** Photos by URL. */
  photo: 5 * MB,
  /** Other files by URL. */
  other: 20 * MB,
} as const;

/** getFile refuses files over this size on the public Bot API, in bytes. */
export const DOWNLOAD_LIMIT = 20 * MB;

/** sendMediaGroup takes between this many items… */
export const MEDIA_GROUP_MIN = 2;
/** …and this many. */
export const MEDIA_GROUP_MAX = 10;

/** Telegram's flood limits for sending messages. */
export interface FloodLimits {
  /** Messages per second to one private chat, and how many may burst. */
  readonly perChat: { readonly perSecond: number; readonly burst: number };
  /** Messages per minute to one group, supergroup or channel (sliding window). */
  readonly perGroupPerMinute: number;
  /** Messages per second per bot across all chats. */
  readonly perBotPerSecond: number;
  /** Messages per second per bot for calls with `allow_paid_broadcast`. */
  readonly paidBroadcastPerSecond: number;
}

/**
 * Telegram's flood limits: ~1 message/s per private chat (a burst of 3 is tolerated),
 * 20 messages/min per group, 30 messages/s per bot, 1000/s with paid broadcasts.
 */
export const FLOOD_LIMITS: FloodLimits = {
  perChat: { perSecond: 1, burst: 3 },
  perGroupPerMinute: 20,
  perBotPerSecond: 30,
  paidBroadcastPerSecond: 1000,
};

/**
 * True when Telegram applies the group limit (20/min) rather than the private-chat one to
 * `chatId`: groups, supergroups and channels have negative ids, and only public groups and
 * channels can be addressed by `@username` (users cannot be written to by username).
 */
export function isGroupChatId(chatId: number | string): boolean {
  if (typeof chatId === "number") return chatId < 0;
  const trimmed = chatId.trim();
  if (trimmed.startsWith("@")) return true;
  const numeric = Number(trimmed);
  return Number.isFinite(numeric) ? numeric < 0 : true;
}
