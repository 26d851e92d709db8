/**
 * A {@link NewJob} as the outbox prepares it for every send.
 *
 * A class rather than an object literal: V8 decides per allocation site whether a literal's
 * objects are allocated straight in its old generation ("pretenuring"), once enough of them
 * outlived a scavenge, as jobs of replies in flight do while a backlog drains. Pretenured jobs
 * grew the old generation by their own size and, dead but not yet collected, kept their
 * payloads alive too (bench:echo). Instances of a class are not pretenured that way.
 *
 * @module
 */
import type { JobBackoff, NewJob, Priority } from "./types.js";

/** {@link NewJob}, made by `Outbox.prepare`. */
export class PreparedJob implements NewJob {
  constructor(
    readonly id: string,
    readonly method: string,
    readonly chatId: number | string,
    readonly payload: string,
    readonly priority: Priority,
    readonly maxAttempts: number,
    readonly backoff: JobBackoff,
    readonly timeoutMs: number,
    readonly notBefore: number,
    readonly deadline: number | null,
    readonly idempotencyKey: string | null,
    readonly fingerprint: string,
    readonly metadata: string | null,
    readonly sensitive: boolean,
    readonly broadcastId: string | null,
    readonly blobs: readonly string[],
    readonly paidBroadcast: boolean,
  ) {}
}
