/**
 * The PostgreSQL inbox: ingest, claim, settle, lease extension, inspection and pruning, with
 * the semantics of ../sqlite/inbox.ts. Each operation is one transaction; the chat locks
 * (chat-locks.ts) keep the head maintenance of a chat serialized across processes, and the
 * claim skips what others hold (inbox-claim.ts). The journal (the batch-per-record fast path of
 * long polling) is in journal.ts.
 *
 * @module
 */
import { UnlostError } from "../../errors/index.js";
import type { StoreEffect } from "../effects.js";
import type {
  Claim,
  ClaimOptions,
  ClaimedUpdate,
  EpochMs,
  FusedClaimOptions,
  IngestOptions,
  IngestResult,
  InboxRecord,
  InboxStats,
  InboxStore,
  PruneOptions,
  RunningOptions,
  RunningUpdate,
  SettleAndClaimOptions,
  SettleAndClaimResult,
  SettleOutcome,
  SettleRequest,
  SettleResult,
} from "../inbox-types.js";
import { INBOX_COLUMNS, toInboxRecord, type InboxRow } from "../sqlite/rows.js";
import { forgetOrphanAttempts, recordAttempt } from "./attempts.js";
import { deriveUpdateMeta, requireUpdateId, type RawUpdate } from "../update-meta.js";
import { MAX_ERROR_LENGTH, MAX_STACK_LENGTH, requireInt, requireText, requireTime, validateClaim, validateOutcome } from "../validate.js";
import { lockChats, lockChatsOfUpdates } from "./chat-locks.js";
import { refreshHeads, setHeadReady } from "./chat-queue.js";
import type { PgDatabase, Tx } from "./database.js";
import { keepUnstorable, PgDeadLetters, prepareUnstorable } from "./dead-letters.js";
import { applyEffects, lockEffectChats, validateEffects } from "./effects.js";
import { claimHeads, type ClaimRequest } from "./inbox-claim.js";
import { countDone, countOpen, PgJournal, pruneClosed, pruneDone } from "./journal.js";
import { JOURNAL_PRUNE_CHUNK } from "../journal-history.js";
import { assertFenceAndLockChats } from "./lease.js";

/** Upper bound of one claim, so a typo cannot lock the whole inbox into one transaction. */
const MAX_CLAIM = 10_000;

/** Prepared facts of an update, computed before the transaction to keep it short. */
interface PreparedUpdate {
  readonly updateId: number;
  readonly chatKey: string;
  readonly updateType: string;
  readonly messageDate: number | null;
  readonly raw: string;
}

function validateFusedClaim(claim: FusedClaimOptions): ClaimRequest {
  return {
    owner: requireText("claim.owner", claim.owner),
    limit: requireInt("claim.limit", claim.limit, 0, MAX_CLAIM),
    leaseMs: requireInt("claim.leaseMs", claim.leaseMs, 1),
  };
}

function validateRequests(requests: readonly SettleRequest[]): void {
  for (const request of requests) {
    validateClaim(request.claim);
    validateOutcome(request.outcome);
    validateEffects(request.effects ?? []);
  }
}

/** {@link InboxStore} on PostgreSQL. */
export class PgInbox implements InboxStore {
  /** {@inheritDoc InboxStore.deadLetters} */
  readonly deadLetters: PgDeadLetters;
  /** {@inheritDoc InboxStore.journal} */
  readonly journal: PgJournal;
  private readonly db: PgDatabase;

  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(db: PgDatabase) {
    this.db = db;
    this.deadLetters = new PgDeadLetters(db);
    this.journal = new PgJournal(db);
  }

  /** {@inheritDoc InboxStore.ingest} */
  async ingest(updates: readonly RawUpdate[], options: IngestOptions = {}): Promise<IngestResult> {
    const prepared: PreparedUpdate[] = updates.map((update) => {
      const updateId = requireUpdateId(update);
      return { updateId, ...deriveUpdateMeta(update), raw: JSON.stringify(update) };
    });
    const nextOffset =
      options.nextOffset === undefined ? undefined : requireInt("nextOffset", options.nextOffset, Number.MIN_SAFE_INTEGER);
    const now = requireTime("now", options.now ?? this.db.clock());
    const claim = options.claim === undefined ? undefined : validateFusedClaim(options.claim);
    const unstorable = prepareUnstorable(this.db, options.unstorable);
    return this.db.write("ingest", async (tx) => {
      // The fence and the chats' locks first (one statement when both are needed).
      const chatKeys = prepared.map((u) => u.chatKey);
      if (options.fence !== undefined) await assertFenceAndLockChats(tx, options.fence, "ingest", chatKeys);
      else await lockChats(tx, chatKeys);
      // With the offset (in the same transaction): it moves past them only if they are kept.
      const inserted = await this.store(tx, prepared, now, nextOffset);
      const kept = options.unstorable === undefined ? undefined : await keepUnstorable(tx, unstorable, now);
      const counts = { inserted, duplicates: prepared.length - inserted, ...(kept === undefined ? {} : { unstorable: kept }) };
      // The claim sees this batch: the same result as `claim` right after, with the same `now`.
      return claim === undefined ? counts : { ...counts, claimed: await claimHeads(tx, claim, now) };
    });
  }

