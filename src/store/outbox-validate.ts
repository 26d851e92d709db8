/**
 * Argument checks of the outbox store, shared by every backend so they all refuse the same
 * mistakes with the same `INVALID_ARGUMENT` messages before touching their database. The
 * outbox API validates user input much more thoroughly; these checks guard the store's own
 * invariants against a caller bug (or untyped JavaScript).
 *
 * @module
 */
import { PRIORITY_RANK, type FailureReason, type JobClaim, type JobOutcome, type NewJob } from "../outbound/types.js";
import type { ChatId, OutboxDeadLetterSelector, RememberedUser } from "./outbox-types.js";
import { requireInt, requireText, requireTime, invalid } from "./validate.js";

const FAILURE_REASONS: ReadonlySet<string> = new Set<FailureReason>([
  "permanent",
  "attempts",
  "deadline",
  "unreachable",
  "unauthorized",
]);

function optionalText(name: string, value: unknown, max: number): void {
  if (value !== null) requireText(name, value, max);
}

/** A chat id must be a safe integer or a non-empty string (`@channel`). */
export function requireChatId(name: string, value: unknown): ChatId {
  if (typeof value === "number" && Number.isSafeInteger(value)) return value;
  if (typeof value === "string" && value.length > 0 && value.length <= 200) return value;
  return invalid(`${name} must be an integer chat id or a non-empty @username; got ${String(value)}.`);
}

/** Checks the users of `rememberUsers` (each as `rememberUser` checks one); returns them. */
export function validUsers(users: readonly RememberedUser[]): readonly RememberedUser[] {
  if (!Array.isArray(users)) invalid("users must be an array of { userId, chatId }.");
  users.forEach((u, i) => {
    if (typeof u !== "object" || u === null) invalid(`users[${i}] must be { userId, chatId }.`);
    requireInt(`users[${i}].userId`, u.userId, 1);
    requireChatId(`users[${i}].chatId`, u.chatId);
  });
  return users;
}

/** The queue key of a chat: one FIFO per chat, whether its id was given as number or text. */
export function chatKeyOf(chatId: ChatId): string {
  return String(chatId);
}

/** Checks one job to enqueue. */
export function validateNewJob(job: NewJob): void {
  if (typeof job !== "object" || job === null) invalid("A job is required.");
  requireText("job.id", job.id);
  requireText("job.method", job.method, 100);
  requireChatId("job.chatId", job.chatId);
  if (typeof job.payload !== "string") invalid(`job.payload of ${job.id} must be a JSON string.`);
  if (!(job.priority in PRIORITY_RANK)) invalid(`job.priority of ${job.id} must be critical, high, normal or low.`);
  requireInt("job.maxAttempts", job.maxAttempts, 1);
  if (typeof job.backoff !== "object" || job.backoff === null) invalid(`job.backoff of ${job.id} is required.`);
  requireInt("job.backoff.baseMs", job.backoff.baseMs, 0);
  requireInt("job.backoff.maxMs", job.backoff.maxMs, 0);
  if (typeof job.backoff.jitter !== "number" || !(job.backoff.jitter >= 0 && job.backoff.jitter <= 1)) {
    invalid(`job.backoff.jitter of ${job.id} must be a share between 0 and 1.`);
  }
  requireInt("job.timeoutMs", job.timeoutMs, 1);
  requireTime("job.notBefore", job.notBefore);
  if (job.deadline !== null) requireTime("job.deadline", job.deadline);
  optionalText("job.idempotencyKey", job.idempotencyKey, 1000);
  requireText("job.fingerprint", job.fingerprint, 200);
  if (job.metadata !== null && typeof job.metadata !== "string") invalid(`job.metadata of ${job.id} must be a JSON string or null.`);
  if (typeof job.sensitive !== "boolean") invalid(`job.sensitive of ${job.id} must be a boolean.`);
  optionalText("job.broadcastId", job.broadcastId, 200);
  if (!Array.isArray(job.blobs) || job.blobs.some((b) => typeof b !== "string" || b.length === 0)) {
    invalid(`job.blobs of ${job.id} must be an array of blob names.`);
  }
  if (typeof job.paidBroadcast !== "boolean") invalid(`job.paidBroadcast of ${job.id} must be a boolean.`);
}

/** Checks a job claim's shape (it may have been serialized, or built by hand). */
export function validateJobClaim(claim: JobClaim): void {
  if (typeof claim !== "object" || claim === null) invalid("A job claim is required.");
  requireText("claim.jobId", claim.jobId);
  requireText("claim.owner", claim.owner);
  requireInt("claim.token", claim.token, 0);
}

/** Checks an outcome's shape. */
export function validateJobOutcome(outcome: JobOutcome): void {
  const needError = (kind: string, error: unknown): void => {
    if (typeof error !== "string") invalid(`${kind}.error must be a string.`);
  };
  switch (outcome?.kind) {
    case "delivered":
      if (typeof outcome.result !== "string") invalid("delivered.result must be the JSON string of Telegram's result.");
      if (outcome.messageId !== null) requireInt("delivered.messageId", outcome.messageId, Number.MIN_SAFE_INTEGER);
      return;
    case "retry":
      requireTime("retry.at", outcome.at);
      needError("retry", outcome.error);
      return;
    case "failed":
      if (!FAILURE_REASONS.has(outcome.reason)) invalid(`failed.reason must be a FailureReason; got ${String(outcome.reason)}.`);
      needError("failed", outcome.error);
      return;
    case "defer":
      requireTime("defer.at", outcome.at);
      return;
    case "retarget":
      requireInt("retarget.chatId", outcome.chatId, Number.MIN_SAFE_INTEGER);
      requireTime("retarget.at", outcome.at);
      needError("retarget", outcome.error);
      return;
    default:
      invalid(`Unknown job outcome: ${JSON.stringify(outcome)}.`);
  }
}

/** Checks a dead-letter selector; an empty filter is refused so "all" is always explicit. */
export function validateJobSelector(selector: OutboxDeadLetterSelector): void {
  if (typeof selector !== "object" || selector === null) invalid("A dead-letter selector is required.");
  if ("id" in selector) {
    requireText("id", selector.id);
  } else if ("all" in selector) {
    if (selector.all !== true) invalid("Selector { all } must be { all: true }.");
  } else if ("filter" in selector) {
    const f = selector.filter;
    if (f.chatId === undefined && f.reason === undefined && (f.errorContains ?? "") === "") {
      invalid("A dead-letter filter must name a chatId, a reason or a non-empty errorContains; use { all: true } for all.");
    }
    if (f.chatId !== undefined) requireChatId("filter.chatId", f.chatId);
    if (f.reason !== undefined && !FAILURE_REASONS.has(f.reason)) invalid(`filter.reason must be a FailureReason.`);
  } else {
    invalid("A dead-letter selector is { id }, { all: true } or { filter }.");
  }
}
