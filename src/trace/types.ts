/**
 * "Why did this user get no reply?" — the timeline of an update or a chat, as the dashboard and
 * `unlost trace` show it: built from what the store keeps (the update's row, its handler tries,
 * the outbox jobs keyed by it and their attempt history), with a verdict in one sentence.
 *
 * @module
 */
import type { EpochMs, UpdateVia } from "../store/index.js";

/** One step of a timeline. */
export interface TraceEvent {
  /** When it happened (ms epoch); null when the store does not know (e.g. the start of a journal try). */
  readonly at: EpochMs | null;
  /** What kind of step: the update's life, a handler try, a send's life. */
  readonly kind: "sent-by-user" | "stored" | "try" | "completed" | "dead-lettered" | "waiting" | "running" | "taken-over" | "send-queued" | "send-attempt" | "send-delivered" | "send-failed" | "send-cancelled";
  /** One line saying what happened, for people. */
  readonly text: string;
  /** True for a step that went wrong (shown in red). */
  readonly bad?: boolean;
  /** How long it took, ms (a handler try). */
  readonly durationMs?: number;
  /** The outbox job the step belongs to. */
  readonly jobId?: string;
}

/** A send an update (or a chat) made: one outbox job. */
export interface TraceSend {
  readonly jobId: string;
  readonly method: string;
  readonly chatId: number | string;
  readonly state: string;
  readonly priority: string;
  readonly attempts: number;
  readonly createdAt: EpochMs;
  readonly deliveredAt: EpochMs | null;
  readonly lastError: string | null;
  readonly idempotencyKey: string | null;
}

/** The timeline of one update. */
export interface UpdateTrace {
  readonly updateId: number;
  /** False when the store has no row of it (see {@link verdict}). */
  readonly found: boolean;
  readonly chatKey: string | null;
  readonly updateType: string | null;
  /**
   * pending, inflight, done, dead; `journal` in an open polling batch (the fast path); `done`
   * too for an update completed on the fast path (see {@link journalBatch}); `gone` for a
   * journal update handed to the rows whose row is gone; null when not found.
   */
  readonly state: string | null;
  /** How it arrived: by long polling or by webhook; null when not found, or stored before unlost recorded it. */
  readonly via: UpdateVia | null;
  /** Arrived by polling: the offset stored with its batch (names the getUpdates answer); else null. */
  readonly pollOffset: number | null;
  /** The journal batch that holds it (the polling fast path), open or kept after closing; else null. */
  readonly journalBatch: number | null;
  /** The update's JSON as stored (users' data: shown only behind the admin token). */
  readonly payload: string | null;
  /** The answer to "why no reply?", in one or two sentences. */
  readonly verdict: string;
  /** True when the verdict is a problem (no reply, or not yet). */
  readonly problem: boolean;
  /** Every step, in time order (steps without a time keep their place). */
  readonly events: TraceEvent[];
  /** The sends the update's handlers made. */
  readonly sends: TraceSend[];
}

/** The timeline of a chat: its recent updates and sends. */
export interface ChatTrace {
  readonly chatId: string;
  /** When the chat was asked for by user id: that user. */
  readonly userId: number | null;
  /** Telegram's reason when the chat is marked unreachable (blocked the bot...), else null. */
  readonly unreachable: { readonly reason: string; readonly since: EpochMs } | null;
  /** The chat's recent updates (newest first), each with its timeline. */
  readonly updates: UpdateTrace[];
  /** The chat's recent sends not made by one of those updates (newest first). */
  readonly otherSends: TraceSend[];
  /** One sentence over the whole chat. */
  readonly verdict: string;
}
