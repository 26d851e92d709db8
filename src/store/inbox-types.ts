/**
 * The durable inbox: every fetched or received update, from arrival to completion.
 *
 * Life of an update: `ingest` stores it **pending**; `claim` hands the head of its chat's queue
 * to one worker (**inflight**, with a lease); `settle` makes it **done**, puts it back
 * **pending** for a later retry, or makes it a **dead** letter. A lease that runs out (the
 * worker crashed) makes the item claimable again; that is a *recovery*.
 *
 * Evidence of a poison update: a recovery says only that the update was in flight when its
 * process died, which is true of every update running at an unrelated kill. So a worker can
 * mark a claim *isolated* ({@link InboxStore.isolate}): its handler runs with nothing else of
 * its process running (alone, or in a small group of suspects). A recovery from a claim that
 * ran alone is evidence that the update killed its process and is counted in
 * `isolatedDeaths`; the claim that recovers an update says how the lost claim ran
 * (`recoveredIsolation`), so the worker can isolate it further.
 *
 * Ordering: each chat (see `deriveChatKey`) is a FIFO in `update_id` order with at most one
 * item in flight. Only the chat's head can be claimed; a head waiting for its retry time, or in
 * flight, blocks the chat's later updates until it is done or dead.
 *
 * @module
 */
import type { StoreEffect } from "./effects.js";
import type { InboxJournal } from "./journal-types.js";
import type { LeaseFence } from "./lease-types.js";
import type { RawUpdate } from "./update-meta.js";

/** A point in time, in milliseconds since the Unix epoch. */
export type EpochMs = number;

/** Where an update is in its life. */
export type InboxState = "pending" | "inflight" | "done" | "dead";

/**
 * How an update reached the store: `poll` (fetched by long polling: an ingest with
 * `nextOffset`, or a journal batch) or `webhook` (an ingest without `nextOffset`: the webhook
 * receiver and the `webhookCallback` adapters).
 */
export type UpdateVia = "poll" | "webhook";

/** Options of {@link InboxStore.ingest}. */
export interface IngestOptions {
  /**
   * The long-polling offset to store in the same transaction: the `offset` the next
   * getUpdates will send (highest fetched `update_id` + 1). Omit it for webhook deliveries.
   * It also says how the updates arrived (kept per update, see {@link InboxRecord.via}): with
   * it, by polling (in the batch of this offset); without, by webhook.
   */
  readonly nextOffset?: number;
  /**
   * When given, the ingest happens only while this lease is still held (same owner and epoch,
   * not taken over), so a poller that lost the poller lease cannot write its stale offset.
   * Rejected with `CONFLICT` otherwise, and nothing is written.
   */
  readonly fence?: LeaseFence;
  /** The arrival time to record; defaults to the store's clock. */
  readonly now?: EpochMs;
  /**
   * Also claim, in the same transaction and after storing the updates, exactly what
   * `claim({ ...claim, now })` would claim right after this ingest: up to `limit` ready chat
   * heads, oldest first, the new updates included. Lets a poller hand fetched updates to its
   * worker without a claim transaction (and, for updates of this batch, without reading them
   * back: their `update` is the object given here). Rejected ingests claim nothing.
   */
  readonly claim?: FusedClaimOptions;
  /**
   * Received updates that cannot be stored as updates (no valid `update_id`): each is kept, in
   * the same transaction, as an *unstorable* dead letter with its text and error (see
   * {@link UnstorableUpdate}), so that the offset stored with the batch can move past it
   * without losing it. Text already kept as an unstorable dead letter is not kept twice (a
   * batch fetched again, a webhook body sent again).
   */
  readonly unstorable?: readonly UnstorableUpdate[];
}

/**
 * An update received but not storable as one: no valid `update_id` (not a JSON object, or its
 * `update_id` missing, negative, fractional, a string...). Telegram never sends one; a proxy, a
 * local Bot API server's bug or a cut body can. Kept as a dead letter whose `updateId` is
 * negative (its own, allocated by the store: -1, -2, ...), `chatKey` and `updateType`
 * `"unstorable"`, and whose `update` is `{ update_id: <that id>, unstorable: <the text> }`.
 * Such dead letters can be listed, shown and purged, not retried (there is nothing a handler
 * could be given).
 */
