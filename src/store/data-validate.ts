/**
 * Argument checks of bot data (keys and values), shared by every backend and by the adapters
 * that stage a handler's writes: a value that cannot be stored fails the handler that wrote it,
 * not the settle that would commit it (with other updates' completions).
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";

/** Longest key of bot data, in characters. */
export const MAX_DATA_KEY_LENGTH = 1_000;
/** Longest value of bot data, in characters (16 MiB of ASCII). */
export const MAX_DATA_VALUE_LENGTH = 16 * 1024 * 1024;

/** `key` must be a non-empty string of at most {@link MAX_DATA_KEY_LENGTH} characters. */
export function requireDataKey(key: unknown): string {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_DATA_KEY_LENGTH) {
    throw new UnlostError("INVALID_ARGUMENT", `A bot data key must be a non-empty string of at most ${MAX_DATA_KEY_LENGTH} characters; got ${describe(key)}.`);
  }
  return key;
}

/** `value` must be a string of at most {@link MAX_DATA_VALUE_LENGTH} characters. */
export function requireDataValue(key: string, value: unknown): string {
  if (typeof value !== "string") {
    throw new UnlostError("INVALID_ARGUMENT", `The bot data value of "${key}" must be a string (JSON text); got ${describe(value)}.`);
  }
  if (value.length > MAX_DATA_VALUE_LENGTH) {
    throw new UnlostError(
      "INVALID_ARGUMENT",
      `The bot data value of "${key}" is ${value.length} characters long; at most ${MAX_DATA_VALUE_LENGTH} are stored. Keep large data (files, logs) elsewhere and store a reference.`,
      { details: { key, length: value.length } },
    );
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === "string") return `a string of ${value.length} characters`;
  return value === null ? "null" : typeof value;
}
