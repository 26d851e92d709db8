/**
 * The PostgreSQL outbox: enqueue, claim, settle, leases, inspection, pruning (the semantics of
 * ../sqlite/outbox.ts); dead letters, audit, broadcasts and chat facts are in their own files.
 *
 * Across processes: every change of a chat's queue holds the chat's outbox lock (chat-locks.ts),
 * and a claim takes heads like the inbox's claim does: ready heads `FOR UPDATE SKIP LOCKED`,
 * their chat locks tried without waiting, then read again.
 *
 * @module
 */
import type { BroadcastProgress, ClaimedJob, EpochMs, Job, JobClaim, JobOutcome, JobState, NewJob, OutboxStats, Priority, UnreachableChat } from "../../outbound/types.js";
import { requireChatId, validUsers, validateJobClaim, validateJobOutcome, validateNewJob } from "../outbox-validate.js";
import type {
  AtTime,
  ChatId,
  DeliveredSend,
  EnqueueResult,
  JobClaimOptions,
  JobSettleRequest,
  JobSettleResult,
  OutboxPruneOptions,
  OutboxStore,
  RememberedUser,
  RemovedJobs,
} from "../outbox-types.js";
import { requireInt, requireText, requireTime } from "../validate.js";
import { lockChats, OUTBOX_LOCK_CLASS, tryLockChats } from "./chat-locks.js";
import type { PgDatabase, Tx } from "./database.js";
import { PgOutboxAudit } from "./outbox-audit.js";
import * as broadcasts from "./outbox-broadcasts.js";
import * as chats from "./outbox-chats.js";
import { PgOutboxDeadLetters } from "./outbox-dead-letters.js";
import { chatHasPending, recordDelivered } from "./outbox-direct.js";
import { enqueueJobs } from "./outbox-enqueue.js";
import { HEAD_READY, HEAD_TIMED, refreshHead, setHeadLease } from "./outbox-heads.js";
import { JOB_COLUMNS, blobsOf, jobColumns, toPgJob, type PgJobRow } from "./outbox-rows.js";
import { lockSettledChats, settleJob } from "./outbox-settle.js";

/** Upper bound of one claim, so a typo cannot lock the whole outbox into one transaction. */
const MAX_CLAIM = 10_000;
/** Most timed heads promoted to ready per claim (earliest due first), as on SQLite. */
const MAX_PROMOTE = 10_000;

/**
 * Takes the ready heads of the locked chats ($1) in one statement: each head job goes in flight
 * for `owner` ($2) until $3 (a job already in flight whose lease ran out is recovered), and its
 * chat's head waits for that lease end. Returned in claim order (priority rank, then enqueue
 * order), with the state each job was in.
 */
const TAKE_JOBS = `
  WITH heads AS (
    SELECT h.chat_key, h.head_seq, h.rank, j.state AS was
    FROM outbox_heads h JOIN outbox_jobs j ON j.seq = h.head_seq
    WHERE h.chat_key = ANY($1::text[]) AND h.status = ${HEAD_READY} AND j.state IN ('queued', 'sending')
  ), taken AS (
    UPDATE outbox_jobs SET state = 'sending', lease_owner = $2, lease_until = $3, lease_token = lease_token + 1, updated_at = $4
    FROM heads WHERE outbox_jobs.seq = heads.head_seq AND outbox_jobs.state = heads.was
    RETURNING ${jobColumns("outbox_jobs")},
              heads.rank AS head_rank, heads.was
  ), moved AS (
    UPDATE outbox_heads SET ready_at = $3, status = ${HEAD_TIMED} FROM taken
    WHERE outbox_heads.chat_key = taken.chat_key AND outbox_heads.head_seq = taken.seq
  )
  SELECT * FROM taken ORDER BY head_rank, seq`;

/** Options of {@link PgOutbox}. */
export interface PgOutboxOptions {
  /** Keep no payloads in the audit log (the store's `auditRedaction`). */
  readonly auditRedaction?: boolean;
}

