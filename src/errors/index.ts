/**
 * The error model shared by every part of unlost.
 *
 * @module
 */
export { UnlostError, isUnlostError } from "./unlost-error.js";
export type { UnlostErrorCode, UnlostErrorOptions } from "./unlost-error.js";
export { redactSecrets, REDACTED, Scrubber } from "./redact.js";
export type { Scrub } from "./redact.js";
