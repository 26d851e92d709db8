/**
 * The texts the catch-up policies send to users, in the languages unlost ships, and how one is
 * chosen from a sender's `language_code`.
 *
 * @module
 */

/** A text per language: keys are lower-case language codes (`en`, `fa`, `ru`, `uz`, `pt-br`). */
export type LocalizedTexts = Readonly<Record<string, string>>;

/**
 * "The bot was offline; your message is being handled now", sent once per chat when its
 * backlog is drained after downtime. Uzbek is in Latin script (the official one); Persian is
 * written so that it reads right-to-left without any direction marks.
 */
export const OFFLINE_NOTICE_TEXTS: LocalizedTexts = Object.freeze({
  en: "Sorry for the delay: the bot was offline for a while. Your message is being handled now.",
  fa: "بابت تأخیر پوزش می‌خواهیم: ربات مدتی آفلاین بود. پیام شما هم‌اکنون در حال پردازش است.",
  ru: "Извините за задержку: бот какое-то время был недоступен. Ваше сообщение обрабатывается прямо сейчас.",
  uz: "Kechikish uchun uzr: bot bir muddat ishlamay qoldi. Xabaringiz hozir koʻrib chiqilmoqda.",
});

/**
 * The alert shown when a button pressed during downtime is not run. At most 200 characters
 * each: the limit of `answerCallbackQuery`'s text.
 */
export const STALE_CALLBACK_TEXTS: LocalizedTexts = Object.freeze({
  en: "This button was pressed while the bot was offline. Please press it again.",
  fa: "این دکمه زمانی زده شد که ربات آفلاین بود. لطفاً دوباره آن را بزنید.",
  ru: "Эта кнопка была нажата, когда бот был недоступен. Пожалуйста, нажмите её ещё раз.",
  uz: "Bu tugma bot ishlamay turganda bosilgan. Iltimos, uni qayta bosing.",
});

/** The language used when the sender's is unknown or has no text. */
export const DEFAULT_LANGUAGE = "en";

/** Lower-cases a language tag and uses `-` as separator (`ru_RU` → `ru-ru`). */
export function normalizeLanguage(code: string): string {
  return code.trim().toLowerCase().replace(/_/g, "-");
}

/**
 * The text for `languageCode`: the exact tag first (`pt-br`), then its primary language
 * (`ru-RU` → `ru`), then `defaultLanguage`. Telegram's `language_code` is an IETF tag and is
 * optional, so every step can miss.
 *
 * @returns the text, or undefined when not even `defaultLanguage` has one.
 */
export function pickText(texts: LocalizedTexts, languageCode: string | undefined, defaultLanguage: string): string | undefined {
  if (languageCode !== undefined && languageCode.trim() !== "") {
    const tag = normalizeLanguage(languageCode);
    const exact = own(texts, tag);
    if (exact !== undefined) return exact;
    const primary = own(texts, tag.split("-")[0] ?? tag);
    if (primary !== undefined) return primary;
  }
  return own(texts, normalizeLanguage(defaultLanguage));
}

// `language_code` comes from users: "constructor" must not find Object.prototype's.
function own(texts: LocalizedTexts, key: string): string | undefined {
  return Object.hasOwn(texts, key) ? texts[key] : undefined;
}
