/**
 * A kind's options with their defaults, checked once when it is registered, and the wait
 * before a retry.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { TaskHandlerOptions } from "./types.js";

/** {@link TaskHandlerOptions} with every default applied. */
export interface ResolvedTaskOptions {
  readonly concurrency: number;
  readonly perUser: number;
  /** `Infinity` for no limit. */
  readonly perUserQueueLimit: number;
  readonly attempts: number;
  readonly baseMs: number;
  readonly maxMs: number;
  readonly timeoutMs: number;
}

/** The defaults, for tasks of a kind no process here handles (their attempts). */
export const DEFAULT_TASK_ATTEMPTS = 3;

const KIND = /^[\w.:-]{1,100}$/;

/** `kind` must be 1–100 letters, digits or `. : - _`. */
export function requireKind(kind: unknown): string {
  if (typeof kind !== "string" || !KIND.test(kind)) {
    throw new UnlostError("INVALID_ARGUMENT", `a task kind must be 1–100 letters, digits or . : - _ (e.g. "download"); got ${JSON.stringify(kind)}`);
  }
  return kind;
}

function whole(kind: string, name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new UnlostError("INVALID_ARGUMENT", `tasks.handle(${JSON.stringify(kind)}): ${name} must be a whole number ≥ ${min}; got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks and completes a kind's options. */
export function resolveTaskOptions(kind: string, options: TaskHandlerOptions = {}): ResolvedTaskOptions {
  const baseMs = whole(kind, "backoff.baseMs", options.backoff?.baseMs, 1_000, 0);
  const maxMs = whole(kind, "backoff.maxMs", options.backoff?.maxMs, 300_000, 0);
  const perUser = whole(kind, "perUser", options.perUser, 1, 1);
  const perUserQueueLimit = options.perUserQueueLimit === undefined ? Number.POSITIVE_INFINITY : whole(kind, "perUserQueueLimit", options.perUserQueueLimit, 0, 1);
  return {
    concurrency: whole(kind, "concurrency", options.concurrency, 4, 1),
    perUser,
    perUserQueueLimit,
    attempts: whole(kind, "attempts", options.attempts, DEFAULT_TASK_ATTEMPTS, 1),
    baseMs,
    maxMs: Math.max(baseMs, maxMs),
    timeoutMs: whole(kind, "timeoutMs", options.timeoutMs, 600_000, 1),
  };
}

/** The wait before the try after the `failures`-th failed one: `baseMs` doubling, up to `maxMs`. */
export function retryDelay(failures: number, options: Pick<ResolvedTaskOptions, "baseMs" | "maxMs">): number {
  return Math.min(options.maxMs, options.baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 40));
}
