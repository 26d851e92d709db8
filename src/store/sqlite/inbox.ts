/**
 * The SQLite inbox: ingest, claim, settle, lease extension, inspection and pruning; its
 * journal (the batch-per-record fast path of long polling) is in journal.ts.
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
import { deriveUpdateMeta, requireUpdateId, type RawUpdate } from "../update-meta.js";
import {
  MAX_ERROR_LENGTH,
  MAX_STACK_LENGTH,
  requireInt,
  requireText,
  requireTime,
  validateClaim,
  validateOutcome,
} from "../validate.js";
import { enqueuePending, refreshHead, setHeadReady } from "./chat-queue.js";
import { ACKNOWLEDGED_SOON, type SqliteDatabase } from "./database.js";
import { keepUnstorable, prepareUnstorable, SqliteDeadLetters } from "./dead-letters.js";
import { applyEffects, validateEffects } from "./effects.js";
import { SqliteJournal } from "./journal.js";
import { JOURNAL_PRUNE_CHUNK } from "../journal-history.js";
import { assertFence } from "./lease.js";
import { INBOX_COLUMNS, parseRaw, toInboxRecord, type InboxRow } from "./rows.js";
import { forgetOrphanAttempts, recordAttempt, recordLostTry } from "./attempts.js";

/** Upper bound of one claim, so a typo cannot lock the whole inbox into one transaction. */
const MAX_CLAIM = 10_000;

/**
 * How many updates stored by this connection and not yet claimed are kept parsed in memory, so
 * that claiming them does not read and parse `raw` again. `raw` never changes once stored, so
 * an entry is never wrong; entries claimed elsewhere (another process) just age out.
 */
const PARSED_CACHE_MAX = 10_000;

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
  attempts: number;
  recoveries: number;
  /** Returned by recoveries only. */
  recovered_isolation?: number | null;
  isolated_deaths: number;
  lease_token: number;
  last_error: string | null;
}

/** Prepared facts of an update, computed before the transaction to keep it short. */
interface PreparedUpdate {
  readonly updateId: number;
  readonly chatKey: string;
  readonly updateType: string;
  readonly messageDate: number | null;
  readonly raw: string;
  readonly update: RawUpdate;
}

/** An update's stored JSON and its parsed form. */
interface Parsed {
  readonly raw: string;
  readonly update: RawUpdate;
}

/** A validated fused claim. */
interface ClaimRequest {
  readonly owner: string;
  readonly limit: number;
  readonly leaseMs: number;
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

/** {@link InboxStore} on SQLite. */
export class SqliteInbox implements InboxStore {
  /** {@inheritDoc InboxStore.deadLetters} */
  readonly deadLetters: SqliteDeadLetters;
  /** {@inheritDoc InboxStore.journal} */
  readonly journal: SqliteJournal;
  private readonly db: SqliteDatabase;

  /** Updates stored pending by this connection, parsed (see PARSED_CACHE_MAX). */
  private readonly parsed = new Map<number, Parsed>();

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase) {
    this.db = db;
    this.deadLetters = new SqliteDeadLetters(db);
    this.journal = new SqliteJournal(db);
  }

  /** {@inheritDoc InboxStore.ingest} */
  async ingest(updates: readonly RawUpdate[], options: IngestOptions = {}): Promise<IngestResult> {
    const prepared: PreparedUpdate[] = updates.map((update) => {
      const updateId = requireUpdateId(update);
      return { updateId, ...deriveUpdateMeta(update), raw: JSON.stringify(update), update };
    });
    // In update_id order: a chat's first new update is the one that can become its head.
    for (let i = 1; i < prepared.length; i++) {
      if (prepared[i]!.updateId < prepared[i - 1]!.updateId) {
        prepared.sort((a, b) => a.updateId - b.updateId);
        break;
      }
    }
    const nextOffset =
      options.nextOffset === undefined ? undefined : requireInt("nextOffset", options.nextOffset, Number.MIN_SAFE_INTEGER);
    const now = requireTime("now", options.now ?? this.db.clock());
    const claim = options.claim === undefined ? undefined : validateFusedClaim(options.claim);
    const unstorable = options.unstorable === undefined ? undefined : prepareUnstorable(this.db, options.unstorable);
    const db = this.db;
    return db.write("ingest", () => {
      if (options.fence !== undefined) assertFence(db, options.fence, "ingest");
      const stored = this.store(prepared, now, claim, nextOffset);
      // With the offset: it moves past them only if they are kept.
      const kept = unstorable === undefined ? undefined : keepUnstorable(db, unstorable, now);
      if (nextOffset !== undefined) db.statement("UPDATE runtime SET poll_offset = ? WHERE id = 1").run(nextOffset);
      const counts = { inserted: stored.inserted, duplicates: prepared.length - stored.inserted, ...(kept === undefined ? {} : { unstorable: kept }) };
      return claim === undefined ? counts : { ...counts, claimed: stored.claimed };
    }, ACKNOWLEDGED_SOON);
  }

