/**
 * The options of the catch-up policies and their validation. Everything is checked once, when
 * the policy is created, so a typo fails at start-up with a clear message instead of silently
 * disabling a policy during the next outage.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import {
  DEFAULT_LANGUAGE,
  normalizeLanguage,
  OFFLINE_NOTICE_TEXTS,
  pickText,
  STALE_CALLBACK_TEXTS,
  type LocalizedTexts,
} from "./texts.js";

/** Longest message text Telegram accepts. */
const MAX_MESSAGE_LENGTH = 4096;
/** Longest `answerCallbackQuery` text Telegram accepts. */
const MAX_CALLBACK_ANSWER_LENGTH = 200;
/** Default of {@link StaleCallbackOptions.olderThanMs}: one minute. */
export const DEFAULT_STALE_CALLBACK_MS = 60_000;

/** Options of the "the bot was offline" notice. */
export interface NotifyOfflineOptions {
  /**
   * Texts per language code (`en`, `ru`, `pt-br`), merged over {@link OFFLINE_NOTICE_TEXTS}:
   * a key replaces the shipped text of that language or adds a language.
   */
  readonly texts?: Partial<Record<string, string>>;
  /** The language used when the sender's has no text. Default `en`. */
  readonly defaultLanguage?: string;
  /**
   * Send no notice for updates younger than this (ms), so a restart of a few seconds does not
   * tell users the bot "was offline". Default 0: every update that arrived while down counts.
   */
  readonly minAgeMs?: number;
}

/** Options of the stale callback query policy. */
export interface StaleCallbackOptions {
  /** A callback query older than this (ms) is not run. Default 60 000 (one minute). */
  readonly olderThanMs?: number;
  /**
   * One alert text for every language (at most 200 characters), replacing the shipped ones.
   * Default: {@link STALE_CALLBACK_TEXTS} by the sender's language ("This button was pressed
   * while the bot was offline. Please press it again." in English).
   */
  readonly text?: string;
  /** Alert texts per language, merged over the shipped ones (or over `text`). */
  readonly texts?: Partial<Record<string, string>>;
  /** The language used when the sender's has no text. Default `en`. */
  readonly defaultLanguage?: string;
}

/** Options of {@link createCatchUpPolicy}. Every policy is off by default. */
export interface CatchUpOptions {
  /**
   * Tell each chat once per process run, before its first update that arrived while the bot
   * was down is handled, that the bot was offline and the message is being handled now.
   * `true` uses the shipped texts (en, fa, ru, uz). Default false.
   */
  readonly notifyOffline?: boolean | NotifyOfflineOptions;
  /** Skip (do not handle) updates older than this many ms. Default undefined: never skip. */
  readonly dropOlderThanMs?: number | undefined;
  /**
   * Do not run callback queries older than {@link StaleCallbackOptions.olderThanMs}; answer
   * them with an alert asking to press again. `true` uses the defaults. Default false.
   */
  readonly staleCallbacks?: boolean | StaleCallbackOptions;
}

/** A localized text choice, validated. */
export interface ResolvedTexts {
  /** Texts per normalized language code. */
  readonly texts: LocalizedTexts;
  /** Normalized default language. */
  readonly defaultLanguage: string;
  /** Used when no language (not even the default) has a text. */
  readonly fallback: string | undefined;
}

/** {@link CatchUpOptions} checked and with defaults applied; null means "off". */
export interface ResolvedCatchUpOptions {
  /** The offline notice, or null. */
  readonly notifyOffline: (ResolvedTexts & { readonly minAgeMs: number }) | null;
  /** The age limit, or null. */
  readonly dropOlderThanMs: number | null;
  /** The stale callback policy, or null. */
  readonly staleCallbacks: (ResolvedTexts & { readonly olderThanMs: number }) | null;
}

const LANGUAGE_TAG = /^[a-z]{2,3}(-[a-z0-9]{1,8})*$/;

function invalid(path: string, message: string): never {
  throw new UnlostError("INVALID_CONFIG", `${path === "" ? "catchUp" : `catchUp.${path}`} ${message}`);
}

function isPlainObject(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkKeys(path: string, value: Readonly<Record<string, unknown>>, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    // An unknown key is almost always a typo that would silently turn a policy off.
    if (!allowed.includes(key)) invalid(`${path}${key}`, `is not an option; the options are ${allowed.join(", ")}.`);
  }
}

function duration(path: string, value: unknown, allowZero: boolean): number {
  const ok = typeof value === "number" && Number.isFinite(value) && (allowZero ? value >= 0 : value > 0);
  if (!ok) invalid(path, `must be a number of milliseconds ${allowZero ? "≥ 0" : "> 0"}; got ${String(value)}.`);
  return value as number;
}

