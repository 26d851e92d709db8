/**
 * The history of handler tries that did not complete an update, on PostgreSQL (`inbox_attempts`,
 * migration 5; the SQLite twin is ../sqlite/attempts.ts). Written inside the transactions that
 * learn of such a try, so it is exactly as durable as the outcome.
 *
 * @module
 */
import { MAX_ATTEMPTS_KEPT } from "../inspect-types.js";
import { ATTEMPT_COLUMNS, attemptValues, LOST_TRY, type AttemptToRecord } from "../sqlite/attempts.js";
import type { Tx } from "./database.js";

/** Records a try (its error already scrubbed and cut) and keeps the update's newest {@link MAX_ATTEMPTS_KEPT}. */
export async function recordAttempt(tx: Tx, a: AttemptToRecord): Promise<void> {
  await tx.run(`INSERT INTO inbox_attempts (${ATTEMPT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)`, attemptValues(a));
  await tx.run(
    `DELETE FROM inbox_attempts WHERE update_id = $1 AND seq <
       (SELECT seq FROM inbox_attempts WHERE update_id = $1 ORDER BY seq DESC LIMIT 1 OFFSET ${MAX_ATTEMPTS_KEPT - 1})`,
    [a.updateId],
  );
}

/** Records the lost try of an update a claim just recovered, with the lost claim's attempt count, owner and start. */
export async function recordLostTry(tx: Tx, updateId: number, attempt: number, owner: string | null, startedAt: number | null, now: number): Promise<void> {
  await recordAttempt(tx, { updateId, attempt, owner, startedAt, endedAt: now, outcome: "lost", error: LOST_TRY });
}

/** Forgets the tries of updates that are no longer stored (after a prune or a purge). */
export async function forgetOrphanAttempts(tx: Tx): Promise<void> {
  await tx.run("DELETE FROM inbox_attempts a WHERE NOT EXISTS (SELECT 1 FROM inbox i WHERE i.update_id = a.update_id)");
}
