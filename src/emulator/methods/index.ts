/**
 * Every Bot API method the emulator implements, by lower-cased name (Telegram's method names
 * are case-insensitive).
 */
import { chatMethods } from "./chats.js";
import type { MethodHandler } from "./context.js";
import { mediaMethods } from "./media.js";
import { messageMethods } from "./messages.js";
import { updateMethods } from "./updates.js";

export type { MethodContext, MethodHandler, MethodSettings, WebhookControl } from "./context.js";

const all: Record<string, MethodHandler> = { ...updateMethods, ...messageMethods, ...mediaMethods, ...chatMethods };

/** Method implementations keyed by lower-cased method name. */
export const METHODS: ReadonlyMap<string, MethodHandler> = new Map(
  Object.entries(all).map(([name, handler]) => [name.toLowerCase(), handler]),
);

/** Names of the implemented methods, as Telegram spells them. */
export const METHOD_NAMES: readonly string[] = Object.keys(all);

/** Methods that put a message into a chat (and therefore count against flood limits). */
export const SENDING_METHODS: ReadonlySet<string> = new Set(
  ["sendMessage", "sendPhoto", "sendDocument", "sendVoice", "sendLocation", "sendMediaGroup", "copyMessage", "forwardMessage"].map((m) => m.toLowerCase()),
);