function language(path: string, value: unknown): string {
  const tag = typeof value === "string" ? normalizeLanguage(value) : "";
  if (!LANGUAGE_TAG.test(tag)) invalid(path, `must be a language code such as "en" or "pt-br"; got ${JSON.stringify(value)}.`);
  return tag;
}

function text(path: string, value: unknown, max: number): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > max) {
    invalid(path, `must be a non-empty text of at most ${max} characters.`);
  }
  return value;
}

function mergeTexts(path: string, base: LocalizedTexts, extra: unknown, max: number): LocalizedTexts {
  if (extra === undefined) return base;
  if (!isPlainObject(extra)) invalid(path, `must be an object of texts by language code, e.g. { ru: "..." }.`);
  const merged: Record<string, string> = { ...base };
  for (const [key, value] of Object.entries(extra)) {
    // Partial<Record>: an explicit undefined keeps the shipped text.
    if (value === undefined) continue;
    merged[language(`${path} key`, key)] = text(`${path}.${key}`, value, max);
  }
  return Object.freeze(merged);
}

function resolveNotice(value: unknown): ResolvedCatchUpOptions["notifyOffline"] {
  if (value === undefined || value === false) return null;
  if (value !== true && !isPlainObject(value)) invalid("notifyOffline", "must be true, false or an object of options.");
  const options: Readonly<Record<string, unknown>> = isPlainObject(value) ? value : {};
  checkKeys("notifyOffline.", options, ["texts", "defaultLanguage", "minAgeMs"]);
  const texts = mergeTexts("notifyOffline.texts", OFFLINE_NOTICE_TEXTS, options["texts"], MAX_MESSAGE_LENGTH);
  const defaultLanguage = language("notifyOffline.defaultLanguage", options["defaultLanguage"] ?? DEFAULT_LANGUAGE);
  if (pickText(texts, undefined, defaultLanguage) === undefined) {
    invalid("notifyOffline.defaultLanguage", `is "${defaultLanguage}" but there is no text in that language; add it to notifyOffline.texts.`);
  }
  const minAgeMs = options["minAgeMs"] === undefined ? 0 : duration("notifyOffline.minAgeMs", options["minAgeMs"], true);
  return { texts, defaultLanguage, fallback: undefined, minAgeMs };
}

function resolveStale(value: unknown): ResolvedCatchUpOptions["staleCallbacks"] {
  if (value === undefined || value === false) return null;
  if (value !== true && !isPlainObject(value)) invalid("staleCallbacks", "must be true, false or an object of options.");
  const options: Readonly<Record<string, unknown>> = isPlainObject(value) ? value : {};
  checkKeys("staleCallbacks.", options, ["olderThanMs", "text", "texts", "defaultLanguage"]);
  const olderThanMs =
    options["olderThanMs"] === undefined ? DEFAULT_STALE_CALLBACK_MS : duration("staleCallbacks.olderThanMs", options["olderThanMs"], false);
  const fallback = options["text"] === undefined ? undefined : text("staleCallbacks.text", options["text"], MAX_CALLBACK_ANSWER_LENGTH);
  // A single `text` is the user's own wording: it replaces every shipped language.
  const base = fallback === undefined ? STALE_CALLBACK_TEXTS : {};
  const texts = mergeTexts("staleCallbacks.texts", base, options["texts"], MAX_CALLBACK_ANSWER_LENGTH);
  const defaultLanguage = language("staleCallbacks.defaultLanguage", options["defaultLanguage"] ?? DEFAULT_LANGUAGE);
  if (fallback === undefined && pickText(texts, undefined, defaultLanguage) === undefined) {
    invalid("staleCallbacks.defaultLanguage", `is "${defaultLanguage}" but there is no text in that language; add it to staleCallbacks.texts.`);
  }
  return { texts, defaultLanguage, fallback, olderThanMs };
}

/**
 * Checks `options` and applies the defaults.
 *
 * @throws UnlostError `INVALID_CONFIG` naming the bad option and what it must be.
 */
export function resolveCatchUpOptions(options: CatchUpOptions = {}): ResolvedCatchUpOptions {
  if (!isPlainObject(options)) invalid("", "options must be an object.");
  checkKeys("", options, ["notifyOffline", "dropOlderThanMs", "staleCallbacks"]);
  const drop = options.dropOlderThanMs;
  return {
    notifyOffline: resolveNotice(options.notifyOffline),
    dropOlderThanMs: drop === undefined ? null : duration("dropOlderThanMs", drop, false),
    staleCallbacks: resolveStale(options.staleCallbacks),
  };
}
