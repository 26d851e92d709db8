/**
 * Human-readable downtime: durations, instants and the admin alert text.
 *
 * @module
 */
import type { OfflineWindow } from "../../store/index.js";

/**
 * How long Telegram keeps an update nobody fetched: about 24 hours, counted from the
 * message's date (see telegram-semantics.md). Older updates are gone when the bot comes back.
 */
export const TELEGRAM_UPDATE_RETENTION_MS = 24 * 3600_000;

/** A duration as `45 s`, `12 min`, `3 h 5 min` (hours are not folded into days: "25 h" reads better next to "24 hours"). */
export function formatDuration(ms: number): string {
  const safe = Math.max(0, Math.round(ms));
  if (safe < 60_000) return `${Math.floor(safe / 1000)} s`;
  const minutes = Math.floor(safe / 60_000);
  const hours = Math.floor(minutes / 60);
  return hours === 0 ? `${minutes} min` : `${hours} h ${minutes % 60} min`;
}

/** An instant as ISO 8601 in UTC, to the second (`2024-05-01T12:00:00Z`). */
export function formatInstant(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Options of {@link downtimeAlertText}. */
export interface AlertTextOptions {
  /** Names the bot in the alert (e.g. `@my_bot`); default "The bot". */
  readonly botName?: string | undefined;
}

/**
 * The alert sent to admin chats after a long outage (plain text, no parse mode). It says when
 * the bot was offline and, when the outage outlasted Telegram's retention, before which moment
 * updates may have been lost.
 */
export function downtimeAlertText(window: OfflineWindow, options: AlertTextOptions = {}): string {
  const retentionMs = TELEGRAM_UPDATE_RETENTION_MS;
  const who = options.botName === undefined || options.botName === "" ? "The bot" : options.botName;
  const head = `⚠️ ${who} was offline from ${formatInstant(window.from)} to ${formatInstant(window.to)} (${formatDuration(window.durationMs)}).`;
  if (window.durationMs <= retentionMs) {
    return `${head}\nTelegram keeps unconfirmed updates for about 24 hours, so none should have been lost; they are being handled now.`;
  }
  return (
    `${head}\nTelegram keeps unconfirmed updates for about 24 hours, so updates sent before ` +
    `${formatInstant(window.to - retentionMs)} may have been lost. Updates sent after that are being handled now.`
  );
}
