/**
 * When a job enqueued under a known idempotency key is "the same send" as the stored one, and
 * the key a diverging replay is stored under: one rule for every backend (see
 * `OutboxStore.enqueue` and `outbound/fingerprint.ts`).
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { NewJob } from "../outbound/types.js";

/** The stored job's columns the comparison reads. */
export interface StoredSend {
  readonly id: string;
  readonly method: string;
  readonly chat_key: string;
  readonly fingerprint: string | null;
}

/** Jobs stored without a fingerprint (before fingerprints existed) are never the same send: unlost cannot tell, so it sends. */
export function sameSend(stored: StoredSend, job: NewJob, chatKey: string): boolean {
  return stored.fingerprint !== null && stored.fingerprint === job.fingerprint && stored.method === job.method && stored.chat_key === chatKey;
}

/** The key a diverging send is stored under: the original key and what the send is. */
export function variantKey(key: string, job: NewJob, chatKey: string): string {
  return `${key}~${createHash("sha256").update(`${job.method}\n${chatKey}\n${job.fingerprint}`).digest("hex").slice(0, 16)}`;
}