  /**
   * Inside the ingest, once the chats' locks are held: inserts the updates pending (duplicates
   * of stored ids are skipped, in-batch ones too), makes each chat's lowest new update its head
   * where it comes first (as `enqueuePending`), and moves the poll offset to `nextOffset` when
   * given, in one statement (the ingest is the poller's critical path: each round trip delays
   * the next getUpdates). Returns how many were new.
   */
  private async store(tx: Tx, prepared: readonly PreparedUpdate[], now: number, nextOffset: number | undefined): Promise<number> {
    if (prepared.length === 0) {
      if (nextOffset !== undefined) await tx.run("UPDATE runtime SET poll_offset = $1 WHERE id = 1", [nextOffset]);
      return 0;
    }
    // ON CONFLICT also drops an id repeated within the batch. How they arrived: a poll batch
    // stores its offset with them; a webhook delivery has none. The head's state is read from the
    // statement's snapshot, taken after the chats' locks: no other writer changed it since.
    const row = await tx.one<{ inserted: number }>(
      `WITH ins AS (
         INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at, via, via_offset)
         SELECT u.update_id, u.chat_key, u.update_type, u.message_date, $6, u.raw, 'pending', $6, $7, $8::bigint
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::text[])
              AS u (update_id, chat_key, update_type, message_date, raw)
         ORDER BY u.update_id
         ON CONFLICT (update_id) DO NOTHING
         RETURNING update_id, chat_key
       ), heads AS (
         INSERT INTO chat_queue AS q (chat_key, head_id, ready_at)
         SELECT chat_key, min(update_id), $6 FROM ins GROUP BY chat_key
         ON CONFLICT (chat_key) DO UPDATE SET head_id = excluded.head_id, ready_at = excluded.ready_at
         WHERE excluded.head_id < q.head_id
           AND NOT EXISTS (SELECT 1 FROM inbox WHERE update_id = q.head_id AND state = 'inflight')
       ), moved AS (
         UPDATE runtime SET poll_offset = $8::bigint WHERE id = 1 AND $8::bigint IS NOT NULL
       )
       SELECT count(*)::int AS inserted FROM ins`,
      [
        prepared.map((u) => u.updateId),
        prepared.map((u) => u.chatKey),
        prepared.map((u) => u.updateType),
        prepared.map((u) => u.messageDate),
        prepared.map((u) => u.raw),
        now,
        nextOffset === undefined ? "webhook" : "poll",
        nextOffset ?? null,
      ],
    );
    return row?.inserted ?? 0;
  }

  /** {@inheritDoc InboxStore.claim} */
  async claim(options: ClaimOptions): Promise<ClaimedUpdate[]> {
    const owner = requireText("owner", options.owner);
    const limit = requireInt("limit", options.limit, 1, MAX_CLAIM);
    const leaseMs = requireInt("leaseMs", options.leaseMs, 1);
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.write("claim", (tx) => claimHeads(tx, { owner, limit, leaseMs }, now));
  }

  /** {@inheritDoc InboxStore.settle} */
  async settle(
    claim: Claim,
    outcome: SettleOutcome,
    options: { readonly effects?: readonly StoreEffect[]; readonly now?: EpochMs } = {},
  ): Promise<SettleResult> {
    const request: SettleRequest = options.effects === undefined ? { claim, outcome } : { claim, outcome, effects: options.effects };
    const [result] = await this.settleMany([request], options.now === undefined ? {} : { now: options.now });
    return result ?? "stale";
  }

  /** {@inheritDoc InboxStore.settleMany} */
  async settleMany(requests: readonly SettleRequest[], options: { readonly now?: EpochMs } = {}): Promise<SettleResult[]> {
    validateRequests(requests);
    if (requests.length === 0) return [];
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.write("settle", (tx) => this.settleAll(tx, requests, now));
  }

