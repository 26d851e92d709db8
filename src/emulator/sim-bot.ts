/**
 * One bot inside the emulator: its identity, its queue of updates, its webhook, its flood
 * control, its files, and the record of what it delivered.
 */
import type { BotCommand, Update, User, UserFromGetMe } from "grammy/types";
import type { EmulatorClock } from "./clock.js";
import { RateLimiter, type RateLimits } from "./rate-limits.js";
import type { Random } from "./random.js";
import { DeliveryRecord } from "./record.js";
import { UPDATE_RETENTION_MS, UpdateQueue } from "./update-queue.js";

/** Update types a bot gets when it never set `allowed_updates` (Telegram's default). */
export const DEFAULT_ALLOWED_UPDATES: readonly string[] = [
  "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
  "business_message", "edited_business_message", "deleted_business_messages", "inline_query",
  "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
  "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_join_request",
  "chat_boost", "removed_chat_boost",
];

/** A file the emulator knows: uploaded by the bot, or sent by a simulated user. */
export interface StoredFile {
  readonly fileId: string;
  readonly fileUniqueId: string;
  readonly size: number;
  /** The bytes, when they were uploaded; generated on download otherwise. */
  readonly bytes: Uint8Array | undefined;
  /** Path for `/file/bot<token>/<path>`. */
  readonly path: string;
  /** The remote URL, when the file was given by URL. */
  readonly url: string | undefined;
}

/** A callback query a user created by pressing a button. */
export interface CallbackQueryState {
  readonly createdAt: number;
  answered: boolean;
}

/** An answer a bot gave to a callback query. */
export interface CallbackAnswer {
  readonly callbackQueryId: string;
  readonly text: string | undefined;
  readonly showAlert: boolean;
  readonly at: number;
}

/** The webhook of a bot, as set by `setWebhook`. */
export interface WebhookSettings {
  readonly url: string;
  readonly secretToken: string | undefined;
  readonly maxConnections: number;
  readonly ipAddress: string | undefined;
}

/** What `getWebhookInfo` reports about failures. */
export interface WebhookErrorState {
  lastErrorDate: number | undefined;
  lastErrorMessage: string | undefined;
}

/** A bot of the emulator. Tests read its record; the Bot API methods act on it. */
export class SimBot {
  /** The bot as `getMe` returns it. */
  readonly info: UserFromGetMe;
  /** The bot as the `from` of its messages (shared, frozen: messages do not copy it). */
  readonly asUser: User;
  /** Unconfirmed updates. */
  readonly updates: UpdateQueue;
  /** Every message the bot delivered, in order. */
  readonly record = new DeliveryRecord();
  /** Every update ever created for the bot, in order (confirmed or not). */
  readonly updateLog: Update[] = [];
  /** Answers the bot gave to callback queries. */
  readonly callbackAnswers: CallbackAnswer[] = [];
  /** @internal Open callback queries by id. */
  readonly callbackQueries = new Map<string, CallbackQueryState>();
  /** @internal Files by file_id. */
  readonly files = new Map<string, StoredFile>();
  /** @internal Files by path. */
  readonly filesByPath = new Map<string, StoredFile>();
  /** @internal The webhook, while one is set. */
  webhook: WebhookSettings | undefined;
  /** @internal Failure state reported by getWebhookInfo. */
  readonly webhookErrors: WebhookErrorState = { lastErrorDate: undefined, lastErrorMessage: undefined };
  /** @internal `allowed_updates` as last set by getUpdates or setWebhook (undefined: default). */
  allowedUpdates: readonly string[] | undefined;
  /** @internal Flood control, undefined when limits are off. */
  readonly limiter: RateLimiter | undefined;
  /** @internal The command list (setMyCommands). */
  commands: BotCommand[] = [];
  /** @internal True while the current call's answer will be lost (the ambiguous fault). */
  answerWillBeLost = false;
  private nextUpdateId: number;
  private lastUpdateAt: number | undefined;
  private nextFile = 1;

  constructor(
    /** The bot token. */
    readonly token: string,
    info: UserFromGetMe,
    private readonly clock: EmulatorClock,
    private readonly random: Random,
    limits: RateLimits | false,
  ) {
    this.info = info;
    this.asUser = Object.freeze({ id: info.id, is_bot: true, first_name: info.first_name, username: info.username });
    this.updates = new UpdateQueue(clock.now);
    this.limiter = limits === false ? undefined : new RateLimiter(limits, clock.now);
    this.nextUpdateId = random.int(100_000_000, 800_000_000);
  }

  /** The bot's user id. */
  get id(): number {
    return this.info.id;
  }

  /**
   * Creates an update for the bot, if its type is allowed now (Telegram applies
   * `allowed_updates` at creation: an update of a type not allowed is never queued).
   * `date` is the message's date in unix seconds; retention is counted from it.
   * Returns the update, or undefined when it was not allowed.
   */
  createUpdate(type: string, payload: unknown, date: number, chatKey: string): Update | undefined {
    const allowed = this.allowedUpdates ?? DEFAULT_ALLOWED_UPDATES;
    if (!allowed.includes(type)) return undefined;
    const now = this.clock.now();
    // After a week without updates Telegram picks the next id at random (never assume continuity).
    if (this.lastUpdateAt !== undefined && now - this.lastUpdateAt > 7 * 24 * 3600 * 1000) {
      this.nextUpdateId += this.random.int(1_000, 1_000_000);
    }
    this.lastUpdateAt = now;
    const update = { update_id: this.nextUpdateId++, [type]: payload } as Update;
    this.updateLog.push(update);
    this.updates.push({ update, chatKey, expiresAt: date * 1000 + UPDATE_RETENTION_MS, done: false });
    return update;
  }

  /** @internal Registers a file and returns it. */
  addFile(kind: string, size: number, bytes: Uint8Array | undefined, url: string | undefined, ext: string): StoredFile {
    const n = this.nextFile++;
    const unique = `${kind.slice(0, 2).toUpperCase()}${this.random.token(12)}`;
    const file: StoredFile = {
      fileId: `${kind.slice(0, 3).toUpperCase()}-${this.id}-${n}-${this.random.token(16)}`,
      fileUniqueId: unique,
      size,
      bytes,
      path: `${kind}s/file_${n}.${ext}`,
      url,
    };
    this.files.set(file.fileId, file);
    this.filesByPath.set(file.path, file);
    return file;
  }
}