  /**
   * Inserts the updates (sorted by update_id) and maintains the chat queue; with `claim`, also
   * claims what `claim` would right after, inserting this batch's claimed updates directly in
   * flight. Inside the write transaction.
   */
  private store(prepared: readonly PreparedUpdate[], now: number, claim: ClaimRequest | undefined, nextOffset: number | undefined): { inserted: number; claimed: ClaimedUpdate[] } {
    const db = this.db;
    if (prepared.length === 0) return { inserted: 0, claimed: claim === undefined ? [] : this.claimHeads(claim, now) };
    // How they arrived: a poll batch stores its offset with them; a webhook delivery has none.
    const via = nextOffset === undefined ? "webhook" : "poll";
    const viaOffset = nextOffset ?? null;
    // The current heads of the batch's chats (a chat has a row iff it has open work).
    const chats = [...new Set(prepared.map((u) => u.chatKey))];
    const heads = new Map<string, number>();
    for (const row of db
      .statement("SELECT chat_key, head_id FROM chat_queue WHERE chat_key IN (SELECT value FROM json_each(?))")
      .all(JSON.stringify(chats)) as { chat_key: string; head_id: number }[]) {
      heads.set(row.chat_key, row.head_id);
    }
    // An update older than its chat's head (a late webhook delivery) may displace the head:
    // rare, so such a batch takes the general path.
    if (prepared.some((u) => (heads.get(u.chatKey) ?? Infinity) < Infinity && u.updateId < heads.get(u.chatKey)!)) {
      return this.storeGeneral(prepared, now, claim, via, viaOffset);
    }
    const limit = claim?.limit ?? 0;
    const leaseUntil = claim === undefined ? 0 : now + claim.leaseMs;
    // Ready heads already stored, oldest first: what `claim` would choose among, with the new
    // chats' heads (due now). The claimed ones are the `limit` oldest of both.
    const existing = limit > 0 ? this.readyHeads(now, limit) : [];
    let existingBelow = 0; // existing ready heads older than the update being stored
    let newHeads = 0; // new chat heads stored so far (all older than the current update)
    const newHeadIds: number[] = [];
    const claimed: ClaimedUpdate[] = [];
    const insert = db.statement(
      `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at,
                          attempts, lease_owner, lease_until, lease_token, claimed_at, via, via_offset)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (update_id) DO NOTHING`,
    );
    const newHead = db.statement("INSERT INTO chat_queue (chat_key, head_id, ready_at) VALUES (?, ?, ?)");
    let inserted = 0;
    for (const u of prepared) {
      const isHead = !heads.has(u.chatKey);
      let take = false;
      if (isHead && limit > 0) {
        while (existingBelow < existing.length && existing[existingBelow]!.head_id < u.updateId) existingBelow++;
        take = existingBelow + newHeads < limit;
      }
      const { changes } = take
        ? insert.run(u.updateId, u.chatKey, u.updateType, u.messageDate, now, u.raw, "inflight", now, 1, claim!.owner, leaseUntil, 1, now, via, viaOffset)
        : insert.run(u.updateId, u.chatKey, u.updateType, u.messageDate, now, u.raw, "pending", now, 0, null, null, 0, null, via, viaOffset);
      if (changes === 0) continue; // already stored
      inserted += 1;
      if (!isHead) {
        this.remember(u);
        continue;
      }
      heads.set(u.chatKey, u.updateId);
      newHeads += 1;
      newHeadIds.push(u.updateId);
      newHead.run(u.chatKey, u.updateId, take ? leaseUntil : now);
      if (!take) {
        this.remember(u);
        continue;
      }
      claimed.push({
        updateId: u.updateId,
        chatKey: u.chatKey,
        updateType: u.updateType,
        messageDate: u.messageDate,
        receivedAt: now,
        raw: u.raw,
        update: u.update,
        claim: { updateId: u.updateId, owner: claim!.owner, token: 1, leaseUntil },
        attempt: 1,
        recoveries: 0,
        recovered: false,
        recoveredIsolation: null,
        isolatedDeaths: 0,
        lastError: null,
      });
    }
    if (limit > 0 && existing.length > 0) {
      // The existing heads that rank among the `limit` oldest ready heads.
      let j = 0;
      const take: HeadRow[] = [];
      for (let i = 0; i < existing.length; i++) {
        const head = existing[i]!;
        while (j < newHeadIds.length && newHeadIds[j]! < head.head_id) j++;
        if (i + j < limit) take.push(head);
      }
      if (take.length > 0) {
        claimed.push(...this.takeHeads(take, claim!, now));
        claimed.sort((a, b) => a.updateId - b.updateId);
      }
    }
    return { inserted, claimed };
  }