  /** {@inheritDoc InboxStore.settleAndClaim} */
  async settleAndClaim(requests: readonly SettleRequest[], options: SettleAndClaimOptions): Promise<SettleAndClaimResult> {
    validateRequests(requests);
    const claim = validateFusedClaim(options.claim);
    const now = requireTime("now", options.now ?? this.db.clock());
    if (requests.length === 0 && claim.limit === 0) return { results: [], claimed: [] };
    return this.db.write("settle", async (tx) => {
      const results = await this.settleAll(tx, requests, now);
      return { results, claimed: await claimHeads(tx, claim, now) };
    });
  }

  /**
   * Locks the requests' chats (found by their update ids), then settles each in order: its row
   * (the `done` ones of a batch in one statement), then its effects, in request order; the chat
   * heads last, once per chat (the effects never touch them, so this is the state the
   * request-by-request upkeep of SQLite ends in).
   */
  private async settleAll(tx: Tx, requests: readonly SettleRequest[], now: number): Promise<SettleResult[]> {
    await lockChatsOfUpdates(tx, requests.map((r) => r.claim.updateId));
    await lockEffectChats(tx, requests.flatMap((r) => r.effects ?? []));
    const settled = new Map<number, string>(); // request index -> chat key
    // One statement for the requests that complete their update, unless an update appears
    // twice (then each request, in order, sees what the previous one did).
    const ids = requests.map((r) => r.claim.updateId);
    const batchDone = new Set(ids).size === ids.length;
    if (batchDone) {
      const done = requests.map((r, i) => ({ r, i })).filter(({ r }) => r.outcome.kind === "done");
      if (done.length > 0) {
        const rows = await tx.rows<{ update_id: number; chat_key: string }>(
          `UPDATE inbox SET state = 'done', settled_at = $4, lease_until = NULL
           FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS r (update_id, owner, token)
           WHERE inbox.update_id = r.update_id AND inbox.state = 'inflight' AND inbox.lease_owner = r.owner AND inbox.lease_token = r.token
           RETURNING inbox.update_id, inbox.chat_key`,
          [done.map(({ r }) => r.claim.updateId), done.map(({ r }) => r.claim.owner), done.map(({ r }) => r.claim.token), now],
        );
        const byId = new Map(rows.map((row) => [row.update_id, row.chat_key]));
        for (const { r, i } of done) {
          const chatKey = byId.get(r.claim.updateId);
          if (chatKey !== undefined) settled.set(i, chatKey);
        }
      }
    }
    const results: SettleResult[] = [];
    for (const [i, request] of requests.entries()) {
      if (!(batchDone && request.outcome.kind === "done")) {
        const chatKey = await this.settleRow(tx, request, now);
        if (chatKey !== undefined) settled.set(i, chatKey);
      }
      const chatKey = settled.get(i);
      if (chatKey === undefined) {
        results.push("stale");
        continue;
      }
      await applyEffects(this.db, tx, request.effects ?? [], now);
      results.push("settled");
    }
    await refreshHeads(tx, [...settled.values()]);
    return results;
  }

  /** Changes the row of one settle; its chat key, or undefined when the claim is stale. */
  private async settleRow(tx: Tx, request: SettleRequest, now: number): Promise<string | undefined> {
    const { claim, outcome } = request;
    // Every variant matches only the current claim: in flight, same owner, same token. The
    // key's parameters are $1..$3 in every statement.
    const current = "WHERE update_id = $1 AND state = 'inflight' AND lease_owner = $2 AND lease_token = $3 RETURNING chat_key";
    const key = [claim.updateId, claim.owner, claim.token];
    let row: { chat_key: string } | undefined;
    switch (outcome.kind) {
      case "done":
        row = await tx.one(`UPDATE inbox SET state = 'done', settled_at = $4, lease_until = NULL ${current}`, [...key, now]);
        break;
      case "retry":
      case "dead": {
        const error = this.db.freeText(outcome.error, MAX_ERROR_LENGTH);
        const failed =
          outcome.kind === "retry"
            ? await tx.one<{ chat_key: string; claimed_at: number | null; attempts: number }>(
                `UPDATE inbox SET state = 'pending', due_at = $4, last_error = $5, lease_until = NULL, isolation = NULL ${current}, claimed_at, attempts`,
                [...key, Math.floor(outcome.at), error],
              )
            : await tx.one<{ chat_key: string; claimed_at: number | null; attempts: number }>(
                `UPDATE inbox SET state = 'dead', settled_at = $4, last_error = $5, last_stack = $6, lease_until = NULL ${current}, claimed_at, attempts`,
                [...key, now, error, outcome.stack == null ? null : this.db.freeText(outcome.stack, MAX_STACK_LENGTH)],
              );
        // A failed try is also written to the history (rare: the hot path, done, writes nothing more).
        if (failed !== undefined) {
          await recordAttempt(tx, { updateId: claim.updateId, attempt: failed.attempts, owner: claim.owner, startedAt: failed.claimed_at, endedAt: now, outcome: outcome.kind, error });
        }
        row = failed;
        break;
      }
      case "release":
        // Due time unchanged: a released item keeps its place, as if it had never been claimed.
        row = await tx.one(`UPDATE inbox SET state = 'pending', attempts = greatest(attempts - 1, 0), lease_until = NULL, isolation = NULL ${current}`, key);
        break;
    }
    return row?.chat_key;
  }

