/**
 * The SQLite outbox: enqueue, claim, settle, leases, inspection, pruning; dead letters, audit,
 * broadcasts and chat facts are delegated to their own files.
 *
 * @module
 */
import type {
  BroadcastProgress,
  ClaimedJob,
  EpochMs,
  Job,
  JobClaim,
  JobOutcome,
  JobState,
  NewJob,
  OutboxStats,
  Priority,
  UnreachableChat,
} from "../../outbound/types.js";
import { chatHasPending, recordDelivered } from "./outbox-direct.js";
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
import { ACKNOWLEDGED_SOON, type SqliteDatabase } from "./database.js";
import { SqliteOutboxAudit } from "./outbox-audit.js";
import * as broadcasts from "./outbox-broadcasts.js";
import * as chats from "./outbox-chats.js";
import { SqliteOutboxDeadLetters } from "./outbox-dead-letters.js";
import { enqueueJobs } from "./outbox-enqueue.js";
import { HEAD_READY, HEAD_TIMED, refreshHead, setHeadLease } from "./outbox-heads.js";
import { JOB_COLUMNS, blobsOf, toJob, type JobRow } from "./outbox-rows.js";
import { settleJob } from "./outbox-settle.js";

/** Upper bound of one claim, so a typo cannot lock the whole outbox into one transaction. */
const MAX_CLAIM = 10_000;
/**
 * Most timed heads promoted to ready per claim (earliest due first). Bounds one claim's work
 * after, say, 100k chats' retries all fell due at once; the rest are promoted by the next claims.
 */
const MAX_PROMOTE = 10_000;

/** Options of {@link SqliteOutbox}. */
export interface SqliteOutboxOptions {
  /** Keep no payloads in the audit log (the store's `auditRedaction`). */
  readonly auditRedaction?: boolean;
}

/** {@link OutboxStore} on SQLite. */
export class SqliteOutbox implements OutboxStore {
  /** {@inheritDoc OutboxStore.deadLetters} */
  readonly deadLetters: SqliteOutboxDeadLetters;
  /** {@inheritDoc OutboxStore.audit} */
  readonly audit: SqliteOutboxAudit;
  private readonly db: SqliteDatabase;
  private readonly redactAudit: boolean;

  /** Wraps an open database; use `SqliteStore.open` rather than this. */
  constructor(db: SqliteDatabase, options: SqliteOutboxOptions = {}) {
    this.db = db;
    this.redactAudit = options.auditRedaction === true;
    this.deadLetters = new SqliteOutboxDeadLetters(db);
    this.audit = new SqliteOutboxAudit(db);
  }

  private now(value: EpochMs | undefined): number {
    return requireTime("now", value ?? this.db.clock());
  }

  /** {@inheritDoc OutboxStore.enqueue} */
  async enqueue(jobs: readonly NewJob[], options: AtTime = {}): Promise<EnqueueResult[]> {
    for (const job of jobs) validateNewJob(job);
    const now = this.now(options.now);
    if (jobs.length === 0) return [];
    return this.db.write("enqueue jobs", () => enqueueJobs(this.db, jobs, now), ACKNOWLEDGED_SOON);
  }

  /** {@inheritDoc OutboxStore.recordDelivered} */
  async recordDelivered(sends: readonly DeliveredSend[]): Promise<void> {
    for (const send of sends) validateNewJob(send.job);
    if (sends.length === 0) return;
    this.db.write("record direct sends", () => recordDelivered(this.db, sends, this.redactAudit));
  }

  /** {@inheritDoc OutboxStore.chatHasPending} */
  async chatHasPending(chatId: ChatId): Promise<boolean> {
    requireChatId("chatId", chatId);
    return this.db.read("read chat queue", () => chatHasPending(this.db, chatId));
  }

