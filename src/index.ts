/**
 * unlost: a crash-safe runtime for grammY Telegram bots. Every update handled, every message
 * delivered: through crashes, restarts, long downtime, flaky networks, rate limits and bad
 * input.
 *
 * The Bot API emulator is a separate entry point: `unlost/emulator`.
 *
 * @module
 */
export { UnlostError, isUnlostError, redactSecrets } from "./errors/index.js";
export type { UnlostErrorCode, UnlostErrorOptions } from "./errors/index.js";