  /** {@inheritDoc InboxStore.extendLease} */
  async extendLease(claim: Claim, leaseMs: number, options: { readonly now?: EpochMs } = {}): Promise<Claim | null> {
    validateClaim(claim);
    requireInt("leaseMs", leaseMs, 1);
    const now = requireTime("now", options.now ?? this.db.clock());
    const leaseUntil = now + leaseMs;
    return this.db.write("extend lease", async (tx) => {
      // The chat's lock first, as every writer of a chat's head takes it: a claim recovering this
      // item holds the head's row and would otherwise wait for this row while this waits for it.
      await lockChatsOfUpdates(tx, [claim.updateId]);
      const row = await tx.one<{ chat_key: string }>(
        `UPDATE inbox SET lease_until = $1
         WHERE update_id = $2 AND state = 'inflight' AND lease_owner = $3 AND lease_token = $4 RETURNING chat_key`,
        [leaseUntil, claim.updateId, claim.owner, claim.token],
      );
      if (row === undefined) return null;
      await setHeadReady(tx, row.chat_key, claim.updateId, leaseUntil);
      return { ...claim, leaseUntil };
    });
  }

  /** {@inheritDoc InboxStore.isolate} */
  async isolate(claims: readonly Claim[]): Promise<boolean[]> {
    if (!Array.isArray(claims)) throw new UnlostError("INVALID_ARGUMENT", "claims must be an array of claims.");
    for (const claim of claims) validateClaim(claim);
    if (claims.length === 0) return [];
    return this.db.write("isolate claims", async (tx) => {
      const marked: boolean[] = [];
      for (const c of claims) {
        const changed = await tx.run(
          "UPDATE inbox SET isolation = $1 WHERE update_id = $2 AND state = 'inflight' AND lease_owner = $3 AND lease_token = $4",
          [claims.length, c.updateId, c.owner, c.token],
        );
        marked.push(changed === 1);
      }
      return marked;
    });
  }

  /** {@inheritDoc InboxStore.expireClaims} */
  async expireClaims(options: { readonly owner?: string; readonly now?: EpochMs } = {}): Promise<number> {
    const owner = options.owner === undefined ? null : requireText("owner", options.owner);
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.write("expire claims", async (tx) => {
      // The chats' locks first (see extendLease); then the claims of those chats only.
      const chats = await tx.rows<{ chat_key: string }>(
        "SELECT DISTINCT chat_key FROM inbox WHERE state = 'inflight' AND lease_until > $1 AND ($2::text IS NULL OR lease_owner = $2)",
        [now, owner],
      );
      await lockChats(tx, chats.map((c) => c.chat_key));
      const rows = await tx.rows<{ update_id: number; chat_key: string }>(
        `UPDATE inbox SET lease_until = $1
         WHERE state = 'inflight' AND lease_until > $1 AND ($2::text IS NULL OR lease_owner = $2) AND chat_key = ANY($3::text[])
         RETURNING update_id, chat_key`,
        [now, owner, chats.map((c) => c.chat_key)],
      );
      for (const row of rows) await setHeadReady(tx, row.chat_key, row.update_id, now);
      return rows.length;
    });
  }

  /** {@inheritDoc InboxStore.inflightOwners} */
  async inflightOwners(): Promise<string[]> {
    const rows = await this.db.read("list in-flight owners", (tx) =>
      tx.rows<{ owner: string }>("SELECT DISTINCT lease_owner AS owner FROM inbox WHERE state = 'inflight' AND lease_owner IS NOT NULL"),
    );
    return rows.map((r) => r.owner);
  }

