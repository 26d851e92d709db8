/**
 * The SQLite inbox: ingest, claim, settle, lease extension, inspection and pruning.
 *
 * @module
 */
import type { StoreEffect } from "../effects.js";
import type {
  Claim,
  ClaimOptions,
  ClaimedUpdate,
  EpochMs,
  IngestOptions,
  IngestResult,
  InboxRecord,
  InboxStats,
  InboxStore,
  PruneOptions,
  SettleOutcome,
  SettleRequest,
  SettleResult,
} from "../inbox-types.js";
import { deriveUpdateMeta, requireUpdateId, type RawUpdate } from "../update-meta.js";
import {
  MAX_ERROR_LENGTH,
  MAX_STACK_LENGTH,
  clip,
  requireInt,
  requireText,
  requireTime,
  validateClaim,
  validateOutcome,
} from "../validate.js";
import { enqueuePending, refreshHead, setHeadReady } from "./chat-queue.js";
import type { SqliteDatabase } from "./database.js";
import { SqliteDeadLetters } from "./dead-letters.js";
import { applyEffects, validateEffects } from "./effects.js";
import { assertFence } from "./lease.js";
import { INBOX_COLUMNS, parseRaw, toInboxRecord, type InboxRow } from "./rows.js";

/** Upper bound of one claim, so a typo cannot lock the whole inbox into one transaction. */
const MAX_CLAIM = 10_000;

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
}

/** {@link InboxStore} on SQLite. */
export class SqliteInbox implements InboxStore {
  /** {@inheritDoc InboxStore.deadLetters} */
  readonly deadLetters: SqliteDeadLetters;
  private readonly db: SqliteDatabase;

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase) {
    this.db = db;
    this.deadLetters = new SqliteDeadLetters(db);
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
    const db = this.db;
    return db.write("ingest", () => {
      if (options.fence !== undefined) assertFence(db, options.fence, "ingest");
      const insert = db.statement(
        `INSERT INTO inbox (update_id, chat_key, update_type, message_date, received_at, raw, state, due_at)
         VALUES (?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT (update_id) DO NOTHING`,
      );
      let inserted = 0;
      for (const u of prepared) {
        const { changes } = insert.run(u.updateId, u.chatKey, u.updateType, u.messageDate, now, u.raw, now);
        if (changes === 0) continue;
        inserted += 1;
        enqueuePending(db, u.chatKey, u.updateId, now);
      }
      if (nextOffset !== undefined) db.statement("UPDATE runtime SET poll_offset = ? WHERE id = 1").run(nextOffset);
      return { inserted, duplicates: prepared.length - inserted };
    });
  }

  /** {@inheritDoc InboxStore.claim} */
  async claim(options: ClaimOptions): Promise<ClaimedUpdate[]> {
    const owner = requireText("owner", options.owner);
    const limit = requireInt("limit", options.limit, 1, MAX_CLAIM);
    const leaseMs = requireInt("leaseMs", options.leaseMs, 1);
    const now = requireTime("now", options.now ?? this.db.clock());
    const leaseUntil = now + leaseMs;
    const db = this.db;
    return db.write("claim", () => {
      // Walks chat heads in update_id order via chat_queue_order, skipping chats not ready.
      const heads = db
        .statement(
          `SELECT q.chat_key, q.head_id, i.state FROM chat_queue q JOIN inbox i ON i.update_id = q.head_id
           WHERE q.ready_at <= ? ORDER BY q.head_id LIMIT ?`,
        )
        .all(now, limit) as HeadRow[];
      const take = db.statement(
        `UPDATE inbox SET
           recoveries = recoveries + (state = 'inflight'),
           state = 'inflight', lease_owner = ?, lease_until = ?, lease_token = lease_token + 1,
           attempts = attempts + 1
         WHERE update_id = ? AND state IN ('pending', 'inflight')
         RETURNING update_id, chat_key, update_type, message_date, received_at, raw, attempts, recoveries,
                   lease_token, last_error`,
      );
      const claimed: ClaimedUpdate[] = [];
      for (const head of heads) {
        const row = take.get(owner, leaseUntil, head.head_id) as ClaimedRow | undefined;
        if (row === undefined) {
          // The queue pointed at a finished item: repair it rather than stall the chat.
          refreshHead(db, head.chat_key);
          continue;
        }
        setHeadReady(db, head.chat_key, head.head_id, leaseUntil);
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
          recovered: head.state === "inflight",
          lastError: row.last_error,
        });
      }
      return claimed;
    });
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
    for (const request of requests) {
      validateClaim(request.claim);
      validateOutcome(request.outcome);
      validateEffects(request.effects ?? []);
    }
    if (requests.length === 0) return [];
    const now = requireTime("now", options.now ?? this.db.clock());
    const db = this.db;
    return db.write("settle", () => requests.map((request) => this.settleOne(request, now)));
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
        row = db
          .statement(`UPDATE inbox SET state = 'pending', due_at = ?, last_error = ?, lease_until = NULL ${current}`)
          .get(Math.floor(outcome.at), clip(outcome.error, MAX_ERROR_LENGTH), ...key) as { chat_key: string } | undefined;
        break;
      case "dead":
        row = db
          .statement(
            `UPDATE inbox SET state = 'dead', settled_at = ?, last_error = ?, last_stack = ?, lease_until = NULL ${current}`,
          )
          .get(
            now,
            clip(outcome.error, MAX_ERROR_LENGTH),
            outcome.stack == null ? null : clip(outcome.stack, MAX_STACK_LENGTH),
            ...key,
          ) as { chat_key: string } | undefined;
        break;
      case "release":
        // Due time unchanged: a released item keeps its place, as if it had never been claimed.
        row = db
          .statement(`UPDATE inbox SET state = 'pending', attempts = max(attempts - 1, 0), lease_until = NULL ${current}`)
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

  /** {@inheritDoc InboxStore.get} */
  async get(updateId: number): Promise<InboxRecord | null> {
    requireInt("updateId", updateId, 0);
    const row = this.db.read("get update", () =>
      this.db.statement(`SELECT ${INBOX_COLUMNS} FROM inbox WHERE update_id = ?`).get(updateId),
    ) as InboxRow | undefined;
    return row === undefined ? null : toInboxRecord(row);
  }

  /** {@inheritDoc InboxStore.stats} */
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
      // The oldest unfinished update of each chat is its head, so only heads need looking at.
      const open = db
        .statement(
          `SELECT count(*) AS chats, min(i.received_at) AS oldest
           FROM chat_queue q JOIN inbox i ON i.update_id = q.head_id`,
        )
        .get() as { chats: number; oldest: number | null };
      return {
        ...counts,
        chatsWithWork: open.chats,
        oldestOpenReceivedAt: open.oldest,
        oldestOpenAgeMs: open.oldest === null ? 0 : Math.max(0, now - open.oldest),
      };
    });
  }

  /** {@inheritDoc InboxStore.prune} */
  async prune(options: PruneOptions): Promise<number> {
    const before = requireTime("handledBefore", options.handledBefore);
    const limit = requireInt("limit", options.limit ?? 10_000, 1);
    const db = this.db;
    return db.write("prune", () => {
      const { changes } = db
        .statement(
          `DELETE FROM inbox WHERE update_id IN
             (SELECT update_id FROM inbox WHERE state = 'done' AND settled_at < ? LIMIT ?)`,
        )
        .run(before, limit);
      return changes;
    });
  }
}