  /** Inserts pending one by one with the full head maintenance, then claims. */
  private storeGeneral(prepared: readonly PreparedUpdate[], now: number, claim: ClaimRequest | undefined, via: string, viaOffset: number | null): { inserted: number; claimed: ClaimedUpdate[] } {
    const db = this.db;
    const insert = db.statement(
      `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at, via, via_offset)
       VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?) ON CONFLICT (update_id) DO NOTHING`,
    );
    let inserted = 0;
    for (const u of prepared) {
      const { changes } = insert.run(u.updateId, u.chatKey, u.updateType, u.messageDate, now, u.raw, now, via, viaOffset);
      if (changes === 0) continue;
      inserted += 1;
      this.remember(u);
      enqueuePending(db, u.chatKey, u.updateId, now);
    }
    return { inserted, claimed: claim === undefined ? [] : this.claimHeads(claim, now) };
  }

  /** Keeps a stored pending update parsed, for its claim. */
  private remember(u: PreparedUpdate): void {
    if (this.parsed.size >= PARSED_CACHE_MAX) {
      const oldest = this.parsed.keys().next();
      if (oldest.done !== true) this.parsed.delete(oldest.value);
    }
    this.parsed.set(u.updateId, { raw: u.raw, update: u.update });
  }

  /** {@inheritDoc InboxStore.claim} */
  async claim(options: ClaimOptions): Promise<ClaimedUpdate[]> {
    const owner = requireText("owner", options.owner);
    const limit = requireInt("limit", options.limit, 1, MAX_CLAIM);
    const leaseMs = requireInt("leaseMs", options.leaseMs, 1);
    const now = requireTime("now", options.now ?? this.db.clock());
    return this.db.write("claim", () => this.claimHeads({ owner, limit, leaseMs }, now));
  }

  /** Up to `limit` ready heads in head_id order (walks chat_queue_order, skipping chats not ready). */
  private readyHeads(now: number, limit: number): HeadRow[] {
    return this.db
      .statement(
        `SELECT q.chat_key, q.head_id, i.state FROM chat_queue q JOIN inbox i ON i.update_id = q.head_id
         WHERE q.ready_at <= ? ORDER BY q.head_id LIMIT ?`,
      )
      .all(now, limit) as HeadRow[];
  }

  /** What `claim` does, inside the current write transaction. */
  private claimHeads(claim: ClaimRequest, now: number): ClaimedUpdate[] {
    if (claim.limit === 0) return [];
    return this.takeHeads(this.readyHeads(now, claim.limit), claim, now);
  }