export interface UnstorableUpdate {
  /**
   * Its text as received (its JSON, or the body). Stored scrubbed of secrets like other text
   * unlost writes (it is not an update that must come back byte for byte) and cut at 64 KiB.
   */
  readonly raw: string;
  /** Why it cannot be stored, e.g. `update has no valid update_id: it has none (...)`. */
  readonly error: string;
}

/** The `chatKey` and `updateType` of unstorable dead letters (see {@link UnstorableUpdate}). */
export const UNSTORABLE = "unstorable";

/** A claim made in the transaction of an ingest or a settle: {@link ClaimOptions} without `now`. */
export interface FusedClaimOptions {
  /** Who claims. */
  readonly owner: string;
  /** At most this many items (0 claims nothing), each from a different chat. */
  readonly limit: number;
  /** How long the claims stay valid without `extendLease`, in ms. */
  readonly leaseMs: number;
}

/** What {@link InboxStore.ingest} did. */
export interface IngestResult {
  /** Updates stored for the first time. */
  readonly inserted: number;
  /** Updates whose `update_id` was already stored (re-sent or re-fetched), ignored. */
  readonly duplicates: number;
  /** Present when the ingest was asked to `claim`: what it claimed, oldest first. */
  readonly claimed?: ClaimedUpdate[];
  /** Present when it was given `unstorable` updates: how many were kept (not known before). */
  readonly unstorable?: number;
}

/** Options of {@link InboxStore.settleAndClaim}. */
export interface SettleAndClaimOptions {
  /** The settle (and claim) time; defaults to the store's clock. */
  readonly now?: EpochMs;
  /** What to claim after the settles, in the same transaction. */
  readonly claim: FusedClaimOptions;
}

/** What {@link InboxStore.settleAndClaim} did. */
export interface SettleAndClaimResult {
  /** One result per request, in order (as `settleMany`). */
  readonly results: SettleResult[];
  /** What was claimed after the settles, oldest first (as `claim`). */
  readonly claimed: ClaimedUpdate[];
}

/** Options of {@link InboxStore.claim}. */
export interface ClaimOptions {
  /** Who claims: a stable id of the worker process (logged, and checked on settle). */
  readonly owner: string;
  /** At most this many items, each from a different chat. */
  readonly limit: number;
  /** How long the claim stays valid without `extendLease`, in ms. */
  readonly leaseMs: number;
  /** The claim time; defaults to the store's clock. */
  readonly now?: EpochMs;
}

/**
 * Proof of a claim, needed to settle or extend it. `token` increases on every claim of the
 * item, so the holder of an older claim (whose lease expired and was re-claimed) is refused.
 */
export interface Claim {
  /** The claimed update. */
  readonly updateId: number;
  /** The owner that claimed it. */
  readonly owner: string;
  /** Fencing token of this claim (per item, strictly increasing). */
  readonly token: number;
  /** When the lease runs out unless extended (ms epoch). */
  readonly leaseUntil: EpochMs;
}

/** An update as stored, with the facts derived at ingest. */
export interface InboxUpdate {
  /** Telegram's `update_id`. */
  readonly updateId: number;
  /** The queue it belongs to (see `deriveChatKey`). */
  readonly chatKey: string;
  /** The payload field name, e.g. `message`. */
  readonly updateType: string;
  /** When the user acted (ms epoch), when the update says. */
  readonly messageDate: EpochMs | null;
  /** When unlost stored it (ms epoch). */
  readonly receivedAt: EpochMs;
  /** The update's JSON exactly as stored. */
  readonly raw: string;
  /** The update, parsed from `raw`. */
  readonly update: RawUpdate;
}

/** A claimed update handed to a worker. */
export interface ClaimedUpdate extends InboxUpdate {
  /** The claim to settle. */
  readonly claim: Claim;
  /** How many times the update has been claimed, this claim included (1 on first delivery). */
  readonly attempt: number;
  /** How many times a claim of it ran out and it was taken back (its worker died). */
  readonly recoveries: number;
  /** True when this claim recovered it from an expired lease. */
  readonly recovered: boolean;
  /**
   * When `recovered`: how the claim it was recovered from ran (see {@link InboxStore.isolate}):
   * 0 not isolated (among other handlers of its process, or never started), k ≥ 1 isolated in a
   * group of k (1: alone). Null when this claim is not a recovery.
   */
  readonly recoveredIsolation: number | null;
  /**
   * How many times it was recovered from a claim that ran alone: its process died while
   * nothing else of it ran, which is evidence that the update kills it. This recovery included.
   */
  readonly isolatedDeaths: number;
  /** The error of the previous attempt, when it was retried. */
  readonly lastError: string | null;
}