  /** {@inheritDoc OutboxStore.claim} */
  async claim(options: JobClaimOptions): Promise<ClaimedJob[]> {
    const owner = requireText("owner", options.owner);
    const limit = requireInt("limit", options.limit, 1, MAX_CLAIM);
    const leaseMs = requireInt("leaseMs", options.leaseMs, 1);
    const now = this.now(options.now);
    const leaseUntil = now + leaseMs;
    const db = this.db;
    return db.write("claim jobs", () => {
      // Heads whose due time or lease end has come become claimable (an index range, usually empty).
      db.statement(
        `UPDATE outbox_heads SET status = ${HEAD_READY} WHERE chat_key IN
           (SELECT chat_key FROM outbox_heads WHERE status = ${HEAD_TIMED} AND ready_at <= ? ORDER BY ready_at LIMIT ?)`,
      ).run(now, MAX_PROMOTE);
      const heads = db
        .statement(`SELECT chat_key, head_seq FROM outbox_heads WHERE status = ${HEAD_READY} ORDER BY rank, head_seq LIMIT ?`)
        .all(limit) as { chat_key: string; head_seq: number }[];
      const read = db.statement(`SELECT ${JOB_COLUMNS} FROM outbox_jobs WHERE seq = ?`);
      const take = db.statement(
        `UPDATE outbox_jobs SET state = 'sending', lease_owner = ?, lease_until = ?, lease_token = lease_token + 1, updated_at = ?
         WHERE seq = ?`,
      );
      const claimed: ClaimedJob[] = [];
      for (const head of heads) {
        const row = read.get(head.head_seq) as JobRow | undefined;
        if (row === undefined || (row.state !== "queued" && row.state !== "sending")) {
          // The head pointed at a finished job: repair it rather than stall the chat.
          refreshHead(db, head.chat_key, now);
          continue;
        }
        take.run(owner, leaseUntil, now, row.seq);
        setHeadLease(db, head.chat_key, row.seq, leaseUntil);
        const token = row.lease_token + 1;
        const job = toJob({ ...row, state: "sending", lease_owner: owner, lease_until: leaseUntil, lease_token: token, updated_at: now });
        claimed.push({ ...job, claim: { jobId: row.id, owner, token, leaseUntil }, recovered: row.state === "sending" });
      }
      return claimed;
    });
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
    return this.db.write("settle jobs", () => requests.map((request) => settleJob(this.db, request, now, this.redactAudit)));
  }

  /** {@inheritDoc OutboxStore.extendLease} */
  async extendLease(claim: JobClaim, leaseMs: number, options: AtTime = {}): Promise<JobClaim | null> {
    validateJobClaim(claim);
    requireInt("leaseMs", leaseMs, 1);
    const leaseUntil = this.now(options.now) + leaseMs;
    const db = this.db;
    return db.write("extend job lease", () => {
      const row = db
        .statement(
          `UPDATE outbox_jobs SET lease_until = ?
           WHERE id = ? AND state = 'sending' AND lease_owner = ? AND lease_token = ? RETURNING seq, chat_key`,
        )
        .get(leaseUntil, claim.jobId, claim.owner, claim.token) as { seq: number; chat_key: string } | undefined;
      if (row === undefined) return null;
      setHeadLease(db, row.chat_key, row.seq, leaseUntil);
      return { ...claim, leaseUntil };
    });
  }

  /** {@inheritDoc OutboxStore.expireClaims} */
  async expireClaims(options: { readonly owner?: string; readonly now?: EpochMs } = {}): Promise<number> {
    const owner = options.owner === undefined ? null : requireText("owner", options.owner);
    const now = this.now(options.now);
    const db = this.db;
    return db.write("expire job claims", () => {
      const rows = db
        .statement(
          `UPDATE outbox_jobs SET lease_until = ?
           WHERE state = 'sending' AND lease_until > ? AND (? IS NULL OR lease_owner = ?) RETURNING seq, chat_key`,
        )
        .all(now, now, owner, owner) as { seq: number; chat_key: string }[];
      for (const row of rows) setHeadLease(db, row.chat_key, row.seq, now);
      return rows.length;
    });
  }

  /** {@inheritDoc OutboxStore.inflightOwners} */
  async inflightOwners(): Promise<string[]> {
    const rows = this.db.read("list outbox owners", () =>
      this.db.statement("SELECT DISTINCT lease_owner AS owner FROM outbox_jobs WHERE state = 'sending'").all(),
    ) as { owner: string }[];
    return rows.map((r) => r.owner);
  }