  /** Claims the given ready heads (in order), inside the current write transaction. */
  private takeHeads(heads: readonly HeadRow[], claim: ClaimRequest, now: number): ClaimedUpdate[] {
    const db = this.db;
    const { owner } = claim;
    const leaseUntil = now + claim.leaseMs;
    // Two statements: a head still in flight is a recovery (its lease ran out), and only a
    // recovery needs the isolation bookkeeping; the common claim (a pending head) stays as cheap
    // as before. In a recovery the right-hand sides see the row before the update: how the lost
    // claim ran (its isolation) is handed to this claim, and a lost claim that ran alone counts
    // as evidence against the update. A new claim starts out not isolated (a pending row never
    // carries an isolation: settles back to pending clear it); marking it costs a write only for
    // the few runs that need it.
    const returning = `RETURNING update_id, chat_key, update_type, message_date, received_at, attempts, recoveries,
                 isolated_deaths, lease_token, last_error`;
    const takePending = db.statement(
      `UPDATE inbox SET
         state = 'inflight', lease_owner = ?, lease_until = ?, lease_token = lease_token + 1,
         attempts = attempts + 1, claimed_at = ?
       WHERE update_id = ? AND state = 'pending'
       ${returning}`,
    );
    const takeRecovered = db.statement(
      `UPDATE inbox SET
         recoveries = recoveries + 1,
         isolated_deaths = isolated_deaths + (isolation IS 1),
         recovered_isolation = coalesce(isolation, 0),
         isolation = NULL,
         lease_owner = ?, lease_until = ?, lease_token = lease_token + 1,
         attempts = attempts + 1, claimed_at = ?
       WHERE update_id = ? AND state = 'inflight'
       ${returning}, recovered_isolation`,
    );
    const claimed: ClaimedUpdate[] = [];
    for (const head of heads) {
      if (head.state === "inflight") recordLostTry(db, head.head_id, now);
      const take = head.state === "inflight" ? takeRecovered : takePending;
      const row = take.get(owner, leaseUntil, now, head.head_id) as ClaimedRow | undefined;
      if (row === undefined) {
        // The queue pointed at a finished item: repair it rather than stall the chat.
        refreshHead(db, head.chat_key);
        continue;
      }
      setHeadReady(db, head.chat_key, head.head_id, leaseUntil);
      let parsed = this.parsed.get(row.update_id);
      if (parsed === undefined) {
        const { raw } = db.statement("SELECT raw FROM inbox WHERE update_id = ?").get(row.update_id) as { raw: string };
        parsed = { raw, update: parseRaw(raw, row.update_id) };
      } else {
        this.parsed.delete(row.update_id);
      }
      claimed.push({
        updateId: row.update_id,
        chatKey: row.chat_key,
        updateType: row.update_type,
        messageDate: row.message_date,
        receivedAt: row.received_at,
        raw: parsed.raw,
        update: parsed.update,
        claim: { updateId: row.update_id, owner, token: row.lease_token, leaseUntil },
        attempt: row.attempts,
        recoveries: row.recoveries,
        recovered: head.state === "inflight",
        // Only a recovery returns it (the column keeps the last recovery's value).
        recoveredIsolation: row.recovered_isolation ?? null,
        isolatedDeaths: row.isolated_deaths,
        lastError: row.last_error,
      });
    }
    return claimed;
  }

  /** {@inheritDoc InboxStore.settle} */
  async settle(
    claim: Claim,
    outcome: SettleOutcome,
    options: { readonly effects?: readonly StoreEffect[]; readonly now?: EpochMs } = {},
  ): Promise<SettleResult> {
    const request: SettleRequest =
      options.effects === undefined ? { claim, outcome } : { claim, outcome, effects: options.effects };
    const [result] = await this.settleMany([request], options.now === undefined ? {} : { now: options.now });
    return result ?? "stale";
  }

  /** {@inheritDoc InboxStore.settleMany} */
  async settleMany(requests: readonly SettleRequest[], options: { readonly now?: EpochMs } = {}): Promise<SettleResult[]> {
    validateRequests(requests);
    if (requests.length === 0) return [];
    const now = requireTime("now", options.now ?? this.db.clock());
    const db = this.db;
    return db.write("settle", () => requests.map((request) => this.settleOne(request, now)));
  }

  /** {@inheritDoc InboxStore.settleAndClaim} */
  async settleAndClaim(requests: readonly SettleRequest[], options: SettleAndClaimOptions): Promise<SettleAndClaimResult> {
    validateRequests(requests);
    const claim = validateFusedClaim(options.claim);
    const now = requireTime("now", options.now ?? this.db.clock());
    if (requests.length === 0 && claim.limit === 0) return { results: [], claimed: [] };
    return this.db.write("settle", () => {
      const results = requests.map((request) => this.settleOne(request, now));
      return { results, claimed: this.claimHeads(claim, now) };
    });
  }