/** {@link OutboxStore} on PostgreSQL. */
export class PgOutbox implements OutboxStore {
  /** {@inheritDoc OutboxStore.deadLetters} */
  readonly deadLetters: PgOutboxDeadLetters;
  /** {@inheritDoc OutboxStore.audit} */
  readonly audit: PgOutboxAudit;
  private readonly db: PgDatabase;
  private readonly redactAudit: boolean;

  /** Wraps an open pool; use `PostgresStore.open` rather than this. */
  constructor(db: PgDatabase, options: PgOutboxOptions = {}) {
    this.db = db;
    this.redactAudit = options.auditRedaction === true;
    this.deadLetters = new PgOutboxDeadLetters(db);
    this.audit = new PgOutboxAudit(db);
  }

  private now(value: EpochMs | undefined): number {
    return requireTime("now", value ?? this.db.clock());
  }

  /** {@inheritDoc OutboxStore.enqueue} */
  async enqueue(jobs: readonly NewJob[], options: AtTime = {}): Promise<EnqueueResult[]> {
    for (const job of jobs) validateNewJob(job);
    const now = this.now(options.now);
    if (jobs.length === 0) return [];
    return this.db.write("enqueue jobs", (tx) => enqueueJobs(this.db, tx, jobs, now));
  }

  /** {@inheritDoc OutboxStore.recordDelivered} */
  async recordDelivered(sends: readonly DeliveredSend[]): Promise<void> {
    for (const send of sends) validateNewJob(send.job);
    if (sends.length === 0) return;
    await this.db.write("record direct sends", (tx) => recordDelivered(tx, sends, this.redactAudit));
  }

  /** {@inheritDoc OutboxStore.chatHasPending} */
  async chatHasPending(chatId: ChatId): Promise<boolean> {
    requireChatId("chatId", chatId);
    return this.db.read("read chat queue", (tx) => chatHasPending(tx, chatId));
  }

  /** {@inheritDoc OutboxStore.claim} */
  async claim(options: JobClaimOptions): Promise<ClaimedJob[]> {
    const owner = requireText("owner", options.owner);
    const limit = requireInt("limit", options.limit, 1, MAX_CLAIM);
    const leaseMs = requireInt("leaseMs", options.leaseMs, 1);
    const now = this.now(options.now);
    return this.db.write("claim jobs", (tx) => this.claimHeads(tx, owner, limit, now, now + leaseMs));
  }

  private async claimHeads(tx: Tx, owner: string, limit: number, now: number, leaseUntil: number): Promise<ClaimedJob[]> {
    // Heads whose due time or lease end has come become claimable (usually none); a head
    // another transaction holds is left for the next claim.
    await tx.run(
      `UPDATE outbox_heads SET status = ${HEAD_READY} WHERE chat_key IN
         (SELECT chat_key FROM outbox_heads WHERE status = ${HEAD_TIMED} AND ready_at <= $1 ORDER BY ready_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [now, MAX_PROMOTE],
    );
    const candidates = await tx.rows<{ chat_key: string }>(
      `SELECT chat_key FROM outbox_heads WHERE status = ${HEAD_READY} ORDER BY rank, head_seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    );
    if (candidates.length === 0) return [];
    const locked = await tryLockChats(tx, candidates.map((c) => c.chat_key), OUTBOX_LOCK_CLASS);
    if (locked.size === 0) return [];
    const chats = [...locked];
    const rows = await tx.rows<PgJobRow & { was: string }>(TAKE_JOBS, [chats, owner, leaseUntil, now]);
    const taken = new Set(rows.map((r) => r.chat_key));
    if (taken.size < chats.length) {
      // A ready head pointing at a finished job (the heads out of step): repair it rather than
      // stall the chat. Such a chat was locked but nothing of it was taken.
      const stale = await tx.rows<{ chat_key: string }>(
        `SELECT h.chat_key FROM outbox_heads h LEFT JOIN outbox_jobs j ON j.seq = h.head_seq
         WHERE h.chat_key = ANY($1::text[]) AND h.status = ${HEAD_READY} AND (j.seq IS NULL OR j.state NOT IN ('queued', 'sending'))`,
        [chats.filter((c) => !taken.has(c))],
      );
      for (const { chat_key } of stale) await refreshHead(tx, chat_key, now);
    }
    return rows.map(({ was, ...row }) => ({
      ...toPgJob(row),
      claim: { jobId: row.id, owner, token: row.lease_token, leaseUntil },
      recovered: was === "sending",
    }));
  }

