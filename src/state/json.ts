/**
 * Bot data values are JSON text: what grammY's session and conversations keep is
 * JSON-serialisable, and JSON is what every backend can store and give back byte for byte.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";

/**
 * `value` as JSON text.
 *
 * @throws UnlostError `INVALID_ARGUMENT` when it has no JSON form (undefined, a function, a
 * BigInt, a cycle): thrown where the handler wrote it, so its try fails like any other error.
 */
export function toJson(key: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new UnlostError("INVALID_ARGUMENT", `The value written to "${key}" cannot be stored: it is not JSON-serialisable (${error instanceof Error ? error.message : String(error)}).`, { cause: error });
  }
  if (text === undefined) {
    throw new UnlostError("INVALID_ARGUMENT", `The value written to "${key}" cannot be stored: ${typeof value} has no JSON form. Delete the key instead of writing undefined.`);
  }
  return text;
}

/**
 * The value of stored JSON `text` (a new object each time, as a database would give).
 *
 * @throws UnlostError `STORE_FAILURE` when the stored text is not JSON (it was written by hand,
 * or by something else than unlost's adapters).
 */
export function fromJson(key: string, text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UnlostError("STORE_FAILURE", `The bot data stored under "${key}" is not JSON; it was not written by unlost's storage adapters. Delete or fix it.`, { cause: error });
  }
}
