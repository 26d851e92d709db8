/**
 * Namespaces of bot data keys: every adapter prefixes its keys (`session:`, `conversations:`),
 * so that sessions, conversations and the bot's own keys never collide in the store.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";

/** The default key prefix of {@link unlostSession} and {@link unlostLazySession}. */
export const SESSION_PREFIX = "session:";
/** The default key prefix of {@link unlostConversationStorage}. */
export const CONVERSATIONS_PREFIX = "conversations:";

/** Longest prefix: leaves room for the key after it. */
const MAX_PREFIX_LENGTH = 100;

/**
 * `prefix` as given, checked: a non-empty string of at most 100 characters.
 *
 * @throws UnlostError `INVALID_ARGUMENT` otherwise.
 */
export function requirePrefix(option: string, prefix: unknown): string {
  if (typeof prefix !== "string" || prefix.length === 0 || prefix.length > MAX_PREFIX_LENGTH) {
    throw new UnlostError(
      "INVALID_ARGUMENT",
      `${option} must be a non-empty string of at most ${MAX_PREFIX_LENGTH} characters (a namespace such as "session:", so that keys of different plugins never collide); got ${typeof prefix === "string" ? JSON.stringify(prefix) : typeof prefix}.`,
    );
  }
  return prefix;
}