  private settleOne(request: SettleRequest, now: number): SettleResult {
    const { claim, outcome } = request;
    const db = this.db;
    // Every variant matches only the current claim: in flight, same owner, same token.
    const current = "WHERE update_id = ? AND state = 'inflight' AND lease_owner = ? AND lease_token = ? RETURNING chat_key";
    const key = [claim.updateId, claim.owner, claim.token] as const;
    let row: { chat_key: string } | undefined;
    switch (outcome.kind) {
      case "done":
        row = db.statement(`UPDATE inbox SET state = 'done', settled_at = ?, lease_until = NULL ${current}`).get(now, ...key) as
          | { chat_key: string }
          | undefined;
        break;
      case "retry":
      case "dead": {
        // A failed try is also written to the history (rare: the hot path, done, writes nothing more).
        const failed = (
          outcome.kind === "retry"
            ? db
                .statement(`UPDATE inbox SET state = 'pending', due_at = ?, last_error = ?, lease_until = NULL, isolation = NULL ${current}, claimed_at, attempts`)
                .get(Math.floor(outcome.at), db.freeText(outcome.error, MAX_ERROR_LENGTH), ...key)
            : db
                .statement(`UPDATE inbox SET state = 'dead', settled_at = ?, last_error = ?, last_stack = ?, lease_until = NULL ${current}, claimed_at, attempts`)
                .get(now, db.freeText(outcome.error, MAX_ERROR_LENGTH), outcome.stack == null ? null : db.freeText(outcome.stack, MAX_STACK_LENGTH), ...key)
        ) as { chat_key: string; claimed_at: number | null; attempts: number } | undefined;
        if (failed !== undefined) {
          recordAttempt(db, { updateId: claim.updateId, attempt: failed.attempts, owner: claim.owner, startedAt: failed.claimed_at, endedAt: now, outcome: outcome.kind, error: db.freeText(outcome.error, MAX_ERROR_LENGTH) });
        }
        row = failed;
        break;
      }
      case "release":
        // Due time unchanged: a released item keeps its place, as if it had never been claimed.
        row = db
          .statement(`UPDATE inbox SET state = 'pending', attempts = max(attempts - 1, 0), lease_until = NULL, isolation = NULL ${current}`)
          .get(...key) as { chat_key: string } | undefined;
        break;
    }
    if (row === undefined) return "stale";
    applyEffects(db, request.effects ?? [], now);
    refreshHead(db, row.chat_key);
    return "settled";
  }

  /** {@inheritDoc InboxStore.extendLease} */
  async extendLease(claim: Claim, leaseMs: number, options: { readonly now?: EpochMs } = {}): Promise<Claim | null> {
    validateClaim(claim);
    requireInt("leaseMs", leaseMs, 1);
    const now = requireTime("now", options.now ?? this.db.clock());
    const leaseUntil = now + leaseMs;
    const db = this.db;
    return db.write("extend lease", () => {
      const row = db
        .statement(
          `UPDATE inbox SET lease_until = ?
           WHERE update_id = ? AND state = 'inflight' AND lease_owner = ? AND lease_token = ? RETURNING chat_key`,
        )
        .get(leaseUntil, claim.updateId, claim.owner, claim.token) as { chat_key: string } | undefined;
      if (row === undefined) return null;
      setHeadReady(db, row.chat_key, claim.updateId, leaseUntil);
      return { ...claim, leaseUntil };
    });
  }

  /** {@inheritDoc InboxStore.isolate} */
  async isolate(claims: readonly Claim[]): Promise<boolean[]> {
    if (!Array.isArray(claims)) throw new UnlostError("INVALID_ARGUMENT", "claims must be an array of claims.");
    for (const claim of claims) validateClaim(claim);
    if (claims.length === 0) return [];
    const db = this.db;
    return db.write("isolate claims", () => {
      const mark = db.statement(
        "UPDATE inbox SET isolation = ? WHERE update_id = ? AND state = 'inflight' AND lease_owner = ? AND lease_token = ?",
      );
      return claims.map((c) => mark.run(claims.length, c.updateId, c.owner, c.token).changes === 1);
    });
  }