  /** {@inheritDoc OutboxStore.get} */
  async get(id: string): Promise<Job | null> {
    requireText("id", id);
    const row = this.db.read("get job", () => this.db.statement(`SELECT ${JOB_COLUMNS} FROM outbox_jobs WHERE id = ?`).get(id)) as
      | JobRow
      | undefined;
    return row === undefined ? null : toJob(row);
  }

  /** {@inheritDoc OutboxStore.openBlobs} */
  async openBlobs(): Promise<string[]> {
    const rows = this.db.read("list open blobs", () =>
      this.db.statement(`SELECT id, blobs FROM outbox_jobs WHERE blobs <> '[]' AND state IN ('queued', 'sending', 'failed')`).all(),
    ) as { id: string; blobs: string }[];
    return rows.flatMap(blobsOf);
  }

  /** {@inheritDoc OutboxStore.getByKey} */
  async getByKey(idempotencyKey: string): Promise<Job | null> {
    requireText("idempotencyKey", idempotencyKey, 1000);
    const row = this.db.read("get job by key", () =>
      this.db.statement(`SELECT ${JOB_COLUMNS} FROM outbox_jobs WHERE idem_key = ?`).get(idempotencyKey),
    ) as JobRow | undefined;
    return row === undefined ? null : toJob(row);
  }

  /** {@inheritDoc OutboxStore.stats} */
  async stats(options: AtTime = {}): Promise<OutboxStats> {
    const now = this.now(options.now);
    const db = this.db;
    return db.read("outbox stats", () => {
      const byState: Record<JobState, number> = { queued: 0, sending: 0, delivered: 0, failed: 0, cancelled: 0 };
      const queuedByPriority: Record<Priority, number> = { critical: 0, high: 0, normal: 0, low: 0 };
      let ambiguousAttempts = 0;
      let divergedReplays = 0;
      // Counters hold open (queued + sending) jobs by priority and finished ones by state; the
      // jobs in flight (a few hundred at most) are counted from their index and taken out.
      for (const { name, n } of db.statement("SELECT name, n FROM outbox_counters").all() as { name: string; n: number }[]) {
        const [kind, key] = name.split(":");
        if (kind === "open" && key !== undefined && key in queuedByPriority) queuedByPriority[key as Priority] = n;
        else if (kind === "state" && key !== undefined && key in byState) byState[key as JobState] = n;
        else if (kind === "ambiguous") ambiguousAttempts = n;
        else if (kind === "diverged") divergedReplays = n;
      }
      const sending = db.statement("SELECT priority, count(*) AS n FROM outbox_jobs WHERE state = 'sending' GROUP BY priority").all() as {
        priority: Priority;
        n: number;
      }[];
      for (const { priority, n } of sending) {
        queuedByPriority[priority] -= n;
        byState.sending += n;
      }
      byState.queued = queuedByPriority.critical + queuedByPriority.high + queuedByPriority.normal + queuedByPriority.low;
      const oldest = db.statement("SELECT created_at FROM outbox_jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1").get() as
        | { created_at: number }
        | undefined;
      const recent = db
        .statement("SELECT count(*) AS n FROM outbox_jobs WHERE state = 'delivered' AND finished_at > ?")
        .get(now - 60_000) as { n: number };
      return {
        byState,
        queuedByPriority,
        oldestQueuedAgeMs: oldest === undefined ? 0 : Math.max(0, now - oldest.created_at),
        deliveredLastMinute: recent.n,
        ambiguousAttempts,
        divergedReplays,
      };
    });
  }

