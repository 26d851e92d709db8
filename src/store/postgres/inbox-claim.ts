/**
 * Claiming inbox heads on PostgreSQL: the claim that `claim`, `ingest({ claim })` and
 * `settleAndClaim` share, inside the caller's transaction. Same statements and results as the
 * SQLite claim (../sqlite/inbox.ts `takeHeads`), plus what several processes need:
 *
 * 1. the candidate heads, oldest first, `FOR UPDATE SKIP LOCKED` (another claimer's rows are
 *    skipped, not waited for);
 * 2. their chat locks, tried without waiting (a chat another transaction is changing is
 *    skipped: it is not claimable right now anyway), in the same statement as 1;
 * 3. the heads read again after the locks (a fresh snapshot per statement under READ
 *    COMMITTED), so a head moved by a transaction that committed in between is seen as it is,
 *    and taken in one statement (however many).
 *
 * @module
 */
import type { ClaimedUpdate } from "../inbox-types.js";
import { parseRaw } from "../sqlite/rows.js";
import { CHAT_LOCK_CLASS } from "./chat-locks.js";
import { refreshHead } from "./chat-queue.js";
import { recordLostTry } from "./attempts.js";
import type { Tx } from "./database.js";

/** A validated claim request. */
export interface ClaimRequest {
  readonly owner: string;
  readonly limit: number;
  readonly leaseMs: number;
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
  /** The lost claim's isolation, for recoveries only (null for a pending head). */
  recovered_isolation: number | null;
  isolated_deaths: number;
  lease_token: number;
  last_error: string | null;
  /** The head was in flight: this claim is a recovery. */
  recovered: boolean;
  /** The lost claim's attempt count, owner and start (for the history of a recovery). */
  was_attempts: number;
  was_owner: string | null;
  was_claimed_at: number | null;
}

/**
 * Takes the ready heads of the locked chats ($1), in one statement: the same row changes as
 * SQLite's two statements (a pending head becomes a new try; an in-flight head whose lease ran
 * out is recovered), chosen per row by its state. As there, the right-hand sides see the row
 * before the update, so how a lost claim ran (its isolation) is handed to the recovering claim,
 * and a lost claim that ran alone counts as evidence against the update. The heads' `ready_at`
 * becomes the lease end in the same statement.
 */
const TAKE_HEADS = `
  WITH heads AS (
    SELECT q.chat_key, q.head_id, i.state AS was, i.attempts AS was_attempts, i.lease_owner AS was_owner, i.claimed_at AS was_claimed_at
    FROM chat_queue q JOIN inbox i ON i.update_id = q.head_id
    WHERE q.chat_key = ANY($1::text[]) AND q.ready_at <= $2 AND i.state IN ('pending', 'inflight')
  ), taken AS (
    UPDATE inbox SET
      recoveries = recoveries + CASE WHEN heads.was = 'inflight' THEN 1 ELSE 0 END,
      isolated_deaths = isolated_deaths + CASE WHEN heads.was = 'inflight' AND isolation = 1 THEN 1 ELSE 0 END,
      recovered_isolation = CASE WHEN heads.was = 'inflight' THEN coalesce(isolation, 0) ELSE recovered_isolation END,
      isolation = CASE WHEN heads.was = 'inflight' THEN NULL ELSE isolation END,
      state = 'inflight', lease_owner = $3, lease_until = $4, lease_token = lease_token + 1,
      attempts = attempts + 1, claimed_at = $2
    FROM heads
    WHERE inbox.update_id = heads.head_id AND inbox.state = heads.was
    RETURNING inbox.update_id, inbox.chat_key, inbox.update_type, inbox.message_date, inbox.received_at, inbox.raw,
              inbox.attempts, inbox.recoveries, inbox.isolated_deaths, inbox.lease_token, inbox.last_error,
              CASE WHEN heads.was = 'inflight' THEN inbox.recovered_isolation END AS recovered_isolation,
              heads.was = 'inflight' AS recovered, heads.was_attempts, heads.was_owner, heads.was_claimed_at
  ), moved AS (
    UPDATE chat_queue SET ready_at = $4 FROM taken
    WHERE chat_queue.chat_key = taken.chat_key AND chat_queue.head_id = taken.update_id
  )
  SELECT * FROM taken ORDER BY update_id`;

/** Claims up to `claim.limit` ready heads in head_id order, inside the caller's write transaction. */
export async function claimHeads(tx: Tx, claim: ClaimRequest, now: number): Promise<ClaimedUpdate[]> {
  if (claim.limit === 0) return [];
  // Steps 1 and 2 in one statement: the subquery (with its LIMIT and row locks) runs first, so
  // only the candidate rows it locked are tried for their chat locks.
  const locked = await tx.rows<{ chat_key: string }>(
    `SELECT c.chat_key FROM (
       SELECT chat_key FROM chat_queue WHERE ready_at <= $1 ORDER BY head_id LIMIT $2 FOR UPDATE SKIP LOCKED
     ) AS c
     WHERE pg_try_advisory_xact_lock($3, hashtext(c.chat_key))`,
    [now, claim.limit, CHAT_LOCK_CLASS],
  );
  if (locked.length === 0) return [];
  const { owner } = claim;
  const leaseUntil = now + claim.leaseMs;
  const chats = locked.map((c) => c.chat_key);
  const rows = await tx.rows<ClaimedRow>(TAKE_HEADS, [chats, now, owner, leaseUntil]);
  // A recovery ends the lost try: into the history, with the lost claim's values (rare; nothing for a pending head).
  for (const r of rows) if (r.recovered) await recordLostTry(tx, r.update_id, r.was_attempts, r.was_owner, r.was_claimed_at, now);
  // A ready head pointing at a finished item (the queue out of step): repair it rather than
  // stall the chat. Such a chat was locked but nothing of it was taken.
  const taken = new Set(rows.map((r) => r.chat_key));
  if (taken.size === chats.length) return rows.map((row) => toClaimed(row, owner, leaseUntil));
  const stale = await tx.rows<{ chat_key: string }>(
    `SELECT q.chat_key FROM chat_queue q LEFT JOIN inbox i ON i.update_id = q.head_id
     WHERE q.chat_key = ANY($1::text[]) AND q.ready_at <= $2 AND (i.update_id IS NULL OR i.state NOT IN ('pending', 'inflight'))`,
    [chats.filter((c) => !taken.has(c)), now],
  );
  for (const { chat_key } of stale) await refreshHead(tx, chat_key);
  return rows.map((row) => toClaimed(row, owner, leaseUntil));
}

function toClaimed(row: ClaimedRow, owner: string, leaseUntil: number): ClaimedUpdate {
  return {
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
    recovered: row.recovered,
    recoveredIsolation: row.recovered_isolation,
    isolatedDeaths: row.isolated_deaths,
    lastError: row.last_error,
  };
}
