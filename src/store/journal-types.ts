/**
 * The inbox journal: the fast path of long polling. A fetched batch is stored as **one**
 * record (its updates' JSON and the new polling offset, in one transaction, fenced by the
 * poller lease) instead of one row per update; the process that stored it (its *owner*)
 * schedules the batch's updates in memory and records their completions in batches. Only what
 * leaves the common path becomes an ordinary inbox row (see `InboxStore`):
 *
 * - an update whose handler failed (retried later through the rows, or dead-lettered);
 * - every unfinished update of an owner that is gone (crashed, killed, stopped with work left):
 *   `adopt` turns them into pending rows, in `update_id` order, which the row dispatcher then
 *   claims with the usual per-chat order, leases and recovery counting.
 *
 * Why: a row per update costs three row writes and about ten index writes per update; the
 * journal costs one row write per batch and one per completion flush, which is what lets a
 * durable inbox keep up with an in-memory runner.
 *
 * History: a closed batch (every update done or moved) is not deleted at once but marked
 * closed, with its completions (each flush's ids and time), and deleted by `InboxStore.prune`
 * after the retention of done rows, so that {@link InboxJournal.find} (and `unlost trace`) can
 * still tell an update's story. Closing costs one small update instead of three deletes; the
 * price is that the batch's JSON, deleted before a checkpoint until then, is written to the
 * database file once (as an update's row is), and deleted by `prune` later.
 *
 * Per-chat order between the two paths: a chat with unfinished rows (`chat_queue`) is
 * *blocked* for the journal; `append` and `chatsWithRowWork` report such chats, and the owner
 * keeps their journal updates waiting until the rows are done or dead.
 *
 * @module
 */
import type { StoreEffect } from "./effects.js";
import type { EpochMs, UnstorableUpdate } from "./inbox-types.js";
import type { LeaseFence } from "./lease-types.js";
import type { RawUpdate } from "./update-meta.js";

/** Options of {@link InboxJournal.append}. */
export interface JournalAppendOptions {
  /** The instance that stores the batch and will handle its updates. */
  readonly owner: string;
  /** The polling offset to store in the same transaction (highest `update_id` + 1). */
  readonly nextOffset: number;
  /** When given, the append happens only while this lease is held (`CONFLICT` otherwise; nothing written). */
  readonly fence?: LeaseFence;
  /** The arrival time to record; defaults to the store's clock. */
  readonly now?: EpochMs;
  /**
   * `updates` as the JSON array text they were parsed from (getUpdates' `result`, exactly as
   * received): stored as is when every update is kept, which saves serialising the batch
   * again. The caller guarantees that `JSON.parse(json)` equals `updates`.
   */
  readonly json?: string;
  /**
   * The owner's completions gathered since its last write, committed in the same transaction
   * before the batch is stored (as {@link InboxJournal.complete} would, with this `owner` and
   * `now`): with a steady stream of batches, completions cost no transaction of their own.
   * If it is refused (`CONFLICT` with `details.journalTakenOver`), nothing is written.
   */
  readonly completion?: Omit<JournalCompletion, "owner" | "now">;
  /**
   * Fetched updates that cannot be stored as updates, kept as unstorable dead letters in the
   * same transaction (as `IngestOptions.unstorable`). `json`, when given, must then be the
   * text of `updates` alone, or be left out.
   */
  readonly unstorable?: readonly UnstorableUpdate[];
}

/** What {@link InboxJournal.append} did. */
export interface JournalAppendResult {
  /** The batch's number: strictly increasing, never reused. */
  readonly batch: number;
  /** When it was recorded (the `now` used). */
  readonly receivedAt: EpochMs;
  /**
   * The batch's updates, in `update_id` order, minus those already stored as inbox rows (a
   * re-fetch after a crash between storing and confirming); only these are journal entries.
   */
  readonly updates: readonly RawUpdate[];
  /** Chats of this batch that have unfinished inbox rows right now (blocked for the journal). */
  readonly blockedChats: readonly string[];
  /** Present when it was given `unstorable` updates: how many were kept (not known before). */
  readonly unstorable?: number;
}

/** A journal update handed to the rows by {@link InboxJournal.complete}. */
export interface JournalMove {
  /** The batch it belongs to. */
  readonly batch: number;
  /** The update. */
  readonly update: RawUpdate;
  /** When the owner recorded it (its batch's `receivedAt`). */
  readonly receivedAt: EpochMs;
  /** Tries so far (the failed one included). */
  readonly attempts: number;
  /** Retry through the rows at `at` (the chat stays blocked until then), or give up. */
  readonly outcome:
    | { readonly kind: "retry"; readonly at: EpochMs; readonly error: string }
    | { readonly kind: "dead"; readonly error: string; readonly stack?: string | null };
}

/** One completion flush of an owner (see {@link InboxJournal.complete}). */
export interface JournalCompletion {
  /** The owner recording it. */
  readonly owner: string;
  /** Updates handled: `update_id`s with their batch. */
  readonly done: ReadonlyArray<{ readonly batch: number; readonly updateId: number }>;
  /** Updates that leave the journal for the rows (handler failed). */
  readonly moved?: readonly JournalMove[];
  /** Writes committed with these completions (the handlers' effects). */
  readonly effects?: readonly StoreEffect[];
  /** Batches of which every update is now done or moved: they are closed (kept for the trace until pruned). */
  readonly closed?: readonly number[];
  /** The completion time; defaults to the store's clock. */
  readonly now?: EpochMs;
}

