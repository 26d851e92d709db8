/**
 * Shared rate slots: the flood limits of one bot kept in the store, so that every process
 * sending for the bot takes its slots from the same buckets (together they stay within
 * Telegram's 30/s, ~1/s per chat, 20/min per group) and a 429's `retry_after` seen by one
 * process holds back all of them.
 *
 * Only a store several processes share implements it (PostgreSQL). A SQLite store is one
 * process's, whose pacer keeps its buckets in memory (src/outbound/pacing.ts) at no cost.
 *
 * The buckets are GCRA (a token bucket kept as one "theoretical arrival time" per key) and a
 * sliding window of send times per group: the same limits as the in-memory pacer.
 *
 * @module
 */
import type { EpochMs } from "./inbox-types.js";

/** One send asking for a slot. */
export interface SlotRequest {
  /** The chat's key (normalised: `42`, `-100…`, `@name` lowercased). */
  readonly chatKey: string;
  /** A group, supergroup or channel: the per-group window applies on top of the per-chat bucket. */
  readonly group: boolean;
  /** The send sets `allow_paid_broadcast`: the paid bucket applies instead of the free one. */
  readonly paid: boolean;
}

/**
 * The limits in GCRA terms: a bucket of rate r and burst b is an emission interval 1000/r ms
 * and a tolerance (b − 1) × interval ms.
 */
export interface SlotLimits {
  /** All sends without `allow_paid_broadcast`. */
  readonly free: { readonly intervalMs: number; readonly toleranceMs: number };
  /** Sends with `allow_paid_broadcast`, and the ceiling of all sends together. */
  readonly paid: { readonly intervalMs: number; readonly toleranceMs: number };
  /** Each chat. */
  readonly chat: { readonly intervalMs: number; readonly toleranceMs: number };
  /** Each group: at most `limit` sends in any `windowMs`. */
  readonly group: { readonly limit: number; readonly windowMs: number };
}

/** The answer for one {@link SlotRequest}. */
export type SlotAnswer =
  /** A slot is the caller's: send at `at` (≥ now, ≤ now + horizon). */
  | { readonly at: EpochMs }
  /** No slot within the horizon: ask again in `waitMs` (nothing was taken). */
  | { readonly waitMs: number };

/** What {@link PacingStore.reserve} answers. */
export interface SlotGrant {
  /** One answer per request, in order. */
  readonly slots: readonly SlotAnswer[];
  /**
   * The earliest time a further free send could get a slot, as the shared buckets stand
   * after this reservation (the bot's penalty included): how long a sender with nothing
   * granted may sleep.
   */
  readonly botReadyAt: EpochMs;
}

/** Options of {@link PacingStore.reserve}. */
export interface ReserveSlotsOptions {
  /** The limits (every process of a bot passes the same). */
  readonly limits: SlotLimits;
  /** Slots are granted up to this far ahead (ms); later ones are refused. */
  readonly horizonMs: number;
  /** The current time (ms epoch); default the store's clock. */
  readonly now?: EpochMs;
  /** Also forget chats idle since before `now` (call it now and then: it keeps the table small). */
  readonly prune?: boolean;
}

/** The bot's shared rate slots. Each call is one statement (one round trip), atomic. */
export interface PacingStore {
  /**
   * Takes slots for several sends at once, in order: each is granted at the earliest time
   * every bucket it needs allows (all of them then count it), or refused when that is
   * beyond the horizon (none of them counts it).
   */
  reserve(requests: readonly SlotRequest[], options: ReserveSlotsOptions): Promise<SlotGrant>;
  /**
   * Records a 429's `retry_after`: no slot for the chat (or, for `null`, for any send) before
   * `until`. Never shortens a penalty already recorded.
   */
  penalize(chatKey: string | null, until: EpochMs): Promise<void>;
}
