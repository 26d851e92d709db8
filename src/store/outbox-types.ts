/**
 * The durable outbox store: every outgoing Bot API call (a *job*) from enqueue to delivery or
 * dead letter, with its attempt history, the audit log, unreachable chats, known users and
 * broadcasts. The domain types (jobs, outcomes, stats) live in `src/outbound/types.ts`; this
 * file describes the operations on them by meaning, so every backend implements each one as a
 * single atomic transaction.
 *
 * Ordering: each chat (keyed by `String(chatId)`) is a FIFO in enqueue order with at most one
 * job in flight. Only a chat's *head* (its job in flight, else its oldest queued job) can be
 * claimed; a head waiting for its due time, in flight, or in a paused broadcast blocks its
 * chat's later jobs. Across chats, due heads are claimed by priority, then enqueue order.
 *
 * @module
 */
import type {
  AuditEntry,
  BroadcastProgress,
  ClaimedJob,
  EpochMs,
  FailureReason,
  Job,
  JobClaim,
  JobOutcome,
  NewJob,
  OutboxStats,
  UnreachableChat,
} from "../outbound/types.js";

/** A chat id as Telegram takes it: a number, or `@username` for public channels. */
export type ChatId = number | string;

/** A user seen in a private chat, and that chat (see {@link OutboxStore.rememberUsers}). */
export interface RememberedUser {
  readonly userId: number;
  readonly chatId: ChatId;
}

/** Options that only carry the time of the operation (defaults to the store's clock). */
export interface AtTime {
  /** The time of the operation (ms epoch); defaults to the store's clock. */
  readonly now?: EpochMs;
}

/** What {@link OutboxStore.enqueue} did with one job, in the order of the jobs given. */
export interface EnqueueResult {
  /** The job's id: the given one, or the existing job's when the idempotency key was known. */
  readonly id: string;
  /** False when the job (same `id`, or the same send under the same `idempotencyKey`) was already stored: nothing was inserted. */
  readonly created: boolean;
  /**
   * True when the key was known but the stored job sends something else (method, chat or
   * fingerprint differ): this job was stored as a new one (a *diverging replay*). Absent otherwise.
   */
  readonly diverged?: boolean;
}

/** A delivered direct send (see {@link OutboxStore.recordDelivered}). */
export interface DeliveredSend {
  /** The job it would have been. */
  readonly job: NewJob;
  /** JSON of Telegram's result. */
  readonly result: string;
  /** The message id in the result, when it has one. */
  readonly messageId: number | null;
  /** When Telegram answered. */
  readonly at: EpochMs;
}

/** Options of {@link OutboxStore.claim}. */
export interface JobClaimOptions extends AtTime {
  /** Who claims: a stable id of the delivery loop's process (checked on settle). */
  readonly owner: string;
  /** At most this many jobs, each from a different chat. */
  readonly limit: number;
  /** How long the claim stays valid without `extendLease`, ms. */
  readonly leaseMs: number;
}

/** One settle of a batch. */
export interface JobSettleRequest {
  /** The claim being settled. */
  readonly claim: JobClaim;
  /** How the attempt ended. */
  readonly outcome: JobOutcome;
}

/**
 * `settled`, or `stale` when the claim is no longer the job's current claim (its lease ran out
 * and it was re-claimed, or it was already settled). A stale settle changes nothing.
 */
export type JobSettleResult = "settled" | "stale";

/** Narrows a dead-letter listing; all given fields must match. */
export interface OutboxDeadLetterFilter {
  /** Only jobs to this chat. */
  readonly chatId?: ChatId;
  /** Only jobs whose last error contains this text (case-sensitive substring). */
  readonly errorContains?: string;
  /** Only jobs that failed for this reason. */
  readonly reason?: FailureReason;
}