  /** {@inheritDoc OutboxStore.settle} */
  async settle(claim: JobClaim, outcome: JobOutcome, options: AtTime = {}): Promise<JobSettleResult> {
    const [result] = await this.settleMany([{ claim, outcome }], options);
    return result ?? "stale";
  }

  /** {@inheritDoc OutboxStore.settleMany} */
  async settleMany(requests: readonly JobSettleRequest[], options: AtTime = {}): Promise<JobSettleResult[]> {
    for (const request of requests) {
      validateJobClaim(request.claim);
      validateJobOutcome(request.outcome);
    }
    const now = this.now(options.now);
    if (requests.length === 0) return [];
    return this.db.write("settle jobs", async (tx) => {
      await lockSettledChats(tx, requests);
      const results: JobSettleResult[] = [];
      for (const request of requests) results.push(await settleJob(this.db, tx, request, now, this.redactAudit));
      return results;
    });
  }

  /** {@inheritDoc OutboxStore.extendLease} */
  async extendLease(claim: JobClaim, leaseMs: number, options: AtTime = {}): Promise<JobClaim | null> {
    validateJobClaim(claim);
    requireInt("leaseMs", leaseMs, 1);
    const leaseUntil = this.now(options.now) + leaseMs;
    return this.db.write("extend job lease", async (tx) => {
      // The chat's lock first, as every writer of a chat's head takes it (see the inbox's extendLease).
      const chat = await tx.rows<{ chat_key: string }>("SELECT chat_key FROM outbox_jobs WHERE id = $1", [claim.jobId]);
      await lockChats(tx, chat.map((c) => c.chat_key), OUTBOX_LOCK_CLASS);
      const row = await tx.one<{ seq: number; chat_key: string }>(
        `UPDATE outbox_jobs SET lease_until = $1
         WHERE id = $2 AND state = 'sending' AND lease_owner = $3 AND lease_token = $4 RETURNING seq, chat_key`,
        [leaseUntil, claim.jobId, claim.owner, claim.token],
      );
      if (row === undefined) return null;
      await setHeadLease(tx, row.chat_key, row.seq, leaseUntil);
      return { ...claim, leaseUntil };
    });
  }

  /** {@inheritDoc OutboxStore.expireClaims} */
  async expireClaims(options: { readonly owner?: string; readonly now?: EpochMs } = {}): Promise<number> {
    const owner = options.owner === undefined ? null : requireText("owner", options.owner);
    const now = this.now(options.now);
    return this.db.write("expire job claims", async (tx) => {
      // The chats' locks first; then the claims of those chats only.
      const chats = await tx.rows<{ chat_key: string }>(
        "SELECT DISTINCT chat_key FROM outbox_jobs WHERE state = 'sending' AND lease_until > $1 AND ($2::text IS NULL OR lease_owner = $2)",
        [now, owner],
      );
      await lockChats(tx, chats.map((c) => c.chat_key), OUTBOX_LOCK_CLASS);
      const rows = await tx.rows<{ seq: number; chat_key: string }>(
        `UPDATE outbox_jobs SET lease_until = $1
         WHERE state = 'sending' AND lease_until > $1 AND ($2::text IS NULL OR lease_owner = $2) AND chat_key = ANY($3::text[])
         RETURNING seq, chat_key`,
        [now, owner, chats.map((c) => c.chat_key)],
      );
      for (const row of rows) await setHeadLease(tx, row.chat_key, row.seq, now);
      return rows.length;
    });
  }