/** The full stored record of an update, for inspection. */
export interface InboxRecord extends InboxUpdate {
  /** Where it is in its life. */
  readonly state: InboxState;
  /** Times claimed so far. */
  readonly attempts: number;
  /** Times recovered from an expired lease. */
  readonly recoveries: number;
  /** Times recovered from a claim that ran alone (see {@link ClaimedUpdate.isolatedDeaths}). */
  readonly isolatedDeaths: number;
  /** When a pending item may be claimed (ms epoch). */
  readonly dueAt: EpochMs;
  /** The current or last claim's owner. */
  readonly leaseOwner: string | null;
  /** When the current claim runs out (in flight only). */
  readonly leaseUntil: EpochMs | null;
  /** The last error message recorded by a retry or dead outcome. */
  readonly lastError: string | null;
  /** The stack recorded with a dead outcome. */
  readonly lastStack: string | null;
  /** When it became done or dead (ms epoch). */
  readonly settledAt: EpochMs | null;
  /** When its current or last claim was taken: the start of its last try (ms epoch); null when never claimed. */
  readonly claimedAt: EpochMs | null;
  /** How it arrived; null for rows stored before unlost recorded it (unknown). */
  readonly via: UpdateVia | null;
  /**
   * When it arrived by polling: the offset stored with its batch (the batch's highest
   * `update_id` + 1), which names the getUpdates answer it came in; null otherwise.
   */
  readonly pollOffset: number | null;
}

/** How a claim ends. */
export type SettleOutcome =
  /** Handled: the update is complete and its chat moves on. */
  | { readonly kind: "done" }
  /** Failed; try again at `at`. The item stays its chat's head, blocking later updates. */
  | { readonly kind: "retry"; readonly at: EpochMs; readonly error: string }
  /** Gave up: the update becomes a dead letter (kept until purged) and its chat moves on. */
  | { readonly kind: "dead"; readonly error: string; readonly stack?: string | null }
  /**
   * Not started (e.g. claimed ahead, then shutting down): back to pending, due as before, and
   * this claim does not count as an attempt.
   */
  | { readonly kind: "release" };

/** One settle of a batch. */
export interface SettleRequest {
  /** The claim being settled. */
  readonly claim: Claim;
  /** How it ended. */
  readonly outcome: SettleOutcome;
  /** Writes to make in the same transaction, only if the settle is accepted. */
  readonly effects?: readonly StoreEffect[];
}

/**
 * The result of a settle: `settled`, or `stale` when the claim is no longer the item's current
 * claim (its lease ran out and someone else claimed it, or it was already settled). A stale
 * settle changes nothing and applies none of its effects, which is what makes completion
 * happen exactly once.
 */
export type SettleResult = "settled" | "stale";

/** Counts of the inbox, for logs and health checks. */
export interface InboxStats {
  /** Updates waiting to be claimed (including those waiting for a retry time). */
  readonly pending: number;
  /** Updates claimed and not yet settled (including expired claims not yet recovered). */
  readonly inflight: number;
  /** Completed updates not yet pruned. */
  readonly done: number;
  /** Dead letters. */
  readonly dead: number;
  /** Chats with at least one unfinished update. */
  readonly chatsWithWork: number;
  /** When the oldest unfinished (pending or in flight) update was stored; null when none. */
  readonly oldestOpenReceivedAt: EpochMs | null;
  /** How long ago that was, relative to the `now` asked about (0 when none). */
  readonly oldestOpenAgeMs: number;
}

/** Options of {@link InboxStore.running}. */
export interface RunningOptions {
  /** Only claims taken at or before this time (ms epoch). */
  readonly claimedBefore: EpochMs;
  /** At most this many, oldest claim first; default 100, at most 1000. */
  readonly limit?: number;
}

