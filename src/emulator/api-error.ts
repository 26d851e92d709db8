/**
 * Telegram's failure answers. A method implementation throws a {@link TelegramApiError};
 * the HTTP layer turns it into Telegram's envelope
 * `{ ok: false, error_code, description, parameters? }` with the same HTTP status.
 */
import type { ResponseParameters } from "grammy/types";
import { isTextRejection } from "../telegram/formatted-text.js";

/** A Bot API error answer, exactly as Telegram would send it. */
export class TelegramApiError extends Error {
  constructor(
    /** HTTP status and `error_code` (400, 401, 403, 404, 409, 413, 429, 5xx). */
    readonly errorCode: number,
    /** Telegram's `description`, e.g. `Bad Request: chat not found`. */
    readonly description: string,
    /** Telegram's `parameters` (`retry_after`, `migrate_to_chat_id`). */
    readonly parameters?: ResponseParameters,
  ) {
    super(description);
    this.name = "TelegramApiError";
  }

  /** The JSON envelope Telegram answers with. */
  toEnvelope(): ErrorEnvelope {
    const envelope: ErrorEnvelope = { ok: false, error_code: this.errorCode, description: this.description };
    if (this.parameters !== undefined) envelope.parameters = this.parameters;
    return envelope;
  }
}

/** Telegram's failure envelope. */
export interface ErrorEnvelope {
  ok: false;
  error_code: number;
  description: string;
  parameters?: ResponseParameters;
}

/** 400 `Bad Request: <what>`. */
export const badRequest = (what: string, parameters?: ResponseParameters): TelegramApiError =>
  new TelegramApiError(400, `Bad Request: ${what}`, parameters);

/** 403 `Forbidden: <what>`. */
export const forbidden = (what: string): TelegramApiError => new TelegramApiError(403, `Forbidden: ${what}`);

/** 401 `Unauthorized`, the answer to a token Telegram does not know. */
export const unauthorized = (): TelegramApiError => new TelegramApiError(401, "Unauthorized");

/** 404 `Not Found: method not found`. */
export const methodNotFound = (): TelegramApiError => new TelegramApiError(404, "Not Found: method not found");

/** 409 `Conflict: <what>`. */
export const conflict = (what: string): TelegramApiError => new TelegramApiError(409, `Conflict: ${what}`);

/** 429 `Too Many Requests: retry after N` with `parameters.retry_after`. */
export const tooManyRequests = (retryAfterSeconds: number): TelegramApiError =>
  new TelegramApiError(429, `Too Many Requests: retry after ${retryAfterSeconds}`, {
    retry_after: retryAfterSeconds,
  });

/** 413, the answer of Telegram's front end to a request body over its size limit. */
export const entityTooLarge = (): TelegramApiError => new TelegramApiError(413, "Request Entity Too Large");

/** A 5xx answer: 500 `Internal Server Error`, 502 `Bad Gateway`, 503/504. */
export function serverError(status: 500 | 502 | 503 | 504): TelegramApiError {
  const text = { 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout" };
  return new TelegramApiError(status, text[status]);
}

/**
 * Runs one of the shared text checks of `src/telegram/formatted-text.ts` (which know Telegram's
 * wording but not the emulator) and answers its rejection with Telegram's 400.
 */
export function asBadRequest<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (isTextRejection(error)) throw badRequest(error.description);
    throw error;
  }
}
