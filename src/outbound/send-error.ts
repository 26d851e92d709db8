/**
 * The error a send made through grammY (`ctx.reply`, `ctx.api.*`, `bot.api.*`) rejects with when
 * it is not delivered: grammY's own `GrammyError`, with the `error_code`, `description` and
 * `parameters` Telegram gave — or would give, when unlost refused the call before sending it —
 * so existing `catch` logic (`err.error_code === 403`, `err.description.includes(...)`) keeps
 * working. unlost's fuller account is on `unlost`, beside Telegram's, never in place of it.
 *
 * @module
 */
import { GrammyError } from "grammy";
import type { UnlostError } from "../errors/index.js";
import type { FailureReason, TelegramAnswer } from "./types.js";

/** unlost's account of a send that was not delivered. */
export interface SendFailure {
  /**
   * Why, in unlost's words: the job's last error (what Telegram said and what unlost did about
   * it), or the validation error's message when the call was refused before it was enqueued.
   */
  readonly reason: string;
  /**
   * Why the job failed for good (`permanent`, `unreachable`, `attempts`, `deadline`,
   * `unauthorized`), or `invalid` when unlost refused the call before enqueuing it.
   */
  readonly failureReason: FailureReason | "invalid";
  /** The outbox job (see `runtime.outbox.status(jobId)`), or null when nothing was enqueued. */
  readonly jobId: string | null;
  /** False when Telegram's answer is unlost's rendering of it: no request was made for this call. */
  readonly answeredByTelegram: boolean;
  /** The `INVALID_ARGUMENT` error validation raised, for `failureReason: "invalid"`. */
  readonly validationError?: UnlostError;
}

/** A `GrammyError` from a send unlost did not deliver; `unlost` says why in unlost's words. */
export class UnlostGrammyError extends GrammyError {
  /** unlost's account; `error_code`, `description` and `parameters` are Telegram's. */
  readonly unlost: SendFailure;

  constructor(method: string, payload: Record<string, unknown>, code: number, answer: TelegramAnswer, failure: SendFailure) {
    // grammY's own message for a refused call, so logs read the same as without unlost.
    super(`Call to '${method}' failed!`, { ok: false, error_code: code, description: answer.description, ...(answer.parameters === undefined ? {} : { parameters: answer.parameters }) }, method, payload);
    this.unlost = failure;
  }
}