/** An update in flight and how long its current try has been running. */
export interface RunningUpdate {
  /** Telegram's `update_id`. */
  readonly updateId: number;
  /** Its chat's queue. */
  readonly chatKey: string;
  /** The payload field name, e.g. `message`. */
  readonly updateType: string;
  /** When unlost stored it (ms epoch). */
  readonly receivedAt: EpochMs;
  /** When its current claim was taken: when this try started (ms epoch). */
  readonly claimedAt: EpochMs;
  /** Who holds the claim (the instance running the handler). */
  readonly owner: string;
  /** The try running (claims so far, this one included). */
  readonly attempt: number;
  /** When the claim runs out unless renewed (ms epoch); past means its worker is likely gone. */
  readonly leaseUntil: EpochMs;
}

/** Options of {@link InboxStore.prune}. */
export interface PruneOptions {
  /** Done updates settled before this time are deleted, and journal batches closed before it. */
  readonly handledBefore: EpochMs;
  /**
   * Delete at most this many done rows per call (keeps each transaction short), and at most this
   * many closed journal batches (in transactions of 50); default 10,000.
   */
  readonly limit?: number;
}

/** The inbox operations. Each call is one atomic transaction. */
export interface InboxStore {
  /**
   * Stores updates idempotently on `update_id` and, in the same transaction, the polling offset
   * (so a crash can never confirm an update to Telegram that is not stored). With
   * `options.claim`, also claims the next work in the same transaction (see
   * {@link IngestOptions.claim}).
   *
   * @throws UnlostError `INVALID_ARGUMENT` for an update without a valid `update_id`;
   * `CONFLICT` when `fence` no longer holds.
   */
  ingest(updates: readonly RawUpdate[], options?: IngestOptions): Promise<IngestResult>;

  /**
   * Claims up to `limit` items, oldest first, at most one per chat and only from chats with
   * nothing in flight: each chat's head when it is due, or when its previous claim's lease ran
   * out (recovery). Each claim counts as an attempt.
   */
  claim(options: ClaimOptions): Promise<ClaimedUpdate[]>;

  /**
   * Ends a claim. Accepted only from the item's current claim (same owner and token, still in
   * flight), even if its lease time has passed as long as nobody re-claimed it meanwhile.
   */
  settle(
    claim: Claim,
    outcome: SettleOutcome,
    options?: { readonly effects?: readonly StoreEffect[]; readonly now?: EpochMs },
  ): Promise<SettleResult>;

  /**
   * Several settles in one transaction (one commit for a whole batch of completions). Each
   * request is accepted or found stale on its own; results are in the order of `requests`.
   */
  settleMany(requests: readonly SettleRequest[], options?: { readonly now?: EpochMs }): Promise<SettleResult[]>;

  /**
   * `settleMany`, then `claim` in the same transaction: exactly what the two calls in a row
   * would do with the same `now` (the claim sees the settles, so a chat whose head was just
   * completed offers its next update, competing with every other ready head, oldest first).
   * One transaction for "this batch is complete, give me the next work". `claim.limit` 0
   * claims nothing.
   */
  settleAndClaim(requests: readonly SettleRequest[], options: SettleAndClaimOptions): Promise<SettleAndClaimResult>;

  /**
   * Extends a claim's lease to `now + leaseMs`. Returns the renewed claim (same token), or null
   * when the claim is stale.
   */
  extendLease(claim: Claim, leaseMs: number, options?: { readonly now?: EpochMs }): Promise<Claim | null>;

  /**
   * Marks claims as running *isolated*, together: their handlers are about to run with nothing
   * else of their process running (`claims.length` 1: alone). The group's size is kept with each
   * claim until it is settled or recovered; a recovery reports it (`recoveredIsolation`) and, for
   * a group of 1, counts it in `isolatedDeaths`. Only the current claim of an item (in flight,
   * same owner and token) can be marked; the result says, per claim in order, whether it was.
   * Meant for the rare runs after a crash: an ordinary claim needs no call.
   */
  isolate(claims: readonly Claim[]): Promise<boolean[]>;

  /**
   * Makes in-flight claims (of `owner`, or all when omitted) expire now, so the next `claim`
   * recovers them at once instead of waiting for their leases. For a process that knows the
   * previous holder is gone, e.g. on start while holding the single-runtime lease.
   * Returns how many claims were expired.
   */
  expireClaims(options?: { readonly owner?: string; readonly now?: EpochMs }): Promise<number>;

