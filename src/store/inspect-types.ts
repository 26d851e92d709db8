/**
 * The operator's reads of a store: what the dashboard and `unlost trace` show beyond the
 * counts — the unfinished updates, the history of handler tries, the outbox's jobs by state,
 * priority, chat or update, and the broadcasts. Read-only (except that the store records the
 * tries, see {@link HandlerAttempt}); none of it is on a hot path.
 *
 * @module
 */
import type { EpochMs, InboxRecord } from "./inbox-types.js";
import type { BroadcastProgress, Job, JobState, Priority } from "../outbound/types.js";
import type { ChatId, Page } from "./outbox-types.js";

/** Handler tries kept per update at most (the oldest go first): a poison update retried without end stays bounded. */
export const MAX_ATTEMPTS_KEPT = 20;

/**
 * A handler try that did not complete its update, as the store recorded it when the try was
 * settled (`retry`, `dead`), recovered from a dead process (`lost`), or moved out of the
 * journal after a failed first try (`retry`, `dead`, no start time known). A completing try is
 * the update's own row: started at its last claim, ended when it was settled done.
 */
export interface HandlerAttempt {
  /** The update. */
  readonly updateId: number;
  /** Which try (the claim count at the time; a retried dead letter counts from 1 again). */
  readonly attempt: number;
  /** The instance that ran it (for a journal move: the journal's owner, since this version); null when not known. */
  readonly owner: string | null;
  /** When it started (claimed); null when not known (a journal move). */
  readonly startedAt: EpochMs | null;
  /** When it ended: settled, moved, or found lost by the claim that recovered it. */
  readonly endedAt: EpochMs;
  /** `retry` (failed, tried again later), `dead` (failed, given up), `lost` (its process died or stopped). */
  readonly outcome: "retry" | "dead" | "lost";
  /** The error (scrubbed of secrets, cut at 4000 characters); for `lost`, what happened. */
  readonly error: string | null;
}

/** Options of {@link InspectStore.updates}. */
export interface UpdateListOptions {
  /** Only updates in this state (default: pending and in flight). */
  readonly state?: "pending" | "inflight" | "done" | "dead" | "open";
  /** Only this chat's updates (its chat key, e.g. `"123"`). */
  readonly chatKey?: string;
  /** At most this many; default 50, at most 1000. */
  readonly limit?: number;
  /** Newest first (default: oldest first). */
  readonly newestFirst?: boolean;
}

/** Options of {@link InspectStore.jobs}. */
export interface JobListOptions {
  /** Only jobs in this state. */
  readonly state?: JobState;
  /** Only jobs of this priority. */
  readonly priority?: Priority;
  /** Only jobs to this chat. */
  readonly chatId?: ChatId;
  /** Only jobs of this broadcast. */
  readonly broadcastId?: string;
  /**
   * Only jobs whose idempotency key starts with this text. A handler's sends are keyed
   * `<bot id>:<update_id>:…`, so `"<bot id>:<update_id>:"` finds the sends of one update.
   */
  readonly keyPrefix?: string;
  /** Page size; default 50, at most 1000. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page. */
  readonly cursor?: string;
  /** Newest first (default: enqueue order). */
  readonly newestFirst?: boolean;
}

/** The operator's reads. Each call is one read transaction. */
export interface InspectStore {
  /** The recorded tries of an update that did not complete it, oldest first (at most {@link MAX_ATTEMPTS_KEPT}). */
  attempts(updateId: number): Promise<HandlerAttempt[]>;
  /** Updates kept as rows, by state and chat, in `update_id` order. Journal entries (the fast path's open batches) are not rows. */
  updates(options?: UpdateListOptions): Promise<InboxRecord[]>;
  /** A page of outbox jobs matching every given filter. */
  jobs(options?: JobListOptions): Promise<Page<Job>>;
  /** The broadcasts that still have jobs in the store, newest first, with their counts (at most `limit`, default 50). */
  broadcasts(options?: { readonly limit?: number }): Promise<BroadcastProgress[]>;
}
