/**
 * Argument checks shared by every backend, so they all refuse the same mistakes with the same
 * `INVALID_ARGUMENT` messages before touching their database.
 *
 * @module
 */
import { UnlostError } from "../errors/index.js";
import type { Claim, DeadLetterSelector, SettleOutcome } from "./inbox-types.js";

/** Longest error message kept with a retry or dead letter (longer ones are cut). */
export const MAX_ERROR_LENGTH = 4_000;
/** Longest stack kept with a dead letter. */
export const MAX_STACK_LENGTH = 16_000;
/** Longest text of an unstorable update kept with its dead letter. */
export const MAX_UNSTORABLE_LENGTH = 64 * 1024;

/** Throws the store's error for bad input (`INVALID_ARGUMENT`) with `message`. */
export function invalid(message: string): never {
  throw new UnlostError("INVALID_ARGUMENT", message);
}

/** `value` must be an integer in [min, max]. */
export function requireInt(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    invalid(`${name} must be an integer between ${min} and ${max}; got ${String(value)}.`);
  }
  return value;
}

/** `value` must be a finite time in ms. */
export function requireTime(name: string, value: unknown): number {
  if (typeof value !== "number" || !Number.isFinite(value)) invalid(`${name} must be a time in ms; got ${String(value)}.`);
  return Math.floor(value);
}

/** `value` must be a non-empty string of at most `max` characters. */
export function requireText(name: string, value: unknown, max = 200): string {
  if (typeof value !== "string" || value.length === 0 || value.length > max) {
    invalid(`${name} must be a non-empty string of at most ${max} characters.`);
  }
  return value;
}

/** Cuts `text` to `max` characters, marking the cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 15)}… [truncated]`;
}

/** Checks a claim's shape (it may have been serialized, or built by hand). */
export function validateClaim(claim: Claim): void {
  if (typeof claim !== "object" || claim === null) invalid("A claim is required.");
  requireInt("claim.updateId", claim.updateId, 0);
  requireText("claim.owner", claim.owner);
  requireInt("claim.token", claim.token, 0);
}

/** Checks an outcome's shape (it may come from untyped JavaScript). */
export function validateOutcome(outcome: SettleOutcome): void {
  switch (outcome?.kind) {
    case "done":
    case "release":
      return;
    case "retry":
      requireTime("retry.at", outcome.at);
      if (typeof outcome.error !== "string") invalid("retry.error must be a string.");
      return;
    case "dead":
      if (typeof outcome.error !== "string") invalid("dead.error must be a string.");
      if (outcome.stack !== undefined && outcome.stack !== null && typeof outcome.stack !== "string") {
        invalid("dead.stack must be a string or null.");
      }
      return;
    default:
      invalid(`Unknown settle outcome: ${JSON.stringify(outcome)}.`);
  }
}

/** Checks a dead-letter selector; an empty filter is refused so "all" is always explicit. */
export function validateSelector(selector: DeadLetterSelector): void {
  if (typeof selector !== "object" || selector === null) invalid("A dead-letter selector is required.");
  if ("updateId" in selector) {
    // Negative: an unstorable update's dead letter.
    requireInt("updateId", selector.updateId, Number.MIN_SAFE_INTEGER);
  } else if ("all" in selector) {
    if (selector.all !== true) invalid("Selector { all } must be { all: true }.");
  } else if ("filter" in selector) {
    const f = selector.filter;
    if (f.chatKey === undefined && f.updateType === undefined && (f.errorContains ?? "") === "") {
      invalid("A dead-letter filter must name a chatKey, an updateType or a non-empty errorContains; use { all: true } for all.");
    }
  } else {
    invalid("A dead-letter selector is { updateId }, { all: true } or { filter }.");
  }
}