  /**
   * The owners that hold in-flight claims right now (distinct, any order). The runtime checks
   * each against its liveness lease and expires the claims of owners that are gone.
   */
  inflightOwners(): Promise<string[]>;

  /**
   * The updates in flight whose current claim was taken at or before `claimedBefore`, oldest
   * claim first, at most `limit`: handlers running at least that long (or claims of a worker
   * that died, until they are recovered). Read-only; for `unlost status`.
   */
  running(options: RunningOptions): Promise<RunningUpdate[]>;

  /** The stored record of one update, or null. */
  get(updateId: number): Promise<InboxRecord | null>;

  /** Counts by state and the age of the oldest unfinished update. */
  stats(options?: { readonly now?: EpochMs }): Promise<InboxStats>;

  /**
   * Deletes done updates settled before `handledBefore`, and the journal's batches closed
   * before it (kept for the trace); returns how many updates were deleted. Once
   * pruned, an update's `update_id` is forgotten, so keep the retention longer than Telegram
   * could deliver the same update again (webhook re-sends stop within a day; long polling never
   * re-sends a confirmed update). Dead letters are kept until purged.
   */
  prune(options: PruneOptions): Promise<number>;

  /** The dead letters. */
  readonly deadLetters: DeadLetterStore;

  /**
   * The journal (the fast path of long polling: one record per fetched batch), when the
   * backend has one. Its open entries count in `stats` (as pending) and its completions as
   * done until pruned.
   */
  readonly journal?: InboxJournal;
}

/**
 * A dead letter: an update given up on, with the error that killed it. An `updateId` below 0
 * is an unstorable update (see {@link UnstorableUpdate}): its text is `update.unstorable`.
 */
export interface DeadLetter extends InboxUpdate {
  /** Times it was claimed. */
  readonly attempts: number;
  /** Times it was recovered from an expired lease. */
  readonly recoveries: number;
  /** Times it was recovered from a claim that ran alone (see {@link ClaimedUpdate.isolatedDeaths}). */
  readonly isolatedDeaths: number;
  /** The error message. */
  readonly error: string;
  /** The stack, when one was recorded. */
  readonly stack: string | null;
  /** When it became a dead letter (ms epoch). */
  readonly diedAt: EpochMs;
}

/** Narrows a dead-letter listing. All given fields must match. */
export interface DeadLetterFilter {
  /** Only this chat. */
  readonly chatKey?: string;
  /** Only this update type. */
  readonly updateType?: string;
  /** Only errors containing this text (case-sensitive substring). */
  readonly errorContains?: string;
}

/** Options of {@link DeadLetterStore.list}. */
export interface DeadLetterListOptions extends DeadLetterFilter {
  /** Page size; default 50, at most 1000. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** One page of dead letters, in `update_id` order. */
export interface DeadLetterPage {
  /** The dead letters of this page. */
  readonly items: DeadLetter[];
  /** Pass as `cursor` for the next page; null on the last page. */
  readonly nextCursor: string | null;
}

/**
 * Which dead letters an operation applies to: one update, all of them (explicitly), or those
 * matching a non-empty filter.
 */
export type DeadLetterSelector =
  | { readonly updateId: number }
  | { readonly all: true }
  | { readonly filter: DeadLetterFilter };

/** Dead-letter operations. Each call is one atomic transaction. */
export interface DeadLetterStore {
  /** A page of dead letters matching the filter. */
  list(options?: DeadLetterListOptions): Promise<DeadLetterPage>;
  /** One dead letter (a negative id: an unstorable one), or null when that update is not (or no longer) dead. */
  get(updateId: number): Promise<DeadLetter | null>;
  /**
   * Puts the selected dead letters back in their chats' queues, due at once, with their attempt
   * count and `isolatedDeaths` reset; each goes before its chat's later pending updates.
   * Returns how many.
   * Unstorable dead letters (negative ids) are never retried: there is no update to handle.
   */
  retry(selector: DeadLetterSelector, options?: { readonly now?: EpochMs }): Promise<number>;
  /** Deletes the selected dead letters for good. Returns how many. */
  purge(selector: DeadLetterSelector): Promise<number>;
}