  /** {@inheritDoc InboxStore.expireClaims} */
  async expireClaims(options: { readonly owner?: string; readonly now?: EpochMs } = {}): Promise<number> {
    const owner = options.owner === undefined ? null : requireText("owner", options.owner);
    const now = requireTime("now", options.now ?? this.db.clock());
    const db = this.db;
    return db.write("expire claims", () => {
      const rows = db
        .statement(
          `UPDATE inbox SET lease_until = ?
           WHERE state = 'inflight' AND lease_until > ? AND (? IS NULL OR lease_owner = ?)
           RETURNING update_id, chat_key`,
        )
        .all(now, now, owner, owner) as { update_id: number; chat_key: string }[];
      for (const row of rows) setHeadReady(db, row.chat_key, row.update_id, now);
      return rows.length;
    });
  }

  /** {@inheritDoc InboxStore.inflightOwners} */
  async inflightOwners(): Promise<string[]> {
    const rows = this.db.read("list in-flight owners", () =>
      this.db.statement(`SELECT DISTINCT lease_owner AS owner FROM inbox WHERE state = 'inflight' AND lease_owner IS NOT NULL`).all(),
    ) as { owner: string }[];
    return rows.map((r) => r.owner);
  }

  /** {@inheritDoc InboxStore.running} */
  async running(options: RunningOptions): Promise<RunningUpdate[]> {
    const before = requireTime("claimedBefore", options?.claimedBefore);
    const limit = requireInt("limit", options.limit ?? 100, 1, 1_000);
    const rows = this.db.read("list running updates", () =>
      // In-flight rows are few (at most the handlers running): the state index finds them.
      this.db
        .statement(
          `SELECT update_id, chat_key, update_type, received_at, claimed_at, lease_owner, attempts, lease_until
           FROM inbox WHERE state = 'inflight' AND claimed_at <= ? ORDER BY claimed_at, update_id LIMIT ?`,
        )
        .all(before, limit),
    ) as { update_id: number; chat_key: string; update_type: string; received_at: number; claimed_at: number; lease_owner: string; attempts: number; lease_until: number }[];
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
    const row = this.db.read("get update", () =>
      this.db.statement(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE update_id = ?`).get(updateId),
    ) as InboxRow | undefined;
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
    const db = this.db;
    return db.read("stats", () => {
      const counts = { pending: 0, inflight: 0, done: 0, dead: 0 };
      const rows = db.statement("SELECT state, count(*) AS n FROM inbox GROUP BY state").all() as {
        state: keyof typeof counts;
        n: number;
      }[];
      for (const row of rows) counts[row.state] = row.n;
      const journal = this.journal.countOpen();
      counts.pending += journal.open;
      counts.done += this.journal.countDone();
      // The oldest unfinished update of each chat is its head, so only heads need looking at.
      const open = db
        .statement(
          `SELECT count(*) AS chats, min(i.received_at) AS oldest
           FROM chat_queue q JOIN inbox i ON i.update_id = q.head_id`,
        )
        .get() as { chats: number; oldest: number | null };
      const oldest =
        open.oldest === null || journal.oldestOpenReceivedAt === null
          ? (open.oldest ?? journal.oldestOpenReceivedAt)
          : Math.min(open.oldest, journal.oldestOpenReceivedAt);
      return {
        ...counts,
        chatsWithWork: open.chats,
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
   * counts already), {@link JOURNAL_PRUNE_CHUNK} batches per transaction with a turn of the
   * event loop between transactions, at most `limit` batches per call.
   */
  async prune(options: PruneOptions): Promise<number> {
    const before = requireTime("handledBefore", options.handledBefore);
    const limit = requireInt("limit", options.limit ?? 10_000, 1);
    const db = this.db;
    const pruned = db.write("prune", () => {
      const { changes } = db
        .statement(
          `DELETE FROM inbox WHERE update_id IN
             (SELECT update_id FROM inbox WHERE state = 'done' AND settled_at < ? LIMIT ?)`,
        )
        .run(before, limit);
      if (changes > 0) forgetOrphanAttempts(db);
      return changes + this.journal.pruneDone(before);
    });
    for (let batches = 0; batches < limit; ) {
      const chunk = Math.min(JOURNAL_PRUNE_CHUNK, limit - batches);
      const n = db.write("prune closed journal batches", () => this.journal.pruneClosed(before, chunk));
      batches += n;
      if (n < chunk) break;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return pruned;
  }
}