  /** {@inheritDoc InboxStore.running} */
  async running(options: RunningOptions): Promise<RunningUpdate[]> {
    const before = requireTime("claimedBefore", options?.claimedBefore);
    const limit = requireInt("limit", options.limit ?? 100, 1, 1_000);
    const rows = await this.db.read("list running updates", (tx) =>
      tx.rows<{ update_id: number; chat_key: string; update_type: string; received_at: number; claimed_at: number; lease_owner: string; attempts: number; lease_until: number }>(
        `SELECT update_id, chat_key, update_type, received_at, claimed_at, lease_owner, attempts, lease_until
         FROM inbox WHERE state = 'inflight' AND claimed_at <= $1 ORDER BY claimed_at, update_id LIMIT $2`,
        [before, limit],
      ),
    );
    return rows.map((r) => ({
      updateId: r.update_id,
      chatKey: r.chat_key,
      updateType: r.update_type,
      receivedAt: r.received_at,
      claimedAt: r.claimed_at,
      owner: r.lease_owner,
      attempt: r.attempts,
      leaseUntil: r.lease_until,
    }));
  }

  /** {@inheritDoc InboxStore.get} */
  async get(updateId: number): Promise<InboxRecord | null> {
    requireInt("updateId", updateId, 0);
    const row = await this.db.read("get update", (tx) => tx.one<InboxRow>(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE update_id = $1`, [updateId]));
    return row === undefined ? null : toInboxRecord(row);
  }

  /**
   * {@inheritDoc InboxStore.stats}
   *
   * Journal entries count too: open ones as `pending` (and in `oldestOpenReceivedAt`),
   * completed ones as `done` until their minute is pruned. `chatsWithWork` counts only chats
   * with unfinished rows: the journal does not index its updates by chat.
   */
  async stats(options: { readonly now?: EpochMs } = {}): Promise<InboxStats> {
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.read("stats", async (tx) => {
      const counts = { pending: 0, inflight: 0, done: 0, dead: 0 };
      const rows = await tx.rows<{ state: keyof typeof counts; n: number }>("SELECT state, count(*)::int AS n FROM inbox GROUP BY state");
      for (const row of rows) counts[row.state] = row.n;
      const journal = await countOpen(tx);
      counts.pending += journal.open;
      counts.done += await countDone(tx);
      // The oldest unfinished update of each chat is its head, so only heads need looking at.
      const open = await tx.one<{ chats: number; oldest: number | null }>(
        "SELECT count(*)::int AS chats, min(i.received_at) AS oldest FROM chat_queue q JOIN inbox i ON i.update_id = q.head_id",
      );
      const rowsOldest = open?.oldest ?? null;
      const oldest =
        rowsOldest === null || journal.oldestOpenReceivedAt === null
          ? (rowsOldest ?? journal.oldestOpenReceivedAt)
          : Math.min(rowsOldest, journal.oldestOpenReceivedAt);
      return {
        ...counts,
        chatsWithWork: open?.chats ?? 0,
        oldestOpenReceivedAt: oldest,
        oldestOpenAgeMs: oldest === null ? 0 : Math.max(0, now - oldest),
      };
    });
  }

  /**
   * {@inheritDoc InboxStore.prune}
   *
   * Also forgets the journal's done counts of the minutes that ended by `handledBefore` (not
   * bound by `limit`: one row per minute), and counts them in the result; then deletes the
   * journal's batches closed before `handledBefore` (their updates are counted by the done
   * counts already), {@link JOURNAL_PRUNE_CHUNK} batches per transaction, at most `limit`
   * batches per call.
   */
  async prune(options: PruneOptions): Promise<number> {
    const before = requireTime("handledBefore", options.handledBefore);
    const limit = requireInt("limit", options.limit ?? 10_000, 1);
    const pruned = await this.db.write("prune", async (tx) => {
      const rows = await tx.run(
        "DELETE FROM inbox WHERE update_id IN (SELECT update_id FROM inbox WHERE state = 'done' AND settled_at < $1 LIMIT $2)",
        [before, limit],
      );
      if (rows > 0) await forgetOrphanAttempts(tx);
      return rows + (await pruneDone(tx, before));
    });
    for (let batches = 0; batches < limit; ) {
      const chunk = Math.min(JOURNAL_PRUNE_CHUNK, limit - batches);
      const n = await this.db.write("prune closed journal batches", (tx) => pruneClosed(tx, before, chunk));
      batches += n;
      if (n < chunk) break;
    }
    return pruned;
  }
}
