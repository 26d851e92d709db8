/**
 * Claiming inbox heads on PostgreSQL: the claim that `claim`, `ingest({ claim })` and
 * `settleAndClaim` share, inside the caller's transaction. Same statements and results as the
 * SQLite claim (../sqlite/inbox.ts `takeHeads`), plus what several processes need:
 *
 * 1. the candidate heads, oldest first, `FOR UPDATE SKIP LOCKED` (another claimer's rows are
 *    skipped, not waited for);
 * 2. their chat locks, tried without waiting (a chat another transaction is changing is
 *    skipped: it is not claimable right now anyway);
 * 3. the heads read again after the locks (a fresh snapshot per statement under READ
 *    COMMITTED), so a head moved by a transaction that committed in between is seen as it is.
 *
 * @module
 */
import type { ClaimedUpdate } from "../inbox-types.js";
import { parseRaw } from "../sqlite/rows.js";
import { tryLockChats } from "./chat-locks.js";
import { refreshHead, setHeadReady } from "./chat-queue.js";
import type { Tx } from "./database.js";

/** A validated claim request. */
export interface ClaimRequest {
  readonly owner: string;
  readonly limit: number;
  readonly leaseMs: number;
}

interface HeadRow {
  chat_key: string;
  head_id: number;
  state: string;
}

interface ClaimedRow {
  update_id: number;
  chat_key: string;
  update_type: string;
  message_date: number | null;
  received_at: number;
  raw: string;
  attempts: number;
  recoveries: number;
  /** Returned by recoveries only. */
  recovered_isolation?: number | null;
  isolated_deaths: number;
  lease_token: number;
  last_error: string | null;
}

const RETURNING = `RETURNING update_id, chat_key, update_type, message_date, received_at, raw, attempts, recoveries,
                   isolated_deaths, lease_token, last_error`;

/** A pending head becomes in flight: a new try. */
const TAKE_PENDING = `UPDATE inbox SET
    state = 'inflight', lease_owner = $1, lease_until = $2, lease_token = lease_token + 1,
    attempts = attempts + 1, claimed_at = $3
  WHERE update_id = $4 AND state = 'pending'
  ${RETURNING}`;

/**
 * An in-flight head whose lease ran out is recovered: as on SQLite, the right-hand sides see the
 * row before the update, so how the lost claim ran (its isolation) is handed to this claim, and
 * a lost claim that ran alone counts as evidence against the update.
 */
const TAKE_RECOVERED = `UPDATE inbox SET
    recoveries = recoveries + 1,
    isolated_deaths = isolated_deaths + (CASE WHEN isolation = 1 THEN 1 ELSE 0 END),
    recovered_isolation = coalesce(isolation, 0),
    isolation = NULL,
    lease_owner = $1, lease_until = $2, lease_token = lease_token + 1,
    attempts = attempts + 1, claimed_at = $3
  WHERE update_id = $4 AND state = 'inflight'
  ${RETURNING}, recovered_isolation`;

/** Claims up to `claim.limit` ready heads in head_id order, inside the caller's write transaction. */
export async function claimHeads(tx: Tx, claim: ClaimRequest, now: number): Promise<ClaimedUpdate[]> {
  if (claim.limit === 0) return [];
  const candidates = await tx.rows<{ chat_key: string }>(
    "SELECT chat_key FROM chat_queue WHERE ready_at <= $1 ORDER BY head_id LIMIT $2 FOR UPDATE SKIP LOCKED",
    [now, claim.limit],
  );
  if (candidates.length === 0) return [];
  const locked = await tryLockChats(tx, candidates.map((c) => c.chat_key));
  if (locked.size === 0) return [];
  const heads = await tx.rows<HeadRow>(
    `SELECT q.chat_key, q.head_id, i.state FROM chat_queue q JOIN inbox i ON i.update_id = q.head_id
     WHERE q.chat_key = ANY($1::text[]) AND q.ready_at <= $2 ORDER BY q.head_id`,
    [[...locked], now],
  );
  const { owner } = claim;
  const leaseUntil = now + claim.leaseMs;
  const claimed: ClaimedUpdate[] = [];
  for (const head of heads) {
    const recovered = head.state === "inflight";
    const row = await tx.one<ClaimedRow>(recovered ? TAKE_RECOVERED : TAKE_PENDING, [owner, leaseUntil, now, head.head_id]);
    if (row === undefined) {
      // The queue pointed at a finished item: repair it rather than stall the chat.
      await refreshHead(tx, head.chat_key);
      continue;
    }
    await setHeadReady(tx, head.chat_key, head.head_id, leaseUntil);
    claimed.push({
      updateId: row.update_id,
      chatKey: row.chat_key,
      updateType: row.update_type,
      messageDate: row.message_date,
      receivedAt: row.received_at,
      raw: row.raw,
      update: parseRaw(row.raw, row.update_id),
      claim: { updateId: row.update_id, owner, token: row.lease_token, leaseUntil },
      attempt: row.attempts,
      recoveries: row.recoveries,
      recovered,
      // Only a recovery returns it (the column keeps the last recovery's value).
      recoveredIsolation: row.recovered_isolation ?? null,
      isolatedDeaths: row.isolated_deaths,
      lastError: row.last_error,
    });
  }
  return claimed;
}
