/**
 * The one error model of unlost: every error the library raises is an {@link UnlostError}
 * with a stable machine-readable `code`, a message that says what was wrong and what to do,
 * and the underlying `cause` when there is one.
 *
 * @module
 */
import { redactSecrets } from "./redact.js";

/**
 * Every error code unlost can raise. Codes are stable API: match on them, not on messages.
 */
export type UnlostErrorCode =
  /** A value given to unlost (option, argument, payload) is malformed. */
  | "INVALID_ARGUMENT"
  /** Configuration is missing, of the wrong type or contradictory. */
  | "INVALID_CONFIG"
  /** The bot token is missing or Telegram rejected it. */
  | "UNAUTHORIZED"
  /** Another instance holds what this one needs (the poller lease, the getUpdates slot). */
  | "CONFLICT"
  /** The store failed (I/O, corruption, unexpected schema). */
  | "STORE_FAILURE"
  /** The store was created by a newer unlost than this one. */
  | "STORE_VERSION_UNSUPPORTED"
  /** The store belongs to another bot than the token's (its offset, inbox and outbox are that bot's). */
  | "STORE_BOT_MISMATCH"
  /**
   * An answer that is not what the Bot API promises (a getUpdates answer that is not JSON, or
   * without a list of updates): a proxy, a local Bot API server's bug or a cut body.
   */
  | "BAD_ANSWER"
  /** Something that exists only while running was used after `stop()`. */
  | "STOPPED"
  /**
   * A handler did not finish within `inbox.handlerTimeoutMs`: its try counts as failed (retry
   * or dead letter) and whatever it completes later is refused.
   */
  | "HANDLER_TIMEOUT"
  /**
   * A circuit breaker is open: the service it guards failed too often, so calls fail fast
   * until a probe after `halfOpenAfterMs` succeeds (`details.retryAfterMs` says when to try).
   */
  | "CIRCUIT_OPEN"
  /** A scheduled run did not finish within its `timeoutMs`: the run counts as failed. */
  | "SCHEDULE_TIMEOUT"
  /**
   * A user has as many tasks of a kind queued or running as its `perUserQueueLimit` allows: the
   * new one was not added (`details`: kind, userId, limit, open). Tell the user to wait.
   */
  | "TASK_QUEUE_FULL"
  /** A task's try did not finish within its `timeoutMs`: the try counts as failed (retried or a dead letter). */
  | "TASK_TIMEOUT"
  /** A task was cancelled (`runtime.tasks.cancel`): the reason of its `signal`. */
  | "TASK_CANCELLED"
  /** The emulator could not do what a test asked of it. */
  | "EMULATOR"
  /**
   * The bot module given to `unlost run` could not be used: a syntax error, a package it
   * imports is not installed, or it (or its setup function) threw. The message names the file
   * and line.
   */
  | "BOT_MODULE";

/** The brand of unlost's errors, shared by every copy of unlost in the process. */
const UNLOST_ERROR_BRAND: unique symbol = Symbol.for("unlost.UnlostError") as never;

/** Options of {@link UnlostError}. */
export interface UnlostErrorOptions {
  /** The error that caused this one, kept for logs and debugging. */
  cause?: unknown;
  /** Structured facts about the failure (never secrets). */
  details?: Readonly<Record<string, unknown>>;
}

/**
 * An error raised by unlost. The message is written for a human (what was wrong, how to fix
 * it); `code` is for programs. Bot tokens are redacted from the message.
 *
 * @example
 * ```ts
 * try { await runtime.start(); }
 * catch (err) { if (err instanceof UnlostError && err.code === "UNAUTHORIZED") process.exit(2); }
 * ```
 */
export class UnlostError extends Error {
  /**
   * Every copy of unlost in a process recognises every other's errors by this brand (a
   * registered symbol): a bot module may load a second copy (a TypeScript path mapping, two
   * versions in a monorepo), and `instanceof` alone would then miss its errors.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // A subclass keeps the ordinary prototype check.
    if (this !== UnlostError) return Function.prototype[Symbol.hasInstance].call(this, value);
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[UNLOST_ERROR_BRAND] === true;
  }

  /** The stable machine-readable error code. */
  readonly code: UnlostErrorCode;
  /** Structured facts about the failure (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: UnlostErrorCode, message: string, options: UnlostErrorOptions = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "UnlostError";
    Object.defineProperty(this, UNLOST_ERROR_BRAND, { value: true });
    this.code = code;
    this.details = options.details ?? {};
  }
}

/** True when `value` is an {@link UnlostError}, optionally with the given code. */
export function isUnlostError(value: unknown, code?: UnlostErrorCode): value is UnlostError {
  return value instanceof UnlostError && (code === undefined || value.code === code);
}