/** Options of {@link OutboxDeadLetterStore.list}. */
export interface OutboxDeadLetterListOptions extends OutboxDeadLetterFilter {
  /** Page size; default 50, at most 1000. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** One page of a listing, oldest first. */
export interface Page<T> {
  /** The items of this page. */
  readonly items: T[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/**
 * Which dead letters (failed jobs) an operation applies to: one job, all of them (explicitly),
 * or those matching a non-empty filter.
 */
export type OutboxDeadLetterSelector =
  | { readonly id: string }
  | { readonly all: true }
  | { readonly filter: OutboxDeadLetterFilter };

/** Jobs removed from the store, with the blob files they owned (for the caller to delete). */
export interface RemovedJobs {
  /** How many jobs were removed (or cancelled). */
  readonly count: number;
  /** The blob names the removed jobs owned; delete these files from the blob folder. */
  readonly blobs: string[];
}

/** Dead-letter operations of the outbox (failed jobs). Each call is one transaction. */
export interface OutboxDeadLetterStore {
  /** A page of failed jobs matching the filter, in enqueue order. */
  list(options?: OutboxDeadLetterListOptions): Promise<Page<Job>>;
  /**
   * Puts the selected failed jobs back in their chats' queues: queued, due now, attempts
   * reset (history and ambiguous count kept). Each keeps its enqueue position, so it goes
   * before its chat's later queued jobs, but never beside a job in flight. Returns how many.
   */
  retry(selector: OutboxDeadLetterSelector, options?: AtTime): Promise<number>;
  /** Deletes the selected failed jobs for good; returns them with their blob names. */
  purge(selector: OutboxDeadLetterSelector): Promise<RemovedJobs>;
}

/** Options of {@link OutboxAuditStore.list}. */
export interface AuditListOptions {
  /** Only entries of this chat. */
  readonly chatId?: ChatId;
  /** Only entries written at or after this time. */
  readonly since?: EpochMs;
  /** Page size; default 100, at most 1000. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** The audit log: one entry per delivered or failed job, written in the settle's transaction. */
export interface OutboxAuditStore {
  /** A page of entries, oldest first. */
  list(options?: AuditListOptions): Promise<Page<AuditEntry>>;
  /** Deletes entries written before `before` (retention); returns how many. */
  prune(options: { readonly before: EpochMs; readonly limit?: number }): Promise<number>;
}

/** Options of {@link OutboxStore.prune}. */
export interface OutboxPruneOptions {
  /** Delivered and cancelled jobs finished before this time are deleted. */
  readonly deliveredBefore: EpochMs;
  /** At most this many per call (keeps each transaction short); default 10,000. */
  readonly limit?: number;
}

/** The outbox operations. Each call is one atomic transaction. */
export interface OutboxStore {
  /**
   * Stores jobs, queued and due at their `notBefore`, each at the end of its chat's queue.
   * Idempotent: a job whose `id` is already stored, or that is the same send (method, chat and
   * `fingerprint`) as the job stored under its `idempotencyKey` (or earlier in the same batch),
   * is not inserted, and its result names the existing job with `created: false`. A different
   * send under a known key is stored as a new job (`diverged: true`, counted in
   * `stats().divergedReplays`): where unlost cannot tell, it sends.
   * All or nothing: a malformed job rejects the batch with `INVALID_ARGUMENT` before any write.
   */
  enqueue(jobs: readonly NewJob[], options?: AtTime): Promise<EnqueueResult[]>;

  /**
   * Records sends that were made without a job before them and delivered (a handler's reply
   * on its update's first run, see `outbound/direct-send.ts`): each is stored as a delivered
   * job (one attempt, its result) with its audit entry, so a later run of the same update finds
   * it under its key and does not send it again. A job whose id or key is stored already is
   * left as it is. Does not touch the chats' queues.
   */
  recordDelivered(sends: readonly DeliveredSend[]): Promise<void>;

  /** True when the chat has jobs queued or in flight (a direct send would overtake them). */
  chatHasPending(chatId: ChatId): Promise<boolean>;

  /**
   * Claims up to `limit` jobs, each the head of its chat, due (`dueAt <= now`), not in a paused
   * broadcast, highest priority first, then oldest enqueued. A head in flight whose lease ran
   * out is claimed again (a *recovery*: `recovered` is true, and the job may have been sent).
   * Every claim bumps the job's fencing token. The cost does not grow with the backlog.
   */
  claim(options: JobClaimOptions): Promise<ClaimedJob[]>;

  /**
   * Ends a claim. Accepted only from the job's current claim (same owner and token, still in
   * flight). Appends an `AttemptRecord` to the history (not for `defer`, nor for a
   * `failed` with `attempted: false`), updates the job's fields and moves its chat on:
   * - `delivered`: result stored; an audit entry written;
   * - `retry`: queued again, due at `at`, still its chat's head;
   * - `failed`: a dead letter; an audit entry written; its chat goes on;
   * - `defer`: queued again, due at `at`, not an attempt;
   * - `retarget`: queued, due at `at`, in chat `chatId`, together with every queued job of the
   *   old chat, all keeping their enqueue order.
   */
  settle(claim: JobClaim, outcome: JobOutcome, options?: AtTime): Promise<JobSettleResult>;

  /** Several settles in one transaction; each accepted or stale on its own, results in order. */
  settleMany(requests: readonly JobSettleRequest[], options?: AtTime): Promise<JobSettleResult[]>;

  /** Extends a claim's lease to `now + leaseMs`; the renewed claim (same token), or null when stale. */
  extendLease(claim: JobClaim, leaseMs: number, options?: AtTime): Promise<JobClaim | null>;

  /**
   * Makes the in-flight claims of `owner` (all when omitted) expire now, so the next claim
   * recovers them at once. Returns how many.
   */
  expireClaims(options?: { readonly owner?: string; readonly now?: EpochMs }): Promise<number>;

  /** The owners holding in-flight claims (distinct, any order). */
  inflightOwners(): Promise<string[]>;

  /** One job, or null. */
  get(id: string): Promise<Job | null>;

  /** The job enqueued with this idempotency key, or null (also once it was pruned). */
  getByKey(idempotencyKey: string): Promise<Job | null>;

  /** Counts by state and priority, oldest queued age, recent delivery rate; cheap at any size. */
  stats(options?: AtTime): Promise<OutboxStats>;

  /**
   * Deletes delivered and cancelled jobs finished before `deliveredBefore`, returning their
   * blob names. Their idempotency keys are forgotten with them. Dead letters stay until purged.
   */
  prune(options: OutboxPruneOptions): Promise<RemovedJobs>;

  /** Failed jobs. */
  readonly deadLetters: OutboxDeadLetterStore;

  /** What was sent, to whom, when, with what result. */
  readonly audit: OutboxAuditStore;

  /**
   * Marks a chat unreachable (blocked the bot, deactivated, kicked) with Telegram's reason.
   * Marking it again keeps the first `since` and updates the reason.
   */
  markUnreachable(chatId: ChatId, reason: string, now?: EpochMs): Promise<void>;
  /** Clears the mark (the user wrote again); true when the chat was marked. */
  clearUnreachable(chatId: ChatId): Promise<boolean>;
  /** The mark of a chat, or null when it is reachable. */
  isUnreachable(chatId: ChatId): Promise<UnreachableChat | null>;
  /** Every unreachable chat, longest unreachable first. */
  listUnreachable(): Promise<UnreachableChat[]>;

  /** Records the private chat of a user (seen by the inbound side), for `notify`. */
  rememberUser(userId: number, chatId: ChatId, now?: EpochMs): Promise<void>;
  /**
   * {@link rememberUser} for several users in one transaction (the users a process first saw in
   * one turn of the event loop); a user listed twice ends with the last chat given.
   */
  rememberUsers(users: readonly RememberedUser[], now?: EpochMs): Promise<void>;
  /** The chat last recorded for a user, or null when the bot has not seen them. */
  chatOfUser(userId: number): Promise<ChatId | null>;

  /** A broadcast's counts, or null for an unknown broadcast id. */
  broadcastProgress(broadcastId: string): Promise<BroadcastProgress | null>;
  /** Holds the broadcast's queued jobs (in-flight ones finish); false for an unknown id. */
  pauseBroadcast(broadcastId: string): Promise<boolean>;
  /** Lets a paused broadcast go on; false for an unknown id. */
  resumeBroadcast(broadcastId: string, options?: AtTime): Promise<boolean>;
  /**
   * Blob names referenced by jobs that may still be sent (queued, sending, or failed and so
   * retriable). Everything else in the blob folder is an orphan. Runs once at start: it may
   * scan the jobs table.
   */
  openBlobs(): Promise<string[]>;
  /** Cancels the broadcast's queued jobs (in-flight ones finish); returns them with their blobs. */
  cancelBroadcast(broadcastId: string, options?: AtTime): Promise<RemovedJobs>;
}
