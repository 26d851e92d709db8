/**
 * What makes two sends "the same send". A handler that runs again (a retry, or a replay after
 * `kill -9`) makes its sends again under the same idempotency keys; a key only says *where*
 * the send was made (update, position, method), not *what* it says. A replay that says
 * something else at that position (a handler that replied "temporary failure" and threw, then
 * replies with the result) is a new message and must be delivered, not answered with the
 * first attempt's job. So every job carries a fingerprint of what it sends, and the store
 * treats a known key as the same send only when method, chat and fingerprint match; where
 * unlost cannot tell, it sends (a duplicate is better than a loss).
 *
 * The fingerprint covers the method and every parameter except `chat_id` (the store compares
 * the chat itself, so one fingerprint serves every chat of a broadcast), with keys in a
 * canonical order and files by their content (SHA-256) and file name, since a spilled file's
 * blob name is random.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** The fingerprint of a send: 32 hex digits (128 bits of SHA-256). */
export function sendFingerprint(method: string, identity: Readonly<Record<string, unknown>>): string {
  return createHash("sha256").update(method).update("\n").update(canonicalJson(identity)).digest("hex").slice(0, 32);
}

/** JSON with the keys of every object sorted, so `{a, b}` and `{b, a}` are one send. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(v).sort()) sorted[key] = (v as Record<string, unknown>)[key];
    return sorted;
  });
}