/** Counts of the journal, folded into `InboxStats` by the backend. */
export interface JournalStats {
  /** Batches not yet closed. */
  readonly openBatches: number;
  /** Journal updates not yet done or moved. */
  readonly open: number;
  /** When the oldest open batch was recorded; null when none. */
  readonly oldestOpenReceivedAt: EpochMs | null;
}

/** Options of {@link InboxJournal.openUpdates}. */
export interface JournalOpenOptions {
  /** Only updates of batches recorded at or before this time (ms epoch). */
  readonly receivedBefore: EpochMs;
  /** At most this many, in `update_id` order; default 100, at most 1000. */
  readonly limit?: number;
}

/** A journal update not yet done or moved. */
export interface JournalOpenUpdate {
  /** Telegram's `update_id`. */
  readonly updateId: number;
  /** Its chat's queue. */
  readonly chatKey: string;
  /** The payload field name, e.g. `message`. */
  readonly updateType: string;
  /** When its batch was recorded (ms epoch). */
  readonly receivedAt: EpochMs;
  /** The instance whose journal holds it (and runs it). */
  readonly owner: string;
}

/**
 * Where an update stands in the journal (see {@link InboxJournal.find}):
 * - `open`: its batch is open and it is neither done nor moved (running, or waiting);
 * - `done`: completed on the fast path (at `completedAt`);
 * - `moved`: its try failed and it was handed to the inbox rows (its row tells the rest);
 * - `adopted`: its owner was gone and it was handed to the rows unfinished (at `closedAt`).
 */
export type JournalUpdateState = "open" | "done" | "moved" | "adopted";

/** An update as the journal keeps it: its batch, and what became of it. */
export interface JournalUpdateRecord {
  /** Telegram's `update_id`. */
  readonly updateId: number;
  /** Its batch. */
  readonly batch: number;
  /** The instance that stored the batch and handled (or handles) its updates. */
  readonly owner: string;
  /** When the batch was stored (ms epoch). */
  readonly receivedAt: EpochMs;
  /** The polling offset stored with the batch; null for batches stored before unlost recorded it. */
  readonly nextOffset: number | null;
  /** See {@link JournalUpdateState}. */
  readonly state: JournalUpdateState;
  /**
   * `done`: when its completion was recorded (the flush's time: handler end plus at most one
   * flush interval); `moved`: when it was handed to the rows. Null otherwise, or when recorded
   * before unlost kept the time.
   */
  readonly completedAt: EpochMs | null;
  /** When its batch was closed (every update done or moved) or adopted; null while open. */
  readonly closedAt: EpochMs | null;
  /** The update's JSON as stored in its batch. */
  readonly raw: string;
  /** Its chat's queue. */
  readonly chatKey: string;
  /** The payload field name, e.g. `message`. */
  readonly updateType: string;
  /** When the user acted (ms epoch), when the update says. */
  readonly messageDate: EpochMs | null;
}

/** The journal operations. Each call is one atomic transaction. */
export interface InboxJournal {
  /**
   * Stores a fetched batch as one journal record owned by `owner`, and the offset, in one
   * transaction. An empty batch after filtering still stores the offset (and no record:
   * `batch` is then 0).
   *
   * @throws UnlostError `INVALID_ARGUMENT` for an update without a valid `update_id`;
   * `CONFLICT` when `fence` no longer holds.
   */
  append(updates: readonly RawUpdate[], options: JournalAppendOptions): Promise<JournalAppendResult>;

  /**
   * Records a flush of completions: `done` ids, `moved` updates inserted as inbox rows
   * (pending at `outcome.at` with `attempts` and `last_error`, or dead with the stack), the
   * effects, and closes the `closed` batches — all in one transaction. A closed batch is kept
   * (for {@link find}) until `InboxStore.prune` deletes it after the retention.
   *
   * Fenced by ownership: if any referenced batch is no longer open and owned by `owner` (it was adopted
   * because the owner was thought gone), nothing is written and it throws `CONFLICT`; the
   * caller must drop its in-memory copy of the journal (the rows now hold those updates).
   */
  complete(completion: JournalCompletion): Promise<void>;

  /**
   * Turns every unfinished update of `owner`'s batches (not done, not moved) into a pending
   * inbox row (ignored when the row exists), keeping each chat's `update_id` order, and closes
   * the owner's open batches (kept for {@link find} until pruned). For owners that are gone.
   * Returns how many rows it created.
   */
  adopt(owner: string, options?: { readonly now?: EpochMs }): Promise<number>;

  /**
   * The journal's record of `updateId` — in an open batch, or in a closed one not yet pruned —
   * or null when no batch holds it. Read-only; for `unlost trace`. A few index seeks and the
   * parse of one batch.
   */
  find(updateId: number): Promise<JournalUpdateRecord | null>;

  /** Owners that have open batches (distinct, any order; closed batches do not count). */
  owners(): Promise<string[]>;

  /** Which of `chatKeys` have unfinished inbox rows now (blocked for the journal). */
  chatsWithRowWork(chatKeys: readonly string[]): Promise<string[]>;

  /** Counts of open journal entries. */
  stats(): Promise<JournalStats>;

  /**
   * The journal updates not yet done or moved of batches recorded at or before
   * `receivedBefore`, in `update_id` order, at most `limit`: each is running, waiting for its
   * chat's earlier update, or waiting for its owner to record its completion. The journal does
   * not record when a handler started (its owner schedules in memory), so the age it gives is
   * the batch's. Read-only; for `unlost status`.
   */
  openUpdates(options: JournalOpenOptions): Promise<JournalOpenUpdate[]>;
}