  /** {@inheritDoc OutboxStore.prune} */
  async prune(options: OutboxPruneOptions): Promise<RemovedJobs> {
    const before = requireTime("deliveredBefore", options.deliveredBefore);
    const limit = requireInt("limit", options.limit ?? 10_000, 1);
    const db = this.db;
    const rows = db.write("prune jobs", () =>
      db
        .statement(
          `DELETE FROM outbox_jobs WHERE seq IN
             (SELECT seq FROM outbox_jobs WHERE state IN ('delivered', 'cancelled') AND finished_at < ? LIMIT ?)
           RETURNING id, blobs`,
        )
        .all(before, limit),
    ) as { id: string; blobs: string }[];
    return { count: rows.length, blobs: rows.flatMap(blobsOf) };
  }

  /** {@inheritDoc OutboxStore.markUnreachable} */
  async markUnreachable(chatId: ChatId, reason: string, now?: EpochMs): Promise<void> {
    requireChatId("chatId", chatId);
    requireText("reason", reason, 4000);
    const at = this.now(now);
    this.db.write("mark chat unreachable", () => chats.markUnreachable(this.db, chatId, reason, at));
  }

  /** {@inheritDoc OutboxStore.clearUnreachable} */
  async clearUnreachable(chatId: ChatId): Promise<boolean> {
    requireChatId("chatId", chatId);
    return this.db.write("clear unreachable chat", () => chats.clearUnreachable(this.db, chatId));
  }

  /** {@inheritDoc OutboxStore.isUnreachable} */
  async isUnreachable(chatId: ChatId): Promise<UnreachableChat | null> {
    requireChatId("chatId", chatId);
    return this.db.read("read unreachable chat", () => chats.unreachableOf(this.db, chatId));
  }

  /** {@inheritDoc OutboxStore.listUnreachable} */
  async listUnreachable(): Promise<UnreachableChat[]> {
    return this.db.read("list unreachable chats", () => chats.listUnreachable(this.db));
  }

  /** {@inheritDoc OutboxStore.rememberUser} */
  async rememberUser(userId: number, chatId: ChatId, now?: EpochMs): Promise<void> {
    requireInt("userId", userId, 1);
    requireChatId("chatId", chatId);
    const at = this.now(now);
    this.db.write("remember user", () => chats.rememberUser(this.db, userId, chatId, at));
  }

  /** {@inheritDoc OutboxStore.rememberUsers} */
  async rememberUsers(users: readonly RememberedUser[], now?: EpochMs): Promise<void> {
    const valid = validUsers(users);
    if (valid.length === 0) return;
    const at = this.now(now);
    this.db.write("remember users", () => {
      for (const u of valid) chats.rememberUser(this.db, u.userId, u.chatId, at);
    });
  }

  /** {@inheritDoc OutboxStore.chatOfUser} */
  async chatOfUser(userId: number): Promise<ChatId | null> {
    requireInt("userId", userId, 1);
    return this.db.read("chat of user", () => chats.chatOfUser(this.db, userId));
  }

  /** {@inheritDoc OutboxStore.broadcastProgress} */
  async broadcastProgress(broadcastId: string): Promise<BroadcastProgress | null> {
    requireText("broadcastId", broadcastId);
    return this.db.read("broadcast progress", () => broadcasts.broadcastProgress(this.db, broadcastId));
  }

  /** {@inheritDoc OutboxStore.pauseBroadcast} */
  async pauseBroadcast(broadcastId: string): Promise<boolean> {
    requireText("broadcastId", broadcastId);
    return this.db.write("pause broadcast", () => broadcasts.pauseBroadcast(this.db, broadcastId));
  }

  /** {@inheritDoc OutboxStore.resumeBroadcast} */
  async resumeBroadcast(broadcastId: string, options: AtTime = {}): Promise<boolean> {
    requireText("broadcastId", broadcastId);
    const now = this.now(options.now);
    return this.db.write("resume broadcast", () => broadcasts.resumeBroadcast(this.db, broadcastId, now));
  }

  /** {@inheritDoc OutboxStore.cancelBroadcast} */
  async cancelBroadcast(broadcastId: string, options: AtTime = {}): Promise<RemovedJobs> {
    requireText("broadcastId", broadcastId);
    const now = this.now(options.now);
    return this.db.write("cancel broadcast", () => broadcasts.cancelBroadcast(this.db, broadcastId, now));
  }
}
