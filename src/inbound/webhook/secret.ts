/**
 * The webhook's secret token: Telegram sends it back in `X-Telegram-Bot-Api-Secret-Token` on
 * every delivery, which is how the receiver tells Telegram from anyone who found its URL.
 *
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { UnlostError } from "../../errors/index.js";
import type { StateStore } from "../../store/index.js";

/** Telegram's rule for `secret_token`: 1–256 characters of `A-Z a-z 0-9 _ -`. */
export const SECRET_TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,256}$/;

/** The key/value entry of the state store that keeps the generated secret across restarts. */
export const WEBHOOK_SECRET_KEY = "webhook.secret_token";

/**
 * Checks a configured secret against Telegram's rule.
 *
 * @throws UnlostError `INVALID_CONFIG` saying what is wrong and what is allowed. The secret
 * itself never appears in the message.
 */
export function validateSecretToken(secret: unknown): string {
  const allowed = "A webhook secret token must be 1 to 256 characters of A-Z, a-z, 0-9, _ and - (Telegram's rule).";
  if (typeof secret !== "string") {
    throw new UnlostError("INVALID_CONFIG", `The webhook secret token must be a string, got ${typeof secret}. ${allowed}`);
  }
  if (secret.length === 0) throw new UnlostError("INVALID_CONFIG", `The webhook secret token is empty. ${allowed}`);
  if (secret.length > 256) {
    throw new UnlostError("INVALID_CONFIG", `The webhook secret token is ${secret.length} characters long. ${allowed}`);
  }
  if (!SECRET_TOKEN_PATTERN.test(secret)) {
    const bad = [...new Set(secret.replace(/[A-Za-z0-9_-]/g, ""))].map((ch) => JSON.stringify(ch)).join(", ");
    throw new UnlostError("INVALID_CONFIG", `The webhook secret token contains characters that are not allowed (${bad}). ${allowed}`);
  }
  return secret;
}

/** A fresh random secret: 36 random bytes as 48 characters of base64url (within Telegram's rule). */
export function generateSecretToken(): string {
  return randomBytes(36).toString("base64url");
}

/**
 * Compares a received header with the expected secret in constant time. Both sides are hashed
 * first, so the comparison always runs over 32 bytes: neither the content nor the length of
 * the expected secret leaks through the response time.
 */
export function secretsMatch(expected: string, received: string | undefined | null): boolean {
  // A missing header is still hashed and compared, so it costs the same as a wrong one.
  const given = createHash("sha256").update(received ?? "").digest();
  const wanted = createHash("sha256").update(expected).digest();
  return timingSafeEqual(given, wanted) && received !== undefined && received !== null;
}

/** Options of {@link webhookSecret}. */
export interface WebhookSecretOptions {
  /** A secret chosen by the user; validated and used as is (nothing is stored). */
  readonly configured?: string;
}

/**
 * The secret token to register the webhook with: the configured one when given (validated),
 * otherwise a generated one kept in the store's key/value (`webhook.secret_token`), so a
 * restart re-registers with the same secret and deliveries already on their way still match.
 *
 * @throws UnlostError `INVALID_CONFIG` when the configured secret breaks Telegram's rule.
 */
export async function webhookSecret(state: StateStore, options: WebhookSecretOptions = {}): Promise<string> {
  if (options.configured !== undefined) return validateSecretToken(options.configured);
  const stored = await state.getValue(WEBHOOK_SECRET_KEY);
  if (stored !== null && SECRET_TOKEN_PATTERN.test(stored)) return stored;
  // A missing or (hand-edited) invalid value is replaced by a fresh secret.
  await state.setValue(WEBHOOK_SECRET_KEY, generateSecretToken());
  // Read back what is stored, so two processes racing here most likely agree on one value.
  const saved = await state.getValue(WEBHOOK_SECRET_KEY);
  if (saved === null) throw new UnlostError("STORE_FAILURE", "The generated webhook secret token could not be read back from the store.");
  return saved;
}