  /** {@inheritDoc OutboxStore.inflightOwners} */
  async inflightOwners(): Promise<string[]> {
    const rows = await this.db.read("list outbox owners", (tx) =>
      tx.rows<{ owner: string }>("SELECT DISTINCT lease_owner AS owner FROM outbox_jobs WHERE state = 'sending'"),
    );
    return rows.map((r) => r.owner);
  }

  /** {@inheritDoc OutboxStore.get} */
  async get(id: string): Promise<Job | null> {
    requireText("id", id);
    const row = await this.db.read("get job", (tx) => tx.one<PgJobRow>(`SELECT ${JOB_COLUMNS} FROM outbox_jobs WHERE id = $1`, [id]));
    return row === undefined ? null : toPgJob(row);
  }

  /** {@inheritDoc OutboxStore.openBlobs} */
  async openBlobs(): Promise<string[]> {
    const rows = await this.db.read("list open blobs", (tx) =>
      tx.rows<{ id: string; blobs: string }>(`SELECT id, blobs FROM outbox_jobs WHERE blobs <> '[]' AND state IN ('queued', 'sending', 'failed')`),
    );
    return rows.flatMap(blobsOf);
  }

  /** {@inheritDoc OutboxStore.getByKey} */
  async getByKey(idempotencyKey: string): Promise<Job | null> {
    requireText("idempotencyKey", idempotencyKey, 1000);
    const row = await this.db.read("get job by key", (tx) => tx.one<PgJobRow>(`SELECT ${JOB_COLUMNS} FROM outbox_jobs WHERE idem_key = $1`, [idempotencyKey]));
    return row === undefined ? null : toPgJob(row);
  }

  /**
   * {@inheritDoc OutboxStore.stats}
   *
   * Counted from the jobs (one grouped scan), not from trigger-kept counters as on SQLite: on a
   * database shared by several senders a counter row would serialize them all.
   */
  async stats(options: AtTime = {}): Promise<OutboxStats> {
    const now = this.now(options.now);
    return this.db.read("outbox stats", async (tx) => {
      const byState: Record<JobState, number> = { queued: 0, sending: 0, delivered: 0, failed: 0, cancelled: 0 };
      const queuedByPriority: Record<Priority, number> = { critical: 0, high: 0, normal: 0, low: 0 };
      let ambiguousAttempts = 0;
      const groups = await tx.rows<{ state: JobState; priority: Priority; n: number; ambiguous: number }>(
        "SELECT state, priority, count(*)::int AS n, coalesce(sum(ambiguous), 0)::int AS ambiguous FROM outbox_jobs GROUP BY state, priority",
      );
      for (const g of groups) {
        byState[g.state] += g.n;
        if (g.state === "queued") queuedByPriority[g.priority] += g.n;
        ambiguousAttempts += g.ambiguous;
      }
      const diverged = await tx.one<{ n: number }>("SELECT n FROM outbox_counters WHERE name = 'diverged'");
      const oldest = await tx.one<{ created_at: number }>("SELECT created_at FROM outbox_jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1");
      const recent = await tx.one<{ n: number }>("SELECT count(*)::int AS n FROM outbox_jobs WHERE state = 'delivered' AND finished_at > $1", [now - 60_000]);
      return {
        byState,
        queuedByPriority,
        oldestQueuedAgeMs: oldest === undefined ? 0 : Math.max(0, now - oldest.created_at),
        deliveredLastMinute: recent?.n ?? 0,
        ambiguousAttempts,
        divergedReplays: diverged?.n ?? 0,
      };
    });
  }

  /** {@inheritDoc OutboxStore.prune} */
  async prune(options: OutboxPruneOptions): Promise<RemovedJobs> {
    const before = requireTime("deliveredBefore", options.deliveredBefore);
    const limit = requireInt("limit", options.limit ?? 10_000, 1);
    const rows = await this.db.write("prune jobs", (tx) =>
      tx.rows<{ id: string; blobs: string }>(
        `DELETE FROM outbox_jobs WHERE seq IN
           (SELECT seq FROM outbox_jobs WHERE state IN ('delivered', 'cancelled') AND finished_at < $1 LIMIT $2)
         RETURNING id, blobs`,
        [before, limit],
      ),
    );
    return { count: rows.length, blobs: rows.flatMap(blobsOf) };
  }

