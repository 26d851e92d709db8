/**
 * The facts a catch-up policy decides on, and a pure helper that derives them from a stored
 * update so that every caller computes them the same way.
 *
 * @module
 */
import type { Update } from "grammy/types";
import type { OfflineWindow } from "../../store/index.js";
import { payloadDate } from "../../store/update-meta.js";

/** Facts about one claimed update, computed by the dispatcher. */
export interface UpdateFacts {
  /** The update itself. */
  readonly update: Update;
  /** Chat of the update, when it has one. */
  readonly chatId: number | undefined;
  /** `from.language_code` of the sender, when known. */
  readonly languageCode: string | undefined;
  /** When the user acted (ms epoch: `date` or `edit_date`); null when unknown (callback queries). */
  readonly messageDate: number | null;
  /** When unlost stored the update (ms epoch). */
  readonly receivedAt: number;
  /** Now (ms epoch). */
  readonly now: number;
  /** `now - (messageDate ?? receivedAt)` ({@link describeUpdate} clamps it at 0 against clock skew). */
  readonly ageMs: number;
  /** The user acted while the bot was not running. */
  readonly arrivedWhileDown: boolean;
  /**
   * For an update without a date (a callback query) that arrived while down: the earliest
   * moment the user may have acted, i.e. the start of the offline window. Its `receivedAt` is
   * after the restart, so without this a button pressed an hour before the restart would look
   * seconds old. Optional; when absent the policy uses `ageMs`.
   */
  readonly earliestActAt?: number | undefined;
}

/** What the dispatcher knows about downtime: a `DowntimeMonitor` fits. */
export interface DowntimeView {
  /** The offline window found at start, or null. */
  readonly lastWindow: OfflineWindow | null;
  /** True when `atMs` (a message date) falls inside that window. */
  wasDown(atMs: number): boolean;
}

/** Input of {@link describeUpdate}. */
export interface DescribeUpdateInput {
  /** The update (the inbox's parsed `update`). */
  readonly update: Update;
  /** When unlost stored it (the inbox's `receivedAt`). */
  readonly receivedAt: number;
  /** Now (ms epoch). */
  readonly now: number;
  /** The downtime monitor; omitted means "no downtime known". */
  readonly downtime?: DowntimeView | undefined;
  /**
   * True when the update was already waiting at Telegram when this process started (it came
   * in the first `getUpdates` answer after start). Only used for updates without a date
   * (callback queries): their press time is unknown, and this is the only evidence that they
   * were pressed while the bot was down. Default false.
   */
  readonly pendingAtStart?: boolean | undefined;
}

type Json = Readonly<Record<string, unknown>>;

function asObject(value: unknown): Json | undefined {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

/** The update's payload: its one field besides `update_id`. */
export function payloadOf(update: Update): Json | undefined {
  // for…in rather than Object.entries: this runs several times per update; no array per call.
  for (const field in update) {
    if (field === "update_id" || !Object.hasOwn(update, field)) continue;
    const value = (update as unknown as Json)[field];
    if (asObject(value) !== undefined) return value as Json;
  }
  return undefined;
}

function numericId(value: unknown): number | undefined {
  const id = asObject(value)?.["id"];
  return typeof id === "number" && Number.isSafeInteger(id) ? id : undefined;
}

/** The chat of an update: the payload's `chat`, or the chat of a callback query's message. */
export function chatIdOf(update: Update): number | undefined {
  return chatIdIn(payloadOf(update));
}

function chatIdIn(payload: Json | undefined): number | undefined {
  return numericId(payload?.["chat"]) ?? numericId(asObject(payload?.["message"])?.["chat"]);
}

/** The sender's `language_code` (`from`, or `user` for member and reaction updates). */
export function languageCodeOf(update: Update): string | undefined {
  return languageCodeIn(payloadOf(update));
}

function languageCodeIn(payload: Json | undefined): string | undefined {
  const from = asObject(payload?.["from"])?.["language_code"];
  if (typeof from === "string" && from !== "") return from;
  const user = asObject(payload?.["user"])?.["language_code"];
  return typeof user === "string" && user !== "" ? user : undefined;
}

/**
 * Derives {@link UpdateFacts} for a stored update. Pure: the same input gives the same facts.
 *
 * An update with a date arrived while down when `downtime.wasDown(date)`. One without a date
 * did when `pendingAtStart` is true and an offline window is known; its `earliestActAt` is
 * then the window's start (or, if later, the date of the bot message the button is on: the
 * button cannot have been pressed before that message existed).
 */
export function describeUpdate(input: DescribeUpdateInput): UpdateFacts {
  const { update, receivedAt, now, downtime } = input;
  // The payload once (each lookup below would otherwise find it again).
  const payload = payloadOf(update);
  const messageDate = payloadDate(payload);
  const window = downtime?.lastWindow ?? null;
  let arrivedWhileDown = false;
  let earliestActAt: number | undefined;
  if (messageDate !== null) {
    arrivedWhileDown = downtime?.wasDown(messageDate) ?? false;
  } else if (input.pendingAtStart === true && window !== null) {
    arrivedWhileDown = true;
    // Date 0 marks an inaccessible message; any real date is a lower bound of the press.
    const shownAt = asObject(payload?.["message"])?.["date"];
    const shownMs = typeof shownAt === "number" && shownAt > 0 ? shownAt * 1000 : 0;
    earliestActAt = Math.max(window.from, shownMs);
  }
  // A date slightly ahead of this host's clock is skew, not a message from the future.
  const ageMs = Math.max(0, now - (messageDate ?? receivedAt));
  return new Facts(update, chatIdIn(payload), languageCodeIn(payload), messageDate, receivedAt, now, ageMs, arrivedWhileDown, earliestActAt);
}

/**
 * {@link UpdateFacts} as a class instance, not an object literal: one is made per update and
 * lives through its run, and V8 allocated the literal's objects straight in the old generation
 * for 98 % of updates (an allocation site it pretenured), where each dead one kept its update
 * alive until the next full GC (see inbound/update-api.ts).
 */
class Facts implements UpdateFacts {
  constructor(
    readonly update: Update,
    readonly chatId: number | undefined,
    readonly languageCode: string | undefined,
    readonly messageDate: number | null,
    readonly receivedAt: number,
    readonly now: number,
    readonly ageMs: number,
    readonly arrivedWhileDown: boolean,
    readonly earliestActAt: number | undefined,
  ) {}
}