  /** {@inheritDoc OutboxStore.markUnreachable} */
  async markUnreachable(chatId: ChatId, reason: string, now?: EpochMs): Promise<void> {
    requireChatId("chatId", chatId);
    requireText("reason", reason, 4000);
    const at = this.now(now);
    await this.db.write("mark chat unreachable", (tx) => chats.markUnreachable(this.db, tx, chatId, reason, at));
  }

  /** {@inheritDoc OutboxStore.clearUnreachable} */
  async clearUnreachable(chatId: ChatId): Promise<boolean> {
    requireChatId("chatId", chatId);
    return this.db.write("clear unreachable chat", (tx) => chats.clearUnreachable(tx, chatId));
  }

  /** {@inheritDoc OutboxStore.isUnreachable} */
  async isUnreachable(chatId: ChatId): Promise<UnreachableChat | null> {
    requireChatId("chatId", chatId);
    return this.db.read("read unreachable chat", (tx) => chats.unreachableOf(tx, chatId));
  }

  /** {@inheritDoc OutboxStore.listUnreachable} */
  async listUnreachable(): Promise<UnreachableChat[]> {
    return this.db.read("list unreachable chats", (tx) => chats.listUnreachable(tx));
  }

  /** {@inheritDoc OutboxStore.rememberUser} */
  async rememberUser(userId: number, chatId: ChatId, now?: EpochMs): Promise<void> {
    requireInt("userId", userId, 1);
    requireChatId("chatId", chatId);
    const at = this.now(now);
    await this.db.write("remember user", (tx) => chats.rememberUser(tx, userId, chatId, at));
  }

  /** {@inheritDoc OutboxStore.rememberUsers} */
  async rememberUsers(users: readonly RememberedUser[], now?: EpochMs): Promise<void> {
    const valid = validUsers(users);
    if (valid.length === 0) return;
    const at = this.now(now);
    await this.db.write("remember users", (tx) => chats.rememberUsers(tx, valid, at));
  }

  /** {@inheritDoc OutboxStore.chatOfUser} */
  async chatOfUser(userId: number): Promise<ChatId | null> {
    requireInt("userId", userId, 1);
    return this.db.read("chat of user", (tx) => chats.chatOfUser(tx, userId));
  }

  /** {@inheritDoc OutboxStore.broadcastProgress} */
  async broadcastProgress(broadcastId: string): Promise<BroadcastProgress | null> {
    requireText("broadcastId", broadcastId);
    return this.db.read("broadcast progress", (tx) => broadcasts.broadcastProgress(tx, broadcastId));
  }

  /** {@inheritDoc OutboxStore.pauseBroadcast} */
  async pauseBroadcast(broadcastId: string): Promise<boolean> {
    requireText("broadcastId", broadcastId);
    return this.db.write("pause broadcast", (tx) => broadcasts.pauseBroadcast(tx, broadcastId));
  }

  /** {@inheritDoc OutboxStore.resumeBroadcast} */
  async resumeBroadcast(broadcastId: string, options: AtTime = {}): Promise<boolean> {
    requireText("broadcastId", broadcastId);
    const now = this.now(options.now);
    return this.db.write("resume broadcast", (tx) => broadcasts.resumeBroadcast(tx, broadcastId, now));
  }

  /** {@inheritDoc OutboxStore.cancelBroadcast} */
  async cancelBroadcast(broadcastId: string, options: AtTime = {}): Promise<RemovedJobs> {
    requireText("broadcastId", broadcastId);
    const now = this.now(options.now);
    return this.db.write("cancel broadcast", (tx) => broadcasts.cancelBroadcast(tx, broadcastId, now));
  }
}
